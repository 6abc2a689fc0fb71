"""A task's event stream, and waiting for a task to finish, for GET /tasks/{id}/events
and `Prefer: wait`.

Both wait on `Changes` for the task and read the store when told; they also read every
few seconds regardless, which bounds the cost of a missed notification and keeps the
queue position of a task still waiting here up to date.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio

from rendergate.domain.task import Task, TaskStatus
from rendergate.services.changes import Changes
from rendergate.store.base import EventLog, TaskStore

HEARTBEAT_S = 10.0  # a comment line this often keeps proxies from closing an idle stream
QUEUED_CHECK_S = 2.0  # how often the queue position of a task waiting here is read again

T = TypeVar("T")


@dataclass(frozen=True)
class StreamItem:
    """One entry of a stream; `event_id` None for a queue move (no version of its own) and
    for a heartbeat (`task` None)."""

    event: str
    task: Task | None
    event_id: int | None


HEARTBEAT = StreamItem("heartbeat", None, None)


async def follow(
    task: Task, *, store: TaskStore, changes: Changes, log: EventLog, after: int = -1
) -> AsyncIterator[StreamItem]:
    """The task's events after version `after`, as they happen, ending with its terminal
    one. `task` is the caller's, already checked to be theirs."""
    task_id, position = task.task_id, None
    with changes.watching(task_id) as changed:
        idle = 0.0
        while True:
            changed.clear()
            batch, current = await whole(_next(task_id, after, store=store, log=log))
            for event, snapshot in batch:
                after = snapshot.version
                yield StreamItem(event, snapshot, snapshot.version)
                if snapshot.status.is_terminal:
                    return
            latest = current or batch[-1][1]
            if latest.status.is_terminal:
                return
            if latest.status is TaskStatus.SUBMITTED:
                ahead = await whole(store.waiting_ahead(latest))
                if ahead != position:
                    yield StreamItem("task.queue", _queued(latest, ahead), None)
                position = ahead
            wait = QUEUED_CHECK_S if latest.status is TaskStatus.SUBMITTED else HEARTBEAT_S
            if await _changed_within(changed, wait):
                idle = 0.0
                continue
            idle += wait
            if idle >= HEARTBEAT_S:
                idle = 0.0
                yield HEARTBEAT


async def whole(read: Awaitable[T]) -> T:
    """`read` to its end, even when the stream's client leaves meanwhile.

    Starlette ends a stream whose client left by cancelling an anyio cancel scope, which
    cancels again at every await: cut that way, SQLAlchemy's aiosqlite connection leaves
    its closing task pending forever (tests/integration/test_stream_leaving.py). Shielded,
    the read ends and the leaving lands at the stream's next wait."""
    with anyio.CancelScope(shield=True):
        result = await read
    return result


async def _next(
    task_id: int, after: int, *, store: TaskStore, log: EventLog
) -> tuple[list[tuple[str, Task]], Task | None]:
    """The events after version `after`; when there are none, the task as it is now too
    (to end the stream of a finished task, and to show a waiting task's queue position).
    The log is read again after the task: a terminal write between the two reads is then
    in it, so it is not missed."""
    batch = await log.after(task_id, after)
    if batch:
        return batch, None
    current = await store.get(task_id)
    if current.status.is_terminal and after < current.version:
        batch = await log.after(task_id, after)
        if not batch:  # a task finished before the event log existed
            batch = [(f"task.{current.status.value}", current)]
        return batch, None
    return [], current


def _queued(task: Task, ahead: int) -> Task:
    return dataclasses.replace(task, queue_position=ahead)


async def _changed_within(changed: asyncio.Event, seconds: float) -> bool:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(changed.wait(), seconds)
        return True
    return False


async def wait_finished(task: Task, *, store: TaskStore, changes: Changes, seconds: float) -> Task:
    """The task once finished, or as it is after `seconds`, whichever comes first."""
    return await _wait(task, lambda t: t.status.is_terminal, store, changes, seconds)


async def wait_moved(task: Task, *, store: TaskStore, changes: Changes, seconds: float) -> Task:
    """The task once its version moved past `task`'s (a progress step, a status, its end),
    or as it is after `seconds`: GET /tasks/{id}'s long poll."""
    version = task.version
    return await _wait(
        task, lambda t: t.status.is_terminal or t.version > version, store, changes, seconds
    )


async def _wait(
    task: Task, done: Callable[[Task], bool], store: TaskStore, changes: Changes, seconds: float
) -> Task:
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    with changes.watching(task.task_id) as changed:
        while not done(task):
            left = until - loop.time()
            if left <= 0:
                break
            changed.clear()
            task = await whole(store.get(task.task_id))
            if done(task):
                break
            await _changed_within(changed, min(left, HEARTBEAT_S))
    return task
