"""The steps of a task's life after it is queued: submit, track, collect.

Each step reads the task from the store and is safe to run again after a crash:
a task with a provider job is not submitted twice, and a finished task is left alone.
The orchestrator (DBOS) checkpoints between steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import stamina
import structlog

from rendergate.domain.errors import (
    Fault,
    InvalidTransition,
    JobLost,
    ProviderError,
    ProviderUnavailable,
)
from rendergate.domain.task import ResultFile, Task
from rendergate.providers.base import InputFile, JobHandle, JobPhase, JobRequest, OutputRef
from rendergate.services.context import Services

log = structlog.get_logger(__name__)

MAX_POLL_INTERVAL_S = 30.0
CALL_ATTEMPTS = 5
CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
}


class Outcome:
    SUCCEEDED = "succeeded"
    FINISHED = "finished"  # failed, canceled or timed out: nothing left to do
    LOST = "lost"  # the provider lost the job: submit again


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


class TaskRunner:
    def __init__(self, services: Services) -> None:
        self.s = services
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
        log.info("task failed", task_id=task_id, reason=message)
        await self.update(task_id, lambda t: t.fail(now=self.s.clock(), message=message, kind=kind))

    # -- submit ---------------------------------------------------------------------------

    async def submit(self, task_id: int) -> dict[str, Any] | None:
        """Hands the task to its provider once; returns the job handle, None when finished."""
        task = await self.s.store.get(task_id)
        if task.status.is_terminal:
            return None
        if task.provider_job is not None:  # submitted before a crash: never twice
            return dict(task.provider_job)
        provider = self.s.providers[task.provider]
        app = self.s.apps[task.app]
        patience = task.created_at + timedelta(seconds=app.deadline_s) - self.s.clock()
        try:
            refs: dict[str, str] = {}
            for role, key in task.inputs.items():
                async for attempt in stamina.retry_context(
                    on=ProviderUnavailable, attempts=CALL_ATTEMPTS, timeout=300.0
                ):
                    with attempt:
                        refs[role] = await provider.upload(await self._input_file(role, key))
            request = JobRequest(
                task_id=task.task_id,
                app=app,
                inputs=refs,
                angle=task.angle,
                params=task.params,
                callback_url=self._callback_url(task),
                attempt=task.attempts + 1,
            )
            # Busy providers (RunningHub's 421) are waited out until the app's deadline,
            # unless the task is canceled meanwhile.
            async for attempt in stamina.retry_context(
                on=ProviderUnavailable,
                attempts=None,
                timeout=max(patience.total_seconds(), 1.0),
                wait_initial=1.0,
                wait_max=30.0,
            ):
                with attempt:
                    if attempt.num > 1 and (await self.s.store.get(task_id)).status.is_terminal:
                        return None
                    job = await provider.submit(request)
        except ProviderError as exc:
            await self.fail(task_id, _describe(task.provider, exc), kind=exc.fault.value)
            return None
        stored = await self.update(
            task_id, lambda t: t.start(now=self.s.clock(), provider_job=job.to_json())
        )
        if stored is None:  # canceled while we were submitting: tell the provider too
            await self._cancel_upstream(task.provider, job)
            return None
        log.info("task submitted", task_id=task_id, provider=task.provider, job=job.job_id)
        return job.to_json()

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

    # -- track ----------------------------------------------------------------------------

    async def track(self, task_id: int) -> Tracked:
        """Follows the job until it ends, the task is canceled or the app's deadline passes."""
        task = await self.s.store.get(task_id)
        if task.status.is_terminal:
            return Tracked(Outcome.FINISHED, [])
        if task.provider_job is None:  # forgotten after a lost job: submit again
            return Tracked(Outcome.LOST, [])
        provider = self.s.providers[task.provider]
        job = JobHandle.from_json(task.provider_job)
        deadline_s = self.s.apps[task.app].deadline_s
        deadline = task.created_at + timedelta(seconds=deadline_s)
        wake = self.s.wakeups.event_for(task_id)
        interval = 0.5
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
                    status = await provider.status(job)
                except JobLost as exc:
                    log.warning("job lost; submitting again", task_id=task_id, reason=exc.message)
                    await self.update(task_id, lambda t: t.needs_resubmit(now=self.s.clock()))
                    return Tracked(Outcome.LOST, [])
                except ProviderUnavailable as exc:
                    log.info("status unavailable; backing off", task_id=task_id, reason=exc.message)
                    interval = min(interval * 2, MAX_POLL_INTERVAL_S)
                else:
                    if status.phase is JobPhase.SUCCEEDED:
                        outputs = [_output_json(o) for o in status.outputs]
                        cost = dict(status.cost) if status.cost else None
                        return Tracked(Outcome.SUCCEEDED, outputs, cost)
                    if status.phase is JobPhase.FAILED:
                        error = status.error or ProviderError("the provider reported a failure")
                        await self.fail(task_id, _describe(task.provider, error), error.fault.value)
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
                await self._sleep(wake, min(interval * random.uniform(0.8, 1.2), remaining))
        finally:
            self.s.wakeups.forget(task_id)

    @staticmethod
    async def _sleep(wake: asyncio.Event, seconds: float) -> None:
        """Waits for the next poll, or less when a webhook or cancel wakes us."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=max(0.0, seconds))
        wake.clear()

    async def _cancel_upstream(self, provider_name: str, job: JobHandle) -> None:
        try:
            await self.s.providers[provider_name].cancel(job)
        except ProviderError as exc:
            log.info("provider cancel failed", provider=provider_name, reason=exc.message)

    # -- collect --------------------------------------------------------------------------

    async def collect(self, task_id: int, tracked: Tracked) -> None:
        """Downloads every output, stores our own copy, then completes the task once."""
        task = await self.s.store.get(task_id)
        if task.status.is_terminal or task.provider_job is None:
            return
        provider = self.s.providers[task.provider]
        job = JobHandle.from_json(task.provider_job)
        if not tracked.outputs:
            await self.fail(task_id, "the provider finished without any output", "provider")
            return
        await self.update(task_id, lambda t: t.report(now=self.s.clock(), progress=96))
        results: list[ResultFile] = []
        try:
            for index, raw in enumerate(tracked.outputs):
                output = OutputRef(**raw)
                async for attempt in stamina.retry_context(
                    on=ProviderUnavailable, attempts=CALL_ATTEMPTS, timeout=300.0
                ):
                    with attempt:
                        data = await provider.download(job, output)
                extension = (output.file_type or "png").lower().lstrip(".")
                key = f"results/{task_id}/{index}.{extension}"
                await self.s.blobs.put(key, data)
                results.append(
                    ResultFile(
                        key=key,
                        content_type=CONTENT_TYPES.get(extension, "application/octet-stream"),
                        size=len(data),
                        node_id=output.node_id,
                        file_type=extension,
                    )
                )
        except JobLost as exc:
            await self.fail(task_id, f"the provider's result is gone: {exc.message}", "provider")
            return
        except ProviderError as exc:
            await self.fail(task_id, _describe(task.provider, exc), exc.fault.value)
            return
        done = await self.update(
            task_id,
            lambda t: t.complete(now=self.s.clock(), outputs=tuple(results), cost=tracked.cost),
        )
        if done is not None:
            log.info("task completed", task_id=task_id, outputs=len(results))


def _output_json(output: OutputRef) -> dict[str, str]:
    return {"locator": output.locator, "file_type": output.file_type, "node_id": output.node_id}


def _describe(provider: str, error: ProviderError) -> str:
    prefix = "the inputs were refused" if error.fault is Fault.USER else f"{provider} failed"
    return f"{prefix}: {error.message}"
