"""Server-sent events as GET /tasks/{id}/events writes them, read into TaskEvents. Lines
are split here rather than by aiohttp's readline, which refuses lines over 128 KiB (a task
with large params)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from rendergate.client.errors import ApiError
from rendergate.client.models import Task, TaskEvent


async def lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The text lines of a byte stream, without their line endings."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r").decode("utf-8", "replace")
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8", "replace")


async def events(chunks: AsyncIterator[bytes]) -> AsyncIterator[TaskEvent]:
    """Each event with data; comments (the heartbeat) and unknown fields are skipped."""
    fields: dict[str, str] = {}
    data: list[str] = []
    async for line in lines(chunks):
        if line and not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value
            continue
        if not line and data:
            yield _event(fields, "\n".join(data))
        if not line:
            fields, data = {}, []


def _event(fields: dict[str, str], data: str) -> TaskEvent:
    try:
        task = Task.from_json(json.loads(data))
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(200, f"an event the SDK cannot read: {exc}") from None
    event_id = fields.get("id", "")
    return TaskEvent(
        id=int(event_id) if event_id.isdigit() else None,
        event=fields.get("event", "message"),
        task=task,
    )
