"""Use cases behind the /tasks API once a task exists: read, list, cancel, and its result
(creating a task is creating.py)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import structlog

from rendergate.blobs.base import BlobNotFound, BlobStore
from rendergate.domain.batches import queue_order
from rendergate.domain.errors import (
    FilesExpired,
    InvalidInput,
    InvalidTransition,
    ResultLost,
    ResultNotReady,
)
from rendergate.domain.task import MAX_SAFE_INTEGER, JobHandle, Task, TaskStatus
from rendergate.domain.values import check_text
from rendergate.providers.base import Provider, cancel_capability
from rendergate.redaction import Redactor
from rendergate.services.cache import FinishedTasks
from rendergate.services.ports import Wake, Waker
from rendergate.services.writer import TaskWriter
from rendergate.store.base import Page, TaskStore

log = structlog.get_logger(__name__)


async def get_task(
    task_id: int, *, store: TaskStore, finished: FinishedTasks, caller: str | None = None
) -> Task:
    """The task; one still in our queue also says how many wait ahead of it. `caller`:
    the id of the caller's API key (None in open mode: every task). Another key's task is
    answered as absent, the same way: the finished tasks' cache serves only its owner."""
    task = finished.get(task_id)
    if task is not None and (caller is None or task.owner == caller):
        return task
    return await placed(await finished.load(task_id, lambda i: store.get(i, owner=caller)), store)


async def placed(task: Task, store: TaskStore) -> Task:
    """The task with its queue position, while it waits in our queue."""
    if task.status is not TaskStatus.SUBMITTED:
        return task
    return dataclasses.replace(task, queue_position=await store.waiting_ahead(task))


async def placed_all(tasks: Sequence[Task], store: TaskStore) -> tuple[Task, ...]:
    """The tasks with their queue positions, the waiting ones (a batch's members). Tasks
    made together share their creation time and provider, so one count of what waits before
    the group places its first, and the rest follow it in queue order (domain/batches.py
    queue_order, as GET /tasks/{id} counts): a read per group, not per task."""
    groups: dict[tuple[str, datetime], list[Task]] = {}
    for task in tasks:
        if task.status is TaskStatus.SUBMITTED:
            groups.setdefault((task.provider, task.created_at), []).append(task)
    places: dict[int, int] = {}
    for group in groups.values():
        ahead = await store.waiting_ahead(min(group, key=queue_order))
        in_line = sorted(group, key=queue_order)
        places.update((task.task_id, ahead + i) for i, task in enumerate(in_line))
    return tuple(
        dataclasses.replace(t, queue_position=places[t.task_id]) if t.task_id in places else t
        for t in tasks
    )


@dataclass(frozen=True)
class Cancelling:
    """What a cancel uses: the task's row and its writes, the provider that may stop its
    job, and the wake that tells its tracking loop."""

    store: TaskStore
    providers: Mapping[str, Provider]
    clock: Callable[[], datetime]
    redactor: Redactor
    wake: Waker


async def cancel_task(task_id: int, cancelling: Cancelling, *, caller: str | None = None) -> Task:
    """Cancels an unfinished task here at once and upstream where the provider can."""
    store, clock = cancelling.store, cancelling.clock
    task = await store.get(task_id, owner=caller)  # another key's: TaskNotFound
    writer = TaskWriter(store, clock, cancelling.redactor)
    stored = await writer.apply(task_id, lambda t: t.cancel(now=clock()))
    if stored is None:
        now = await store.get(task_id)
        raise InvalidTransition(f"task {task_id} is already {now.status} and cannot be canceled")
    job, provider = stored.provider_job, cancelling.providers.get(stored.provider)
    if job is not None and not await _stopped_upstream(stored, job, provider):
        note = f"canceled here; {stored.provider} cannot cancel, so it may still run the job"
        stored = await writer.apply(
            task_id, lambda t: dataclasses.replace(t, error_message=note)
        ) or await store.get(task_id)
    await cancelling.wake(task_id, Wake.CANCEL)
    log.info("task canceled", task_id=task.task_id)
    return stored


async def _stopped_upstream(task: Task, job: JobHandle, provider: Provider | None) -> bool:
    """Whether the provider confirmed it stopped the job. One that cannot cancel (Aliyun)
    says no; a failed call counts as yes, since the tracking loop asks again."""
    if provider is None:
        return True
    canceller = cancel_capability(provider)
    if canceller is None:
        log.info(
            f"{task.provider} has no cancel: the task is no longer tracked, but "
            f"{task.provider} may still run it (and bill it)",
            task_id=task.task_id,
        )
        return False
    try:
        return await canceller.cancel(job)
    except Exception as exc:  # best effort: the tracking loop asks again
        log.info("upstream cancel failed", task_id=task.task_id, reason=str(exc))
        return True


async def list_tasks(
    *,
    store: TaskStore,
    status: TaskStatus | None = None,
    app: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
    caller: str | None = None,
    rerun_of: int | None = None,
) -> tuple[list[Task], str | None]:
    if app is not None:
        check_text(app, what="type", field="type", location="query")
    after = decode_cursor(cursor) if cursor else None
    found = await store.find(
        status=status, app=app, owner=caller, after=after, limit=limit + 1, rerun_of=rerun_of
    )
    page, more = found[:limit], len(found) > limit
    return page, encode_cursor(page[-1]) if more and page else None


def encode_cursor(task: Task) -> str:
    return encode_page(Page(created_at=task.created_at, task_id=task.task_id))


def encode_page(page: Page) -> str:
    """The cursor of the page after `page`'s row (a task's, or a batch's by its id)."""
    raw = json.dumps([page.created_at.isoformat(), page.task_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Page:
    """The page a cursor of ours names; anything else, forged or garbled, is a 422 (a date
    that UTC cannot hold, a boolean for the id), never a query the database chokes on."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_text, task_id = json.loads(raw)
        created = datetime.fromisoformat(created_text)
        if created.tzinfo is None or type(task_id) is not int:  # bool is an int subclass
            raise ValueError("not a cursor")
        if not 0 <= task_id <= MAX_SAFE_INTEGER:
            raise ValueError("not a cursor")
        created = created.astimezone(UTC)  # OverflowError past year 1 or 9999 in UTC
    except (ValueError, TypeError, OverflowError, binascii.Error):
        raise InvalidInput(
            "cursor is not one this API returned", field="cursor", location="query"
        ) from None
    return Page(created_at=created, task_id=task_id)


RESULT_LINK_S = 300  # a presigned result link works this long


async def result_link(
    task: Task, *, blobs: BlobStore, result_links: Literal["proxy", "presigned"], index: int = 0
) -> str | None:
    """With RENDERGATE_RESULT_LINKS=presigned, a link the storage signs for the result;
    None when results are served through rendergate (or the storage cannot sign)."""
    require_result(task, index)
    if result_links != "presigned":
        return None
    return await blobs.link(task.outputs[index].key, RESULT_LINK_S)


def require_files(task: Task) -> None:
    """FilesExpired (410) once retention removed the task's inputs and results."""
    if task.files_expired_at is not None:
        on = task.files_expired_at.date().isoformat()
        raise FilesExpired(
            f"the inputs and results of task {task.task_id} were removed on {on}, "
            "as the retention of this server says"
        )


def require_result(task: Task, index: int) -> None:
    """ResultNotReady (404) when the task has no result at `index` (yet)."""
    require_files(task)
    if task.status is not TaskStatus.COMPLETED or not task.outputs:
        raise ResultNotReady(f"task {task.task_id} has no result (it is {task.status})")
    if index >= (count := len(task.outputs)):
        has = "1 result (index 0)" if count == 1 else f"{count} results (index 0 to {count - 1})"
        raise ResultNotReady(f"task {task.task_id} has {has}, none at index {index}")


async def result_bytes(task: Task, *, blobs: BlobStore, index: int = 0) -> bytes:
    require_result(task, index)
    try:
        return await blobs.get(task.outputs[index].key)
    except BlobNotFound as exc:
        raise ResultLost(f"the stored result of task {task.task_id} is missing") from exc


async def result_or_loss(task: Task, *, blobs: BlobStore) -> bytes | ResultLost:
    """GET's image: the first result's bytes, or why our storage has none (a file deleted
    by hand, a lost bucket), which GET tells in the task's answer rather than fail."""
    try:
        return await result_bytes(task, blobs=blobs)
    except ResultLost as exc:
        log.error("stored result missing", task_id=task.task_id)
        return exc
