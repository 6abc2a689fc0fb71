"""Server-sent events as GET /tasks/{id}/events and GET /batches/{id}/events write them.
Lines are split here rather than by aiohttp's readline, which refuses lines over 128 KiB (a
task with large params)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from rendergate.client.errors import ApiError
from rendergate.client.models import Task, TaskEvent


@dataclass(frozen=True)
class Frame:
    """One event with data: its `id` field ("" for none), its name, its data as JSON."""

    id: str
    event: str
    data: Any


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


async def frames(chunks: AsyncIterator[bytes]) -> AsyncIterator[Frame]:
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
            event = fields.get("event", "message")
            yield Frame(fields.get("id", ""), event, _json("\n".join(data)))
        if not line:
            fields, data = {}, []


async def events(chunks: AsyncIterator[bytes]) -> AsyncIterator[TaskEvent]:
    """A task's events."""
    async for frame in frames(chunks):
        yield TaskEvent(
            id=int(frame.id) if frame.id.isdigit() else None,
            event=frame.event,
            task=task_of(frame),
        )


def task_of(frame: Frame) -> Task:
    """The task a task.* event carries."""
    try:
        return Task.from_json(frame.data)
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(200, f"an event the SDK cannot read: {exc}") from None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ApiError(200, f"an event the SDK cannot read: {exc}") from None
