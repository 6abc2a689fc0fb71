"""A batch's server-sent event stream: each member's changes, and the batch's progress."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from rendergate.api.deps import CallerDep, ServicesDep
from rendergate.api.examples import KEY_OR_OPEN, errors
from rendergate.api.present import base_url
from rendergate.api.routes.batches import BatchId
from rendergate.api.routes.events import HeldStream
from rendergate.domain.batches import Batch, Summary
from rendergate.domain.task import Task, TaskStatus
from rendergate.services import batches as use_cases
from rendergate.services.changes import Changes
from rendergate.services.presenting import present_task
from rendergate.services.streams import QUEUED_CHECK_S, whole
from rendergate.store.base import BatchStore, TaskStore

router = APIRouter(prefix="/batches", tags=["batches"])
HEARTBEAT_S = 10.0
DESCRIPTION = """Each member's changes as they happen (`event` task.submitted,
task.processing, task.progress, task.completed, task.failed or task.canceled, `data` the
task as GET /tasks/{id} shows it; task.queue when a waiting member's `queue_position`
moves), and the batch's own after each (`batch.progress`, `data`
{batch_id, status, progress, counts}); it ends with batch.completed, batch.partial,
batch.failed or batch.canceled. A comment line every 10 s keeps proxies from closing it."""


def _frame(event: str, data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {text}\n\n"


def _task_event(old: Task | None, new: Task) -> str | None:
    """The member's event, if what a client sees of it changed: task.queue when only its
    place in our queue moved, as a task's own stream says it."""
    if old is not None and _seen(old) == _seen(new):
        return None
    if old is None or old.status is not new.status:
        return f"task.{new.status.value}"
    return "task.progress" if old.progress != new.progress else "task.queue"


def _seen(task: Task) -> tuple[object, ...]:
    return (task.status, task.progress, task.queue_position)


async def follow_batch(
    batch_id: int, reading: BatchReading, changes: Changes, *, caller: str | None, base: str
) -> AsyncIterator[str]:
    """The stream's frames, until the batch has ended. While a member waits in our queue
    its place is read again every QUEUED_CHECK_S, since other keys' tasks move it."""
    seen: dict[int, Task] = {}
    told: tuple[object, ...] = ()
    _, summary = await reading.read(batch_id, caller)
    idle = 0.0
    while True:
        watched = [t.task_id for t in summary.members]
        with changes.watching_all(watched) as changed:  # before reading: no change missed
            _, summary = await whole(reading.read(batch_id, caller))
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
            waiting = any(t.status is TaskStatus.SUBMITTED for t in summary.members)
            wait = QUEUED_CHECK_S if waiting else HEARTBEAT_S
            try:
                await asyncio.wait_for(changed.wait(), wait)
                idle = 0.0
            except TimeoutError:  # members made since (a chain's step) are read next round
                idle += wait
                if idle >= HEARTBEAT_S:
                    idle = 0.0
                    yield ": heartbeat\n\n"


@dataclass(frozen=True)
class BatchReading:
    """How the stream reads its batch: members placed in our queue (services/batches.py)."""

    batches: BatchStore
    store: TaskStore

    async def read(self, batch_id: int, caller: str | None) -> tuple[Batch, Summary]:
        return await use_cases.read_batch_placed(batch_id, self.batches, self.store, caller=caller)


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
    reading = BatchReading(services.batches, services.store)
    frames = follow_batch(batch_id, reading, services.changes, caller=caller, base=base)

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
