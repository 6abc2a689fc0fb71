"""Checks shared by the bad-input and hostile-input tests: a refusal's shape, and that
nothing was stored."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from support.server import RunningServer

Form = list[tuple[str, bytes | str, str | None]]  # (name, value, content type of a file)


async def refused(response: aiohttp.ClientResponse, status: int, says: str) -> list[Any]:
    """Checks the status and error shape, and that the message says `says`; returns the loc."""
    text = await response.text()
    assert response.status == status, text
    body = json.loads(text)
    if status == 422:
        assert list(body) == ["detail"] and body["detail"], body
        assert all(set(d) == {"loc", "msg", "type"} for d in body["detail"]), body
        message, loc = " | ".join(d["msg"] for d in body["detail"]), body["detail"][0]["loc"]
    else:
        assert body == {"code": status, "msg": body["msg"], "data": None}
        message, loc = body["msg"], []
    assert says in message, message
    assert "Traceback" not in text
    return list(loc)


async def nothing_stored(server: RunningServer) -> None:
    async with server.http.get(f"{server.url}/tasks") as response:
        assert response.status == 200
        assert (await response.json())["data"] == {"tasks": [], "next_cursor": None}
    blobs = server.services.settings.data_dir / "blobs"
    assert [p for p in blobs.rglob("*") if p.is_file()] == []


def url(server: RunningServer) -> str:
    return f"{server.url}/tasks"


def form_of(fields: Form) -> aiohttp.FormData:
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value, content_type in fields:
        if content_type is None:
            form.add_field(name, value)
        else:
            form.add_field(name, value, filename=f"{name}.bin", content_type=content_type)
    return form
