"""Reading and checking RunningHub requests; a refusal becomes an HTTP 200 error envelope."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from aiohttp import BodyPartReader, web

from rendergate_emulators.media import UploadStore
from rendergate_emulators.runninghub_model import MAX_SCALE, AppNodes

FILE_TYPES = ("image", "video", "audio", "input")
MAX_FIELD_BYTES = 4096


class HubRefusal(Exception):
    """An answer with a non-zero code; `detail` is appended to the code's name in `msg`."""

    def __init__(self, code: int, detail: str | None = None, data: Any = None) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail
        self.data = data


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise HubRefusal(301, "the body must be a JSON object")
    return body


@dataclass
class UploadForm:
    fields: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None
    extension: str = "png"


async def read_upload(request: web.Request, max_bytes: int) -> UploadForm:
    """The multipart form, streamed so that a file over `max_bytes` is refused (809) early."""
    if not request.content_type.startswith("multipart/"):
        raise HubRefusal(301, "upload must be multipart/form-data")
    form = UploadForm()
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file":
            form.data = await _read_capped(part, max_bytes)
            if form.data is None:
                raise HubRefusal(809)
            suffix = PurePosixPath(part.filename or "").suffix.lower().lstrip(".")
            form.extension = suffix if suffix.isalnum() and len(suffix) <= 8 else "png"
        elif part.name:
            value = await _read_capped(part, MAX_FIELD_BYTES)
            if value is None:
                raise HubRefusal(301, f"field {part.name} is too long")
            form.fields[part.name] = value.decode(errors="replace")
    return form


async def _read_capped(part: BodyPartReader, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def graph_spec(graph: Any, stored: AppNodes) -> AppNodes:
    """The spec of a `workflow` sent with /create; an unreadable graph fails validation."""
    if not isinstance(graph, str):
        raise HubRefusal(301, "workflow must be the API-format JSON as a string")
    try:
        parsed = json.loads(graph)
        if not isinstance(parsed, dict):
            raise ValueError("not an object")
        return AppNodes.from_graph(parsed, stored.output_node)
    except ValueError as exc:
        raise HubRefusal(433, f"workflow is not an API-format graph ({exc})") from None


@dataclass(frozen=True)
class NodeValues:
    """What the results are made from: the first uploaded image, enlarged by `scale`."""

    image: str | None = None
    scale: float = 1.0


def check_nodes(spec: AppNodes, nodes: list[Any], uploads: UploadStore) -> NodeValues:
    """Refuses unknown nodes (803), images never uploaded (433, like ComfyUI's
    custom_validation_failed) and scales out of range (433)."""
    values = NodeValues()
    for item in nodes:
        if not isinstance(item, dict):
            raise HubRefusal(803, "each nodeInfoList item must be an object")
        node_id, field_name, value = (item.get(k) for k in ("nodeId", "fieldName", "fieldValue"))
        if isinstance(node_id, bool) or not isinstance(node_id, str | int):
            raise HubRefusal(803, "each nodeInfoList item needs a nodeId")
        node_id = str(node_id)
        kind = spec.kind(node_id, field_name) if isinstance(field_name, str) else None
        if kind is None:
            raise HubRefusal(803, f"node {node_id} has no field {field_name!r}")
        if kind == "scale":
            values = replace(values, scale=_scale(node_id, field_name, value))
        if kind != "image" or (
            isinstance(value, str) and value.startswith(("http://", "https://"))
        ):
            continue
        if isinstance(value, str) and uploads.get(value) is not None:
            values = replace(values, image=values.image or value)
            continue
        tips = _invalid_image_tips(node_id, str(value), spec.output_node)
        raise HubRefusal(433, f"node {node_id}: {value!r} was never uploaded", {"promptTips": tips})
    return values


def _scale(node_id: str, field_name: Any, value: Any) -> float:
    """A factor as ComfyUI takes one: a number (or its text, which RunningHub converts)."""
    try:
        scale = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        scale = None
    if scale is None or not 1.0 <= scale <= MAX_SCALE:
        detail = f"node {node_id}: {field_name} must be a number from 1 to {MAX_SCALE:g}"
        raise HubRefusal(433, f"{detail}, not {value!r}")
    return scale


def _invalid_image_tips(node_id: str, value: str, output_node: str) -> str:
    """promptTips as ComfyUI words a LoadImage whose file is missing."""
    error = {
        "type": "custom_validation_failed",
        "message": "Custom validation failed for node",
        "details": f"image - Invalid image file: {value}",
        "extra_info": {},
    }
    tips = {
        "result": False,
        "error": {
            "type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation",
            "details": "",
            "extra_info": {},
        },
        "outputs_to_execute": [],
        "node_errors": {
            node_id: {
                "errors": [error],
                "dependent_outputs": [output_node],
                "class_type": "LoadImage",
            }
        },
    }
    return json.dumps(tips)
