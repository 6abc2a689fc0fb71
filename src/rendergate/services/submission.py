"""The submit step: hands a task to its provider once, or moves it to the app's next route.

A provider that cannot take the task (its circuit is open, it refused our credentials or
account, it is at its concurrency or quota limit, or it did not answer) is skipped when the
app has a later route whose provider runs here: the task records the skip and goes back to
our queue for that provider, as its own workflow. On the last route the task waits out a
busy provider and fails on anything else, as it always did. The inputs' own faults never
fall back: every provider would refuse them.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import stamina
import structlog

from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import (
    Fault,
    InputsGone,
    InvalidTransition,
    ProviderBusy,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from rendergate.domain.task import Task
from rendergate.providers import unavailable_reason
from rendergate.providers.base import InputFile, JobHandle, JobRequest
from rendergate.services.circuit import Circuit, Circuits
from rendergate.services.context import Services

log = structlog.get_logger(__name__)

T = TypeVar("T")
CALL_ATTEMPTS = 5
UNREADABLE = (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError)
UPLOAD_ROUNDS = 3  # times the inputs are uploaded for one submit when the provider loses them
MOVED = "moved_to"  # submit's answer when the task moved on to another route
CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}


@dataclass(frozen=True)
class Backoff:
    """Waits between tries of one provider call (stamina's exponential back-off, jittered)."""

    initial_s: float = 1.0
    max_s: float = 30.0


async def readable(provider: str, call: Awaitable[T], *, creates_job: bool = False) -> T:
    """Runs a provider call; a reply the adapter could not read (a missing key, a wrong
    type) is the provider's error, never an internal one. After a call that creates paid
    work it is final: the job may exist, and submitting again could pay for it twice."""
    try:
        return await call
    except ProviderError:
        raise
    except UNREADABLE as exc:
        message = f"{provider} sent a reply we could not read ({type(exc).__name__})"
        if creates_job:
            raise ProviderRejected(message, code="unreadable") from exc
        raise ProviderUnavailable(message, code="unreadable") from exc


@dataclass
class _Guard:
    """Counts each failed provider call on the provider's circuit, and in a row here.

    Only an accepted job closes the circuit (Submitter.submit): a provider that takes
    uploads but refuses every job (an empty wallet) must still trip it.
    """

    circuit: Circuit
    clock: Callable[[], datetime]
    failed_in_a_row: int = 0

    provider: str = ""

    async def __call__(self, call: Awaitable[T], *, creates_job: bool = False) -> T:
        try:
            result = await readable(self.provider, call, creates_job=creates_job)
        except ProviderBusy:  # it answered, it is only full: no sign of a broken provider
            raise
        except ProviderUnavailable:
            self.failed_in_a_row += 1
            self.circuit.failed(self.clock())
            raise
        except ProviderRejected as exc:
            if exc.fault is Fault.CONFIG:
                self.circuit.failed(self.clock())
            raise
        self.failed_in_a_row = 0
        return result


def _retryable(can_move: bool) -> Callable[[Exception], bool]:
    """What is worth calling again as it is: with a later route, a busy provider is not;
    lost inputs never are (they are uploaded again first)."""
    if can_move:
        return lambda exc: (
            isinstance(exc, ProviderUnavailable) and not isinstance(exc, ProviderBusy | InputsGone)
        )
    return lambda exc: isinstance(exc, ProviderUnavailable) and not isinstance(exc, InputsGone)


def skip_reason(provider: str, error: ProviderError, attempts: int) -> str | None:
    """Why `provider` is passed over for this error, or None when no other can help."""
    if isinstance(error, ProviderBusy):
        return f"{provider} is at its concurrency or quota limit: {error.message}"
    if isinstance(error, ProviderUnavailable):
        return f"{provider} did not answer after {attempts} attempts: {error.message}"
    if isinstance(error, ProviderRejected) and error.fault is Fault.CONFIG:
        return f"{provider} refused our credentials, account or app settings: {error.message}"
    return None


def idempotency_key(task: Task) -> str:
    """One key per task, route and attempt, unique across installations sharing a provider
    (ComfyUI prompt ids): the task's secret token goes in only through a hash."""
    salt = hashlib.sha256(task.callback_token.encode()).hexdigest()[:16]
    return f"{task.task_id}.{len(task.skipped)}.{task.attempts + 1}.{salt}"


def describe(provider: str, error: ProviderError) -> str:
    prefix = "the inputs were refused" if error.fault is Fault.USER else f"{provider} failed"
    return f"{prefix}: {error.message}"


class Submitter:
    """Writes to tasks, and the submit step; TaskRunner adds tracking and collecting."""

    def __init__(self, services: Services, backoff: Backoff = Backoff()) -> None:
        self.s = services
        self.backoff = backoff
        settings = services.settings
        self.circuits = Circuits(settings.circuit_failures, settings.circuit_open_s)

    async def update(self, task_id: int, change: Callable[[Task], Task]) -> Task | None:
        """Applies a transition with optimistic retries; None when the task no longer allows it."""
        for _ in range(20):
            current = await self.s.store.get(task_id)
            try:
                new = change(current)
            except InvalidTransition:
                return None
            if new == current:
                return current
            stored = await self.s.store.save(current, new)
            if stored is not None:
                return stored
        raise RuntimeError(f"task {task_id}: too many concurrent writes")

    async def fail(self, task_id: int, message: str, kind: str) -> None:
        message = self.s.redactor.scrub(message)  # upstream text may echo our request
        log.info("task failed", task_id=task_id, reason=message)
        await self.update(task_id, lambda t: t.fail(now=self.s.clock(), message=message, kind=kind))

    async def submit(self, task_id: int, workflow_id: str | None = None) -> dict[str, Any] | None:
        """Hands the task to its provider once; returns the job handle, `{MOVED: provider,
        "workflow_id": ...}` when the task moved to a later route, None when it is finished.

        `workflow_id` is the calling workflow's: one the task has moved away from (it fell
        back just before a crash) learns where the task went and submits nothing.
        """
        task = await self.s.store.get(task_id)
        if task.status.is_terminal:
            return None
        if workflow_id is not None and workflow_id != task.workflow_id:
            return {MOVED: task.provider, "workflow_id": task.workflow_id}
        if task.provider_job is not None:  # submitted before a crash: never twice
            return dict(task.provider_job)
        app = self.s.apps.get(task.app)
        if app is None or all(route.provider != task.provider for route in app.routes):
            message = f"app {task.app!r} no longer runs on {task.provider}"  # apps changed
            await self.fail(task_id, message, "config")
            return None
        if self.s.clock() >= task.created_at + timedelta(seconds=app.deadline_s):
            await self.fail(task_id, f"timed out after {app.deadline_s:g} s", kind="timeout")
            return None
        tried = {skip.provider for skip in task.skipped}
        later = (p for p in app.after(task.provider) if p in self.s.providers and p not in tried)
        fallback = next(later, None)
        if task.provider not in self.s.providers:  # its settings went away while it waited
            gone = unavailable_reason(task.provider, self.s.settings) or "not running here"
            if fallback is not None:
                return await self._fall_back(task_id, fallback, gone)
            await self.fail(task_id, gone, "config")
            return None
        # One circuit per provider and app: one app's broken settings (a wrong app id, a
        # template that does not suit the server) must not turn tasks of other apps away.
        circuit = self.circuits[f"{task.provider}/{task.app}"]
        if fallback is not None and not circuit.allows(self.s.clock()):
            opened = (
                f"circuit open: {task.provider} failed {circuit.failures} times in a row "
                "for this app"
            )
            return await self._fall_back(task_id, fallback, opened)
        guard = _Guard(circuit, self.s.clock, provider=task.provider)
        try:
            job = await self._hand_over(
                task, app.on(task.provider), guard, can_move=fallback is not None
            )
        except ProviderError as exc:
            reason = skip_reason(task.provider, exc, guard.failed_in_a_row)
            if fallback is not None and reason is not None:
                return await self._fall_back(task_id, fallback, reason)
            await self.fail(task_id, describe(task.provider, exc), kind=exc.fault.value)
            return None
        if job is None:  # canceled while we waited for a busy provider
            return None
        circuit.succeeded()
        stored = await self.update(
            task_id, lambda t: t.start(now=self.s.clock(), provider_job=job.to_json())
        )
        if stored is None:  # canceled while we were submitting: tell the provider too
            await self._cancel_upstream(task.provider, job)
            return None
        log.info("task submitted", task_id=task_id, provider=task.provider, job=job.job_id)
        return job.to_json()

    async def _hand_over(
        self, task: Task, app: AppSpec, guard: _Guard, *, can_move: bool
    ) -> JobHandle | None:
        """Uploads the inputs and submits the job; None if the task was canceled meanwhile.

        A provider that lost the uploads before the job was in (InputsGone) gets them again.
        """
        for _ in range(UPLOAD_ROUNDS - 1):
            try:
                return await self._upload_and_submit(task, app, guard, can_move=can_move)
            except InputsGone as exc:
                log.info("inputs gone; uploading again", task_id=task.task_id, reason=exc.message)
        return await self._upload_and_submit(task, app, guard, can_move=can_move)

    async def _upload_and_submit(
        self, task: Task, app: AppSpec, guard: _Guard, *, can_move: bool
    ) -> JobHandle | None:
        provider = self.s.providers[task.provider]
        refs: dict[str, str] = {}
        for role, key in task.inputs.items():  # idempotent: as patient as the submit
            async for attempt in self._retrying(task, app, can_move=can_move):
                with attempt:
                    refs[role] = await guard(provider.upload(await self._input_file(role, key)))
        request = JobRequest(
            task_id=task.task_id,
            app=app,
            inputs=refs,
            angle=task.angle,
            params=task.params,
            callback_url=self._callback_url(task),
            attempt=task.attempts + 1,
            idempotency_key=idempotency_key(task),
        )
        # A busy provider (RunningHub's 421) is waited out until the app's deadline, unless
        # the task is canceled meanwhile; with a later route, the task moves on instead.
        async for attempt in self._retrying(task, app, can_move=can_move):
            with attempt:
                # a cancel during the uploads or the back-off creates no job upstream
                if (await self.s.store.get(task.task_id)).status.is_terminal:
                    return None
                return await guard(provider.submit(request), creates_job=True)
        raise AssertionError("unreachable: stamina raises once it stops retrying")

    def _retrying(
        self, task: Task, app: AppSpec, *, can_move: bool
    ) -> AsyncIterator[stamina.Attempt]:
        """Tries of one call: until the app's deadline on the last route, a few otherwise."""
        patience = task.created_at + timedelta(seconds=app.deadline_s) - self.s.clock()
        return stamina.retry_context(
            on=_retryable(can_move),
            attempts=CALL_ATTEMPTS if can_move else None,
            timeout=max(patience.total_seconds(), 1.0),
            wait_initial=self.backoff.initial_s,
            wait_max=self.backoff.max_s,
        )

    async def _fall_back(self, task_id: int, to: str, reason: str) -> dict[str, Any] | None:
        """Records the skip and hands the task to route `to`; None if it finished meanwhile."""
        reason = self.s.redactor.scrub(reason)
        moved = await self.update(
            task_id, lambda t: t.fall_back(now=self.s.clock(), to=to, reason=reason)
        )
        if moved is None:
            return None
        log.info("task falls back", task_id=task_id, to=to, reason=reason)
        return {MOVED: to, "workflow_id": moved.workflow_id}

    def _callback_url(self, task: Task) -> str | None:
        """Where the provider may call us back; only with a public URL, or nobody can reach us."""
        base = self.s.settings.public_url
        if not base or not task.callback_token:
            return None
        return f"{base.rstrip('/')}/webhooks/{task.provider}/{task.task_id}/{task.callback_token}"

    async def _input_file(self, role: str, key: str) -> InputFile:
        extension = key.rsplit(".", 1)[-1]
        return InputFile(
            role=role,
            data=await self.s.blobs.get(key),
            content_type=CONTENT_TYPES.get(extension, "application/octet-stream"),
            extension=extension,
        )

    async def _cancel_upstream(self, provider_name: str, job: JobHandle) -> None:
        try:
            provider = self.s.providers.get(provider_name)
            if provider is not None:
                await provider.cancel(job)
        except ProviderError as exc:
            log.info("provider cancel failed", provider=provider_name, reason=exc.message)
