"""The steps of a task's life after it is queued: submit (submission.py), track, collect.

Each step reads the task from the store and is safe to run again after a crash:
a task with a provider job is not submitted twice, and a finished task is left alone.
The orchestrator (DBOS) checkpoints between steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import stamina
import structlog

from rendergate.domain.errors import JobLost, ProviderError, ProviderUnavailable
from rendergate.domain.task import ResultFile, Task
from rendergate.providers.base import JobHandle, JobPhase, OutputRef, Provider
from rendergate.services.context import Services
from rendergate.services.submission import (
    CALL_ATTEMPTS,
    CONTENT_TYPES,
    Submitter,
    describe,
    readable,
)

log = structlog.get_logger(__name__)

MAX_POLL_INTERVAL_S = 30.0
MAX_HINTED_RETRY_S = 1.0  # once a webhook said the job changed, result URLs are ticking


def fault_backoff(interval: float, *, hinted: bool) -> float:
    """The wait after a failed status call: doubling, but short once a webhook has said the
    job ended, so its results are collected before their signed URLs expire."""
    return min(interval * 2, MAX_HINTED_RETRY_S if hinted else MAX_POLL_INTERVAL_S)


class Outcome:
    SUCCEEDED = "succeeded"
    FINISHED = "finished"  # failed, canceled or timed out: nothing left to do
    LOST = "lost"  # the provider lost the job: submit again
    MOVED = "moved"  # the task fell back to another route, whose own workflow runs it


@dataclass(frozen=True)
class Tracked:
    outcome: str
    outputs: list[dict[str, str]]
    cost: dict[str, Any] | None = None


def provider_progress(phase: JobPhase, progress: int | None) -> int:
    """Maps a provider's own 0-100 onto ours: 1-5 while queued, up to 95 while running."""
    if phase is JobPhase.QUEUED:
        return 2
    return 5 + round(0.9 * max(0, min(progress or 0, 100)))


class TaskRunner(Submitter):
    """The steps of a task's workflow: submit (submission.py), track and collect."""

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self._in_flight: set[asyncio.Task[Any]] = set()

    @contextlib.contextmanager
    def in_flight(self) -> Iterator[None]:
        """Marks the calling asyncio task as running a task's workflow, for `stop`."""
        current = asyncio.current_task()
        if current is None:
            yield
            return
        self._in_flight.add(current)
        try:
            yield
        finally:
            self._in_flight.discard(current)

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Interrupts running workflows before their providers close; they resume on restart."""
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)

    # -- track ----------------------------------------------------------------------------

    async def track(self, task_id: int) -> Tracked:
        """Follows the job until it ends, the task is canceled or the app's deadline passes."""
        task = await self.s.store.get(task_id)
        if task.status.is_terminal:
            return Tracked(Outcome.FINISHED, [])
        if task.provider_job is None:  # forgotten after a lost job: submit again
            return Tracked(Outcome.LOST, [])
        provider = self.s.providers.get(task.provider)
        app = self.s.apps.get(task.app)
        if provider is None or app is None:
            await self.fail(task_id, _unconfigured(task), "config")
            return Tracked(Outcome.FINISHED, [])
        job = JobHandle.from_json(task.provider_job)
        deadline_s = app.deadline_s
        deadline = task.created_at + timedelta(seconds=deadline_s)
        wake = self.s.wakeups.event_for(task_id)
        interval, hinted = 0.5, False
        try:
            while True:
                task = await self.s.store.get(task_id)
                if task.status.is_terminal:  # canceled through the API
                    await self._cancel_upstream(task.provider, job)
                    return Tracked(Outcome.FINISHED, [])
                if self.s.clock() >= deadline:
                    await self._cancel_upstream(task.provider, job)
                    await self.fail(task_id, f"timed out after {deadline_s:g} s", kind="timeout")
                    return Tracked(Outcome.FINISHED, [])
                try:
                    status = await readable(task.provider, provider.status(job))
                except JobLost as exc:
                    log.warning("job lost; submitting again", task_id=task_id, reason=exc.message)
                    await self.update(task_id, lambda t: t.needs_resubmit(now=self.s.clock()))
                    return Tracked(Outcome.LOST, [])
                except ProviderUnavailable as exc:
                    log.info("status unavailable; backing off", task_id=task_id, reason=exc.message)
                    interval = fault_backoff(interval, hinted=hinted)
                else:
                    if status.phase is JobPhase.SUCCEEDED:
                        outputs = [_output_json(o) for o in status.outputs]
                        cost = dict(status.cost) if status.cost else None
                        return Tracked(Outcome.SUCCEEDED, outputs, cost)
                    if status.phase is JobPhase.FAILED:
                        error = status.error or ProviderError("the provider reported a failure")
                        await self.fail(task_id, describe(task.provider, error), error.fault.value)
                        return Tracked(Outcome.FINISHED, [])
                    if status.phase is JobPhase.CANCELED:
                        await self.update(
                            task_id,
                            lambda t: t.cancel(now=self.s.clock(), message="canceled by provider"),
                        )
                        return Tracked(Outcome.FINISHED, [])
                    progress = provider_progress(status.phase, status.progress)
                    position = status.queue_position
                    await self.update(
                        task_id,
                        lambda t, p=progress, q=position: t.report(  # type: ignore[misc]
                            now=self.s.clock(), progress=p, queue_position=q
                        ),
                    )
                    interval = status.poll_after_s or min(interval * 1.5, MAX_POLL_INTERVAL_S)
                remaining = (deadline - self.s.clock()).total_seconds()
                if await self._sleep(wake, min(interval * random.uniform(0.8, 1.2), remaining)):
                    interval, hinted = 0.5, True
        finally:
            self.s.wakeups.forget(task_id)

    @staticmethod
    async def _sleep(wake: asyncio.Event, seconds: float) -> bool:
        """Waits for the next poll, or less when a webhook or cancel wakes us (True)."""
        woken = False
        with contextlib.suppress(TimeoutError):
            woken = await asyncio.wait_for(wake.wait(), timeout=max(0.0, seconds))
        wake.clear()
        return woken

    # -- collect --------------------------------------------------------------------------

    async def collect(self, task_id: int, tracked: Tracked) -> None:
        """Downloads every output, stores our own copy, then completes the task once."""
        task = await self.s.store.get(task_id)
        if task.status.is_terminal or task.provider_job is None:
            return
        provider = self.s.providers.get(task.provider)
        if provider is None:
            await self.fail(task_id, _unconfigured(task), "config")
            return
        job = JobHandle.from_json(task.provider_job)
        if not tracked.outputs:
            await self.fail(task_id, "the provider finished without any output", "provider")
            return
        await self.update(task_id, lambda t: t.report(now=self.s.clock(), progress=96))
        results: list[ResultFile] = []
        done: Task | None = None
        try:
            for index, raw in enumerate(tracked.outputs):
                results.append(await self._rehost(task, provider, job, index, OutputRef(**raw)))
            done = await self.update(
                task_id,
                lambda t: t.complete(now=self.s.clock(), outputs=tuple(results), cost=tracked.cost),
            )
        except JobLost as exc:
            await self.fail(task_id, f"the provider's result is gone: {exc.message}", "provider")
        except ProviderError as exc:
            await self.fail(task_id, describe(task.provider, exc), exc.fault.value)
        finally:
            if done is None:  # failed, or canceled meanwhile: keep no orphan files
                for result in results:
                    await self.s.blobs.delete(result.key)
        if done is not None:
            log.info("task completed", task_id=task_id, outputs=len(results))

    async def _rehost(
        self, task: Task, provider: Provider, job: JobHandle, index: int, output: OutputRef
    ) -> ResultFile:
        """Downloads one output (retried through faults) and stores our own copy."""
        async for attempt in stamina.retry_context(
            on=ProviderUnavailable, attempts=CALL_ATTEMPTS, timeout=300.0
        ):
            with attempt:
                data = await readable(task.provider, provider.download(job, output))
        extension = (output.file_type or "png").lower().lstrip(".")
        key = f"results/{task.task_id}/{index}.{extension}"
        await self.s.blobs.put(key, data)
        return ResultFile(
            key=key,
            content_type=CONTENT_TYPES.get(extension, "application/octet-stream"),
            size=len(data),
            node_id=output.node_id,
            file_type=extension,
        )


def _output_json(output: OutputRef) -> dict[str, str]:
    return {"locator": output.locator, "file_type": output.file_type, "node_id": output.node_id}


def _unconfigured(task: Task) -> str:
    """Settings changed under a running job: say so instead of failing with a KeyError."""
    return (
        f"{task.provider} or app {task.app!r} is no longer configured here; "
        "the job it had started may still run there"
    )
