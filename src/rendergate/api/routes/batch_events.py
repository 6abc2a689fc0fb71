"""A batch's server-sent event stream: each member's changes, and the batch's progress."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from rendergate.api.deps import CallerDep, ServicesDep
from rendergate.api.examples import KEY_OR_OPEN, errors
from rendergate.api.present import base_url
from rendergate.api.routes.batches import BatchId
from rendergate.api.routes.events import HeldStream
from rendergate.domain.batches import Summary
from rendergate.domain.task import Task
from rendergate.services import batches as use_cases
from rendergate.services.changes import Changes
from rendergate.services.presenting import present_task
from rendergate.services.streams import whole
from rendergate.store.base import BatchStore

router = APIRouter(prefix="/batches", tags=["batches"])
HEARTBEAT_S = 10.0
DESCRIPTION = """Each member's changes as they happen (`event` task.submitted,
task.processing, task.progress, task.completed, task.failed or task.canceled, `data` the
task as GET /tasks/{id} shows it), and the batch's own after each (`batch.progress`, `data`
{batch_id, status, progress, counts}); it ends with batch.completed, batch.partial,
batch.failed or batch.canceled. A comment line every 10 s keeps proxies from closing it."""


def _frame(event: str, data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {text}\n\n"


def _task_event(old: Task | None, new: Task) -> str | None:
    """The member's event, if what a client sees of it changed."""
    if old is not None and (old.status, old.progress) == (new.status, new.progress):
        return None
    if old is None or old.status is not new.status:
        return f"task.{new.status.value}"
    return "task.progress"


async def follow_batch(
    batch_id: int, batches: BatchStore, changes: Changes, *, caller: str | None, base: str
) -> AsyncIterator[str]:
    """The stream's frames, until the batch has ended."""
    seen: dict[int, Task] = {}
    told: tuple[object, ...] = ()
    _, summary = await use_cases.read_batch(batch_id, batches, caller=caller)
    while True:
        watched = [t.task_id for t in summary.members]
        with changes.watching_all(watched) as changed:  # before reading: no change missed
            _, summary = await whole(use_cases.read_batch(batch_id, batches, caller=caller))
            for task in summary.members:
                event = _task_event(seen.get(task.task_id), task)
                seen[task.task_id] = task
                if event is not None:
                    yield _frame(event, present_task(task, base=base).model_dump(mode="json"))
            now = _batch_state(batch_id, summary)
            if tuple(now.values()) != told:
                told = tuple(now.values())
                ended = summary.status.is_terminal
                yield _frame(f"batch.{now['status']}" if ended else "batch.progress", now)
                if ended:
                    return
            try:
                await asyncio.wait_for(changed.wait(), HEARTBEAT_S)
            except TimeoutError:  # members made since (a chain's step) are read next round
                yield ": heartbeat\n\n"


def _batch_state(batch_id: int, summary: Summary) -> dict[str, Any]:
    return {
        "batch_id": batch_id,
        "status": summary.status.value,
        "progress": summary.progress,
        "counts": dict(summary.counts),
    }


@router.get(
    "/{batch_id}/events",
    summary="Stream the batch's changes (server-sent events)",
    description=DESCRIPTION,
    response_class=StreamingResponse,
    responses={
        200: {"description": "A text/event-stream", "content": {"text/event-stream": {}}},
        **errors(401, 404, 413, 422, 429, 500),
    },
    openapi_extra=KEY_OR_OPEN,
)
async def stream_batch_events(
    batch_id: BatchId, request: Request, services: ServicesDep, caller: CallerDep
) -> StreamingResponse:
    await services.batches.get(batch_id, owner=caller)  # another key's: 404 before streaming
    base = base_url(request, services.settings)
    frames = follow_batch(batch_id, services.batches, services.changes, caller=caller, base=base)

    async def body() -> AsyncIterator[str]:
        with contextlib.suppress(asyncio.CancelledError):
            async for frame in frames:
                yield frame

    owner = caller or ""
    services.streams.take(owner)
    return HeldStream(
        body(),
        release=functools.partial(services.streams.release, owner),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
