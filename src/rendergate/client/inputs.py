"""The body of POST /tasks (and of POST and PUT /presets) from a call's arguments: a
multipart form when every image is a file or bytes (no base64 inflation), JSON when one is
a URL for the server to fetch, or when there is no image at all (image_task_id names one)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from rendergate.client.transport import Request

Image = str | os.PathLike[str] | bytes  # a path, the bytes themselves, or an http(s) URL


def is_url(image: Image | None) -> bool:
    return isinstance(image, str) and image.startswith(("http://", "https://"))


async def create_request(
    images: Mapping[str, Image | None],
    fields: Mapping[str, Any],
    *,
    method: str = "POST",
    path: str = "/tasks",
) -> Request:
    """`images` by role (image, reference); `fields` the other fields, None for those not
    given."""
    given = {name: value for name, value in fields.items() if value is not None}
    present = [image for image in images.values() if image is not None]
    if not present or any(is_url(image) for image in present):
        body = dict(given)
        for role, image in images.items():
            if is_url(image):
                body[f"{role}_url"] = image
            elif image is not None:
                data = (await read_image(role, image))[1]
                body[f"{role}_base64"] = base64.b64encode(data).decode()
        return Request(method, path, json=body)
    files = []
    for role, image in images.items():
        if image is not None:
            name, data = await read_image(role, image)
            files.append((role, name, data))
    return Request(method, path, body=multipart(files, list(given.items())))


def multipart(
    files: Sequence[tuple[str, str, bytes]], fields: Sequence[tuple[str, Any]]
) -> Callable[[], aiohttp.FormData]:
    """A form's builder (a form is consumed once sent): `files` as (field, file name, bytes),
    `fields` as (name, value), each value a string or sent as JSON; a name may repeat."""

    def form() -> aiohttp.FormData:
        built = aiohttp.FormData()
        for role, name, data in files:
            built.add_field(role, data, filename=name, content_type="application/octet-stream")
        for name, value in fields:
            built.add_field(name, value if isinstance(value, str) else json.dumps(value))
        return built

    return form


async def read_image(role: str, image: Image) -> tuple[str, bytes]:
    """(file name, bytes) of a path or of bytes."""
    if isinstance(image, bytes):
        return role, image
    path = Path(image)
    return path.name, await asyncio.to_thread(path.read_bytes)
