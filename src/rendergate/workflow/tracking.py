"""The track step: follows a submitted job until it ends, the task is canceled, or the app's
deadline passes. Each poll (`_poll_once`) is one decision; the loop only sleeps between them,
and wakes early when a webhook or a cancel arrives."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog

from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import JobLost, ProviderError, ProviderUnavailable
from rendergate.domain.task import ErrorKind, JobHandle, Task
from rendergate.domain.values import bounded_cost
from rendergate.providers.base import JobPhase, JobStatus, Provider, webhook_capability
from rendergate.services.context import Wakeups
from rendergate.services.ports import Wake
from rendergate.services.writer import TaskWriter
from rendergate.workflow.outcomes import FINISHED_TRACK, Tracked, TrackOutcome, succeeded
from rendergate.workflow.provider_calls import (
    CallObserver,
    cancel_upstream,
    failure_message,
    readable,
)

log = structlog.get_logger(__name__)

FIRST_POLL_S = 0.5
MAX_POLL_INTERVAL_S = 30.0
MAX_HINTED_RETRY_S = 1.0  # once a webhook said the job changed, result URLs are ticking


def fault_backoff(interval: float, *, hinted: bool) -> float:
    """The wait after a failed status call: doubling, but short once a webhook has said the
    job ended, so its results are collected before their signed URLs expire."""
    return min(interval * 2, MAX_HINTED_RETRY_S if hinted else MAX_POLL_INTERVAL_S)


def provider_progress(phase: JobPhase, progress: int | None) -> int:
    """Maps a provider's own 0-100 onto ours: 1-5 while queued, up to 95 while running."""
    if phase is JobPhase.QUEUED:
        return 2
    return 5 + round(0.9 * max(0, min(progress or 0, 100)))


@dataclass
class _Job:
    """One job being followed: where, until when, and how often to ask."""

    task_id: int
    provider_name: str
    provider: Provider
    handle: JobHandle
    deadline: datetime
    timeout_message: str
    interval: float = FIRST_POLL_S
    hinted: bool = False  # a webhook (or a cancel) has woken us


class TrackStep:
    def __init__(
        self,
        *,
        writer: TaskWriter,
        providers: Mapping[str, Provider],
        apps: Mapping[str, AppSpec],
        wakeups: Wakeups,
        observe: CallObserver | None = None,
    ) -> None:
        self.writer = writer
        self.observe = observe
        self.providers = providers
        self.apps = apps
        self.wakeups = wakeups

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.writer.clock

    async def __call__(self, task_id: int) -> Tracked:
        task = await self.writer.read(task_id)
        if task.status.is_terminal:
            return FINISHED_TRACK
        if task.provider_job is None:  # forgotten after a lost job: submit again
            return Tracked(TrackOutcome.LOST)
        job = await self._follow(task, task.provider_job)
        if job is None:
            return FINISHED_TRACK
        wake = self.wakeups.event_for(task_id)
        try:
            while True:
                tracked = await self._poll_once(job)
                if tracked is not None:
                    return tracked
                remaining = (job.deadline - self.clock()).total_seconds()
                pause = min(job.interval * random.uniform(0.8, 1.2), remaining)
                if await _sleep(wake, pause):
                    job.interval, job.hinted = FIRST_POLL_S, True
                    self._heard(job, self.wakeups.take(task_id))
        finally:
            self.wakeups.forget(task_id)

    @staticmethod
    def _heard(job: _Job, reasons: set[Wake]) -> None:
        """A webhook (or wakes that may have been one) reached this process: the adapter
        asks the provider on the next poll instead of answering from an estimate."""
        listener = webhook_capability(job.provider)
        if listener is not None and reasons & {Wake.WEBHOOK, Wake.RECONNECTED}:
            listener.heard(job.handle)

    async def _follow(self, task: Task, handle: JobHandle) -> _Job | None:
        provider, app = self.providers.get(task.provider), self.apps.get(task.app)
        if provider is None or app is None:
            await self.writer.fail(task.task_id, unconfigured(task), ErrorKind.CONFIG)
            return None
        deadline = app.deadline(task.created_at, task.deadline_s)
        message = deadline.message(app)
        return _Job(task.task_id, task.provider, provider, handle, deadline.at, message)

    async def _poll_once(self, job: _Job) -> Tracked | None:
        """One look at the task and the job: how tracking ends, or None to poll again."""
        task = await self.writer.store.get(job.task_id)
        if task.status.is_terminal:  # canceled through the API
            await cancel_upstream(job.provider, job.handle)
            return FINISHED_TRACK
        if self.clock() >= job.deadline:
            await cancel_upstream(job.provider, job.handle)
            await self.writer.fail(job.task_id, job.timeout_message, ErrorKind.TIMEOUT)
            return FINISHED_TRACK
        try:
            status = await readable(
                job.provider_name, job.provider.status(job.handle), observe=self.observe
            )
        except JobLost as exc:
            log.warning("job lost; submitting again", task_id=job.task_id, reason=exc.message)
            await self.writer.apply(job.task_id, lambda t: t.needs_resubmit(now=self.clock()))
            return Tracked(TrackOutcome.LOST)
        except ProviderUnavailable as exc:
            log.info("status unavailable; backing off", task_id=job.task_id, reason=exc.message)
            job.interval = fault_backoff(job.interval, hinted=job.hinted)
            return None
        return await self._on_status(job, status)

    async def _on_status(self, job: _Job, status: JobStatus) -> Tracked | None:
        if status.phase is JobPhase.SUCCEEDED:
            return succeeded(status.outputs, status.cost)
        if status.phase is JobPhase.FAILED:
            error = status.error or ProviderError("the provider reported a failure")
            message = failure_message(job.provider_name, error)
            kind, cost = ErrorKind.of(error.fault), bounded_cost(status.cost)
            await self.writer.fail(job.task_id, message, kind, cost)
            return FINISHED_TRACK
        if status.phase is JobPhase.CANCELED:
            canceled = "canceled by provider"
            await self.writer.apply(
                job.task_id, lambda t: t.cancel(now=self.clock(), message=canceled)
            )
            return FINISHED_TRACK
        progress = provider_progress(status.phase, status.progress)
        await self.writer.apply(
            job.task_id,
            lambda t: t.report(
                now=self.clock(), progress=progress, queue_position=status.queue_position
            ),
        )
        job.interval = status.poll_after_s or min(job.interval * 1.5, MAX_POLL_INTERVAL_S)
        return None


async def _sleep(wake: asyncio.Event, seconds: float) -> bool:
    """Waits for the next poll, or less when a webhook or cancel wakes us (True). A wake
    that lands as the wait times out still counts: the event is read, not the wait."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=max(0.0, seconds))
    woken = wake.is_set()
    wake.clear()
    return woken


def unconfigured(task: Task) -> str:
    """Settings changed under a running job: say so instead of failing with a KeyError."""
    return (
        f"{task.provider} or app {task.app!r} is no longer configured here; "
        "the job it had started may still run there"
    )
