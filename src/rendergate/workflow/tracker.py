"""One tracker per worker: follows every job this process's workflows submitted.

Each task's workflow still holds its provider's queue slot and is the unit of recovery:
its track step hands the job here (`follow`) and waits for the outcome. The tracker keeps
each job in memory, read once, and asks providers on one timer heap, when the poll plan
says (poll_plan.py), within a budget of status calls at once per provider. A webhook or
a cancel wakes the job at once. Progress is written in coalesced rounds
(progress_writes.py), and one set-based read every SWEEP_S finds the tasks that ended
through the API, should a cancel's wake be lost. Nothing runs while nothing is followed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from rendergate.domain.errors import JobLost, ProviderError, ProviderUnavailable
from rendergate.domain.task import ErrorKind, JobHandle, Task
from rendergate.domain.values import bounded_cost
from rendergate.providers.base import JobPhase, JobStatus, Provider, poll_interval_capability
from rendergate.services.context import Wakeups
from rendergate.services.ports import Wake
from rendergate.services.writer import TaskWriter
from rendergate.workflow.outcomes import FINISHED_TRACK, Tracked, TrackOutcome, succeeded
from rendergate.workflow.poll_plan import FIRST_POLL_S, RunTimes, next_poll_s
from rendergate.workflow.progress_writes import ProgressWrites
from rendergate.workflow.provider_calls import (
    CallObserver,
    cancel_upstream,
    failure_message,
    readable,
)

log = structlog.get_logger(__name__)

STATUS_CALLS = 16  # status calls at once per provider
SWEEP_S = 10.0  # how often the tasks followed are checked for an end through the API
RECOVERED_S = 10.0  # a job submitted longer ago than this was followed elsewhere before
MAX_POLL_INTERVAL_S = 30.0
MAX_HINTED_RETRY_S = 1.0  # once a webhook said the job changed, result URLs are ticking


def fault_backoff(interval: float, *, hinted: bool) -> float:
    """The wait after a failed status call: doubling, but short once a webhook has said the
    job ended, so its results are collected before their signed URLs expire."""
    return min(
        max(interval, FIRST_POLL_S) * 2, MAX_HINTED_RETRY_S if hinted else MAX_POLL_INTERVAL_S
    )


def provider_progress(phase: JobPhase, progress: int | None) -> int:
    """Maps a provider's own 0-100 onto ours: 1-5 while queued, up to 95 while running."""
    if phase is JobPhase.QUEUED:
        return 2
    return 5 + round(0.9 * max(0, min(progress or 0, 100)))


@dataclass(eq=False)
class Job:
    """One job followed: the task as last read or written, and when to ask next."""

    task: Task
    provider: Provider
    handle: JobHandle
    deadline: datetime
    timeout_message: str
    submitted: float  # loop time of the submit, as near as is known
    done: asyncio.Future[Tracked] = field(default_factory=asyncio.Future)
    due: float = 0.0
    polling: bool = False
    again: bool = False  # woken while a poll was under way: ask once more after it
    hinted: bool = False  # a webhook has come: the job has changed
    check_row: bool = False  # a cancel may have come: read the row before asking
    backoff_s: float = 0.0  # the wait after the last call, if it failed
    hint_s: float | None = None  # the provider's own word on when to ask again

    @property
    def webhook(self) -> bool:
        return bool(self.handle.data.get("webhook"))

    @property
    def app_key(self) -> str:
        return f"{self.task.provider}:{self.handle.data.get('app') or self.task.app}"


class Tracker:
    def __init__(
        self,
        *,
        writer: TaskWriter,
        wakeups: Wakeups,
        observe: CallObserver | None = None,
        status_calls: int = STATUS_CALLS,
        sweep_s: float = SWEEP_S,
        flush_s: float | None = None,
    ) -> None:
        self.writer, self.wakeups, self.observe = writer, wakeups, observe
        self.progress = (
            ProgressWrites(writer, flush_s) if flush_s is not None else ProgressWrites(writer)
        )
        self.run_times = RunTimes()
        self._jobs: dict[int, Job] = {}
        self._heap: list[tuple[float, int, int]] = []  # (due, tie-break, task id)
        self._ties = itertools.count()
        self._status_calls, self._sweep_s = status_calls, sweep_s
        self._budgets: dict[str, asyncio.Semaphore] = {}
        self._kick = asyncio.Event()
        self._running: asyncio.Task[None] | None = None
        self._polls: set[asyncio.Task[None]] = set()

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.writer.clock

    @property
    def following(self) -> int:
        return len(self._jobs)

    async def follow(self, job: Job) -> Tracked:
        """Follows the job until it ends, the task ends, or its deadline passes."""
        task_id = job.task.task_id
        self._jobs[task_id] = job
        loop = asyncio.get_running_loop()
        job.hint_s = poll_interval_capability(job.provider)
        recovered = loop.time() - job.submitted > RECOVERED_S
        first = FIRST_POLL_S if recovered else self._plan(job, job.hint_s)
        self._schedule(job, 0.0 if job.hint_s is not None else first, loop.time())
        for reason in self.wakeups.follow(task_id, lambda reason: self._woken(job, reason)):
            self._woken(job, reason)
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._run(), name="rendergate.tracker")
        try:
            return await job.done
        finally:
            self._drop(job)

    def _drop(self, job: Job) -> None:
        task_id = job.task.task_id
        if self._jobs.get(task_id) is job:
            del self._jobs[task_id]
            self.wakeups.forget(task_id)
            self.progress.discard(task_id)

    async def aclose(self) -> None:
        """Stops asking; the jobs' workflows are interrupted by their runner (TaskRunner)."""
        tasks = [*self._polls, *([self._running] if self._running else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the timer heap -------------------------------------------------------------------

    def _schedule(self, job: Job, wait_s: float, now: float) -> None:
        remaining = (job.deadline - self.clock()).total_seconds()
        job.due = now + max(0.0, min(wait_s * random.uniform(0.9, 1.1), remaining))
        heapq.heappush(self._heap, (job.due, next(self._ties), job.task.task_id))
        if job.due <= self._heap[0][0]:
            self._kick.set()

    def _woken(self, job: Job, reason: Wake) -> None:
        if reason in (Wake.WEBHOOK, Wake.RECONNECTED):
            job.hinted = True
        if reason in (Wake.CANCEL, Wake.RECONNECTED):
            job.check_row = True
        if job.polling:
            job.again = True
        elif self._jobs.get(job.task.task_id) is job:
            self._schedule(job, 0.0, asyncio.get_running_loop().time())

    async def _run(self) -> None:
        """Starts each job's poll when due, flushes progress and sweeps, until no job is left."""
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + self._sweep_s
        while self._jobs or self.progress.pending:
            now = loop.time()
            self._start_due(now)
            if self.progress.due(now):
                for job in await self.progress.flush():
                    self._woken(job, Wake.CANCEL)  # another writer moved it: read it again
            if now >= next_sweep:
                await self._sweep()
                next_sweep = now + self._sweep_s
            await self._wait_until(min(self._next_due(), next_sweep, self.progress.next_at()))

    async def _sweep(self) -> None:
        """The safety net under cancels' wakes: one read for every task followed here."""
        for task_id in await self.writer.store.ended(list(self._jobs)):
            if (job := self._jobs.get(task_id)) is not None:
                self._woken(job, Wake.CANCEL)

    def _start_due(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            due, _, task_id = heapq.heappop(self._heap)
            job = self._jobs.get(task_id)
            if job is None or job.due != due or job.polling:
                continue  # ended, or moved since
            job.polling = True
            poll = asyncio.create_task(self._poll(job))
            self._polls.add(poll)
            poll.add_done_callback(self._polls.discard)
        if len(self._heap) > 4 * len(self._jobs) + 64:  # drop the moved entries
            self._heap = [(j.due, next(self._ties), i) for i, j in self._jobs.items()]
            heapq.heapify(self._heap)

    def _next_due(self) -> float:
        return self._heap[0][0] if self._heap else float("inf")

    async def _wait_until(self, when: float) -> None:
        loop = asyncio.get_running_loop()
        if when <= loop.time():
            return
        self._kick.clear()
        timer = loop.call_at(when, self._kick.set) if when != float("inf") else None
        try:
            await self._kick.wait()
        finally:
            if timer is not None:
                timer.cancel()

    # -- one look at one job --------------------------------------------------------------

    async def _poll(self, job: Job) -> None:
        try:
            ended = await self._look(job)
        except BaseException as exc:
            if not job.done.done():
                job.done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            job.polling = False
        if ended is not None:
            self._end(job, ended)
        elif self._jobs.get(job.task.task_id) is job:
            now = asyncio.get_running_loop().time()
            if job.again:
                job.again, wait = False, 0.0
            else:
                wait = job.backoff_s or self._plan(job, job.hint_s)
            self._schedule(job, wait, now)

    def _end(self, job: Job, tracked: Tracked) -> None:
        self._drop(job)
        if not job.done.done():
            job.done.set_result(tracked)

    def _plan(self, job: Job, hint_s: float | None) -> float:
        elapsed = asyncio.get_running_loop().time() - job.submitted
        expected = self.run_times.expected(job.app_key)
        return next_poll_s(elapsed, expected, webhook=job.webhook and not job.hinted, hint_s=hint_s)

    async def _look(self, job: Job) -> Tracked | None:
        """One decision about the job: how tracking ends, or None to ask again later."""
        if job.check_row:
            job.check_row = False
            job.task = await self.writer.store.get(job.task.task_id)
            if job.task.status.is_terminal:  # canceled through the API
                await cancel_upstream(job.provider, job.handle)
                return FINISHED_TRACK
        if self.clock() >= job.deadline:
            await cancel_upstream(job.provider, job.handle)
            await self.writer.fail(job.task.task_id, job.timeout_message, ErrorKind.TIMEOUT)
            return FINISHED_TRACK
        budget = self._budgets.setdefault(job.task.provider, asyncio.Semaphore(self._status_calls))
        try:
            async with budget:
                status = await readable(
                    job.task.provider, job.provider.status(job.handle), observe=self.observe
                )
        except JobLost as exc:
            log.warning("job lost; submitting again", task_id=job.task.task_id, reason=exc.message)
            await self.writer.apply(job.task.task_id, lambda t: t.needs_resubmit(now=self.clock()))
            return Tracked(TrackOutcome.LOST)
        except ProviderUnavailable as exc:
            log.info(
                "status unavailable; backing off", task_id=job.task.task_id, reason=exc.message
            )
            job.backoff_s = fault_backoff(job.backoff_s, hinted=job.hinted)
            return None
        job.backoff_s = 0.0
        return await self._on_status(job, status)

    async def _on_status(self, job: Job, status: JobStatus) -> Tracked | None:
        task_id = job.task.task_id
        if status.phase is JobPhase.SUCCEEDED:
            elapsed = asyncio.get_running_loop().time() - job.submitted
            self.run_times.record(job.app_key, elapsed)
            return succeeded(status.outputs, status.cost)
        if status.phase is JobPhase.FAILED:
            error = status.error or ProviderError("the provider reported a failure")
            message = failure_message(job.task.provider, error)
            kind, cost = ErrorKind.of(error.fault), bounded_cost(status.cost)
            await self.writer.fail(task_id, message, kind, cost)
            return FINISHED_TRACK
        if status.phase is JobPhase.CANCELED:
            canceled = "canceled by provider"
            await self.writer.apply(task_id, lambda t: t.cancel(now=self.clock(), message=canceled))
            return FINISHED_TRACK
        job.hinted = False  # asked since the webhook: it said nothing has ended
        now = asyncio.get_running_loop().time()
        self.progress.report(job, self._progress_of(job, status), status.queue_position, now)
        job.hint_s = status.poll_after_s or poll_interval_capability(job.provider)
        return None

    def _progress_of(self, job: Job, status: JobStatus) -> int:
        """The provider's progress, or, where it gives none while running, an estimate from
        the time since submit against the app's recent run times."""
        expected = self.run_times.expected(job.app_key)
        if status.phase is JobPhase.RUNNING and status.progress is None and expected:
            elapsed = asyncio.get_running_loop().time() - job.submitted
            return provider_progress(status.phase, min(99, int(100 * elapsed / expected.typical)))
        return provider_progress(status.phase, status.progress)


def submitted_at(task: Task, handle: JobHandle, now: datetime, loop_now: float) -> float:
    """The loop time of the job's submit: the adapter's record if it keeps one, else the
    task's last write (its start, for a job just submitted)."""
    given = handle.data.get("submitted_at")
    if isinstance(given, int | float):
        return loop_now - max(0.0, time.time() - float(given))
    return loop_now - max(0.0, (now - task.updated_at).total_seconds())
