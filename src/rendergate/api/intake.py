"""Reads POST /tasks bodies (multipart or JSON) into a NewTask, within the size limits."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from rendergate.api.schemas import TaskCreateJson
from rendergate.domain.errors import InputTooLarge, InvalidInput, UnsupportedInput, megabytes
from rendergate.services.context import Services
from rendergate.services.tasks import NewTask, Upload

FORM_FIELDS = {"image", "reference", "type", "angle", "params"}
DATA_URI = re.compile(r"^data:[\w/+.-]*(;[\w=.-]+)*;base64,", re.IGNORECASE)


async def read_new_task(request: Request, services: Services) -> NewTask:
    limit = services.settings.max_upload_bytes
    body_limit = 2 * (limit * 4 // 3) + 1024 * 1024  # two base64 images and the rest
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > body_limit:
        raise InputTooLarge(
            f"request body is {megabytes(int(declared))}; the limit is {megabytes(body_limit)}"
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        return await _from_form(request, limit)
    if content_type == "application/json":
        return await _from_json(await _read_capped(request, body_limit), services)
    raise UnsupportedInput(
        f"content type {content_type or 'missing'!r} is not accepted; "
        "send multipart/form-data or application/json"
    )


async def _read_capped(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InputTooLarge(f"request body is over the {megabytes(limit)} limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def _from_form(request: Request, limit: int) -> NewTask:
    try:
        form = await request.form(max_files=2, max_fields=8, max_part_size=1024 * 1024)
    except Exception as exc:  # starlette raises several kinds for malformed multipart bodies
        raise InvalidInput(f"malformed multipart body: {exc}") from None
    unknown = sorted(set(form.keys()) - FORM_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown form field(s): {', '.join(unknown)}", field=unknown[0])
    uploads: list[Upload] = []
    for role in ("image", "reference"):
        value = form.get(role)
        if value is None or value == "":
            continue
        if not isinstance(value, UploadFile):
            raise InvalidInput(f"{role} must be a file upload", field=role)
        if value.size is not None and value.size > limit:
            raise InputTooLarge(
                f"{role} is {megabytes(value.size)}; the limit is {megabytes(limit)}"
            )
        data = await value.read(limit + 1)
        uploads.append(Upload(role=role, data=data, content_type=value.content_type))
    fields = {k: form.get(k) for k in ("type", "angle", "params") if form.get(k) is not None}
    for name, value in fields.items():
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be a text field, not a file", field=name)
    params = _parse_params(str(fields.get("params", "") or "{}"))
    return _new_task(
        app=str(fields.get("type") or "preview"),
        angle=str(fields.get("angle", "")),
        params=params,
        uploads=uploads,
    )


def _parse_params(raw: str) -> dict[str, Any]:
    params = strict_json(raw, what="params", field="params")
    if not isinstance(params, dict):
        raise InvalidInput("params must be a JSON object", field="params")
    return params


async def _from_json(body: bytes, services: Services) -> NewTask:
    raw = strict_json(body, what="body")
    try:
        model = TaskCreateJson.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        message = f"{field}: {first['msg']}" if field else first["msg"]
        raise InvalidInput(message, field=field) from None
    uploads = [
        upload
        for role in ("image", "reference")
        if (upload := await _json_image(model, role, services)) is not None
    ]
    return _new_task(app=model.type, angle=model.angle, params=model.params, uploads=uploads)


async def _json_image(model: TaskCreateJson, role: str, services: Services) -> Upload | None:
    encoded: str | None = getattr(model, f"{role}_base64")
    url: str | None = getattr(model, f"{role}_url")
    if encoded and url:
        raise InvalidInput(f"give {role}_base64 or {role}_url, not both", field=f"{role}_base64")
    if encoded:
        payload = DATA_URI.sub("", encoded.strip(), count=1)
        try:
            data = base64.b64decode("".join(payload.split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                f"{role}_base64 is not valid base64", field=f"{role}_base64"
            ) from None
        return Upload(role=role, data=data)
    if url:
        if services.fetcher is None:
            raise InvalidInput("fetching images by URL is not enabled", field=f"{role}_url")
        data, content_type = await services.fetcher.fetch(url, role=role)
        return Upload(role=role, data=data, content_type=content_type)
    return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def strict_json(text: str | bytes, *, what: str, field: str | None = None) -> Any:
    """json.loads that refuses NaN/Infinity and survives absurd nesting."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc.msg}", field=field) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}", field=field) from None
    except RecursionError:
        raise InvalidInput(f"{what} is nested too deeply", field=field) from None


def _new_task(*, app: str, angle: str, params: dict[str, Any], uploads: list[Upload]) -> NewTask:
    if len(app) > 64 or len(angle) > 64:
        raise InvalidInput("type and angle are at most 64 characters", field="type")
    return NewTask(app=app, angle=angle, params=params, uploads=tuple(uploads))
