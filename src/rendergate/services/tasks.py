"""Use cases behind the /tasks API: create, read, list, cancel, and the start-up reconcile."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from rendergate.blobs.base import BlobNotFound
from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import (
    FilesExpired,
    InvalidInput,
    InvalidTransition,
    ResultLost,
    ResultNotReady,
    UnknownApp,
)
from rendergate.domain.task import MAX_SAFE_INTEGER, InputRef, JobHandle, Skip, Task, TaskStatus
from rendergate.domain.values import check_text, check_value
from rendergate.imaging.inputs import CheckedImage, check_image
from rendergate.providers import registry
from rendergate.providers.base import cancel_capability
from rendergate.services.admission import check_push, within_limits
from rendergate.services.context import Services, Wake
from rendergate.services.routing import RunsHere, refuse_undeclared
from rendergate.services.writer import TaskWriter
from rendergate.store.base import AlongWrite, Page, TaskIdTaken

log = structlog.get_logger(__name__)

MIN_TASK_ID = 2**40  # ids are random in [2^40, 2^53): never guessable by counting


@dataclass(frozen=True, kw_only=True)
class Upload:
    role: str
    data: bytes
    content_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class NewTask:
    app: str
    angle: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    uploads: tuple[Upload, ...] = ()
    webhook_url: str = ""
    webhook_events: tuple[str, ...] = ()  # checked by domain.events.parse_webhook_events
    deadline_s: float | None = None
    link_base: str = ""  # the base URL of the request creating it (services/links.py)


def new_task_id() -> int:
    return MIN_TASK_ID + secrets.randbelow(MAX_SAFE_INTEGER - MIN_TASK_ID)


async def create_task(
    request: NewTask,
    *,
    services: Services,
    owner: str = "",
    along: Callable[[int], AlongWrite] | None = None,
) -> Task:
    """Validates everything first, so a refused request stores nothing; then queues the task.
    `owner`: the id of the caller's API key ("" in open mode); `along(task_id)`: a write
    to do in the transaction that adds the task's row (services/idempotency.py)."""
    app = services.apps.get(request.app)
    if app is None:
        known = ", ".join(sorted(services.apps))
        raise UnknownApp(f"unknown type {request.app!r}; known types: {known}", field="type")
    provider, skipped = RunsHere(services.providers, services.settings).first_route(app)
    roles = {upload.role for upload in request.uploads}
    if "image" not in roles:
        raise InvalidInput("an image is required", field="image")
    check_value(dict(request.params), what="params", field="params")
    refuse_undeclared(app, request.params, services.settings)
    for name in ("angle", "webhook_url"):  # a form's text fields, which nothing checked yet
        check_text(getattr(request, name), what=name, field=name)
    app.check_request(angle=request.angle, has_reference="reference" in roles)
    app.check_deadline_s(request.deadline_s)
    await check_push(request.webhook_url, services=services, owner=owner)
    async with within_limits(services, owner):  # a create that fails in here is not counted
        registry(services.settings)[provider].check_params(request.params)
        checked = [(u.role, await _check_image(u, services.settings)) for u in request.uploads]
        route = (provider, skipped, owner)
        task, queued = await _store_new(
            request, app, route, checked, services=services, along=along
        )
    log.info("task created", task_id=task.task_id, app=app.name)
    if services.orchestrator is not None and not queued:
        try:
            await services.orchestrator.start(task)
        except Exception:  # the task is stored: the reconcile sweep queues it shortly
            log.warning("queuing the new task failed; reconcile will", task_id=task.task_id)
    return task


async def _check_image(upload: Upload, settings: Settings) -> CheckedImage:
    """The upload decoded and checked, in a thread: decoding takes a CPU for a while."""
    return await asyncio.to_thread(
        check_image,
        upload.data,
        role=upload.role,
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        declared_content_type=upload.content_type,
    )


async def _store_new(
    request: NewTask,
    app: AppSpec,
    route: tuple[str, tuple[Skip, ...], str],  # provider, the routes skipped, owner
    checked: list[tuple[str, CheckedImage]],
    *,
    services: Services,
    along: Callable[[int], AlongWrite] | None = None,
) -> tuple[Task, bool]:
    """Writes the inputs, then the row, and with it the workflow where the orchestrator
    shares the database (True: queued too); inputs whose row was not written are removed
    again, so a request that fails here leaves nothing behind."""
    now, (provider, skipped, owner) = services.clock(), route
    for _ in range(5):
        task_id = new_task_id()
        inputs = {
            role: InputRef(
                key=f"inputs/{task_id}/{role}.{image.extension}", content_type=image.content_type
            )
            for role, image in checked
        }
        task = Task(
            task_id=task_id,
            app=app.name,
            provider=provider,
            skipped=skipped,
            angle=request.angle,
            params=dict(request.params),
            inputs=inputs,
            callback_token=secrets.token_urlsafe(24),
            owner=owner,
            webhook_url=request.webhook_url,
            webhook_events=request.webhook_events,
            deadline_s=request.deadline_s,
            link_base=request.link_base,
            created_at=now,
            updated_at=now,
        )
        try:
            for role, image in checked:
                await services.blobs.put(inputs[role].key, image.data)
            queuing = services.orchestrator.queuing(task) if services.orchestrator else None
            writes = [w for w in (queuing, along and along(task_id)) if w is not None]
            await services.store.add(task, along=_all_of(writes) if writes else None)
            return task, queuing is not None
        except TaskIdTaken:
            continue
        except BaseException:
            for ref in inputs.values():
                with contextlib.suppress(Exception):
                    await services.blobs.delete(ref.key)
            raise
    raise RuntimeError("could not draw a free task id")  # pragma: no cover - 2^53 ids


def _all_of(writes: list[AlongWrite]) -> AlongWrite:
    def write(connection: Any) -> None:
        for each in writes:
            each(connection)

    return write


async def get_task(task_id: int, *, services: Services, caller: str | None = None) -> Task:
    """The task; one still in our queue also says how many wait ahead of it. `caller`:
    the id of the caller's API key (None in open mode: every task). Another key's task is
    answered as absent, the same way: the finished tasks' cache serves only its owner."""
    task = services.finished.get(task_id)
    if task is not None and (caller is None or task.owner == caller):
        return task
    task = await services.finished.load(task_id, lambda i: services.store.get(i, owner=caller))
    if task.status is TaskStatus.SUBMITTED:
        ahead = await services.store.waiting_ahead(task)
        task = dataclasses.replace(task, queue_position=ahead)
    return task


async def cancel_task(task_id: int, *, services: Services, caller: str | None = None) -> Task:
    """Cancels an unfinished task here at once and upstream where the provider can."""
    task = await services.store.get(task_id, owner=caller)  # another key's: TaskNotFound
    writer = TaskWriter(services.store, services.clock, services.redactor)
    stored = await writer.apply(task_id, lambda t: t.cancel(now=services.clock()))
    if stored is None:
        now = await services.store.get(task_id)
        raise InvalidTransition(f"task {task_id} is already {now.status} and cannot be canceled")
    job = stored.provider_job
    if job is not None and not await _stopped_upstream(stored, job, services):
        note = f"canceled here; {stored.provider} cannot cancel, so it may still run the job"
        stored = await writer.apply(
            task_id, lambda t: dataclasses.replace(t, error_message=note)
        ) or await services.store.get(task_id)
    await services.wake(task_id, Wake.CANCEL)
    log.info("task canceled", task_id=task.task_id)
    return stored


async def _stopped_upstream(task: Task, job: JobHandle, services: Services) -> bool:
    """Whether the provider confirmed it stopped the job. One that cannot cancel (Aliyun)
    says no; a failed call counts as yes, since the tracking loop asks again."""
    provider = services.providers.get(task.provider)
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
    services: Services,
    status: TaskStatus | None = None,
    app: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
    caller: str | None = None,
) -> tuple[list[Task], str | None]:
    if app is not None:
        check_text(app, what="type", field="type", location="query")
    after = decode_cursor(cursor) if cursor else None
    found = await services.store.find(
        status=status, app=app, owner=caller, after=after, limit=limit + 1
    )
    page, more = found[:limit], len(found) > limit
    return page, encode_cursor(page[-1]) if more and page else None


def encode_cursor(task: Task) -> str:
    raw = json.dumps([task.created_at.isoformat(), task.task_id]).encode()
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


async def result_link(task: Task, *, services: Services, index: int = 0) -> str | None:
    """With RENDERGATE_RESULT_LINKS=presigned, a link the storage signs for the result;
    None when results are served through rendergate (or the storage cannot sign)."""
    _require_result(task, index)
    if services.settings.result_links != "presigned":
        return None
    return await services.blobs.link(task.outputs[index].key, RESULT_LINK_S)


def _require_result(task: Task, index: int) -> None:
    if task.files_expired_at is not None:
        on = task.files_expired_at.date().isoformat()
        raise FilesExpired(
            f"the inputs and results of task {task.task_id} were removed on {on}, "
            "as the retention of this server says"
        )
    if task.status is not TaskStatus.COMPLETED or not task.outputs:
        raise ResultNotReady(f"task {task.task_id} has no result (it is {task.status})")
    if index >= (count := len(task.outputs)):
        has = "1 result (index 0)" if count == 1 else f"{count} results (index 0 to {count - 1})"
        raise ResultNotReady(f"task {task.task_id} has {has}, none at index {index}")


async def result_bytes(task: Task, *, services: Services, index: int = 0) -> bytes:
    _require_result(task, index)
    try:
        return await services.blobs.get(task.outputs[index].key)
    except BlobNotFound as exc:
        raise ResultLost(f"the stored result of task {task.task_id} is missing") from exc


async def result_or_loss(task: Task, *, services: Services) -> bytes | ResultLost:
    """GET's image: the first result's bytes, or why our storage has none (a file deleted
    by hand, a lost bucket), which GET tells in the task's answer rather than fail."""
    try:
        return await result_bytes(task, services=services)
    except ResultLost as exc:
        log.error("stored result missing", task_id=task.task_id)
        return exc
