"""One tracker per worker: follows every job this process's workflows submitted.

Each task's workflow still holds its provider's queue slot and is the unit of recovery:
its track step hands the job here (`follow`) and waits for the outcome. The tracker keeps
each job in memory, read once, and asks providers on one timer heap, when the poll plan
says (poll_plan.py); each look (job_checks.py) asks within a per-provider budget, and the
jobs of a provider that answers together (ComfyUI), planned on a shared beat, are asked
in one call when due together. A webhook or a cancel wakes the job at once. Progress is
written in coalesced rounds (progress_writes.py), and one set-based read every SWEEP_S finds
the tasks that ended through the API, should a cancel's wake be lost. Nothing runs while
nothing is followed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections.abc import Callable
from datetime import datetime

import structlog

from rendergate.services.context import Wakeups
from rendergate.services.ports import Wake
from rendergate.services.writer import TaskWriter
from rendergate.workflow.job_checks import STATUS_CALLS, Job, JobChecks, rounds
from rendergate.workflow.outcomes import Tracked
from rendergate.workflow.progress_writes import FLUSH_S, ProgressWrites
from rendergate.workflow.provider_calls import CallObserver

log = structlog.get_logger(__name__)

SWEEP_S = 10.0  # how often the tasks followed are checked for an end through the API
RECOVERED_S = 10.0  # a job submitted longer ago than this was followed elsewhere before
BEAT_S = 0.5  # the beat planned asks of a provider that answers together fall on


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
        self.writer, self.wakeups = writer, wakeups
        self.progress = ProgressWrites(writer, flush_s or FLUSH_S)
        self.checks = JobChecks(writer, self.progress, observe, status_calls)
        self._jobs: dict[int, Job] = {}
        self._heap: list[tuple[float, int, int]] = []  # (due, tie-break, task id)
        self._ties = itertools.count()
        self._sweep_s = sweep_s
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
        recovered = job.age > RECOVERED_S
        wait = self.checks.first_wait(job, recovered=recovered)
        self._schedule(job, wait, loop.time(), planned=True)
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

    def _schedule(self, job: Job, wait_s: float, now: float, *, planned: bool = False) -> None:
        """Puts the job on the heap. A planned ask of a provider that answers together falls
        on the nearest beat, so the jobs due about then are asked in one call."""
        remaining = max(0.0, (job.deadline - self.clock()).total_seconds())
        if planned and job.together:
            beat = round((now + wait_s) / BEAT_S) * BEAT_S
            job.due = min(beat if beat > now else beat + BEAT_S, now + remaining)
        else:
            job.due = now + min(wait_s * random.uniform(0.9, 1.1), remaining)
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
                for job in await self.progress.flush(now):
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
        due: list[Job] = []
        while self._heap and self._heap[0][0] <= now:
            when, _, task_id = heapq.heappop(self._heap)
            job = self._jobs.get(task_id)
            if job is None or job.due != when or job.polling:
                continue  # ended, or moved since
            job.polling = True
            due.append(job)
        for jobs in rounds(due):
            poll = asyncio.create_task(self._poll(jobs))
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

    async def _poll(self, jobs: list[Job]) -> None:
        try:
            looked = await self.checks.look(jobs)
        except BaseException as exc:
            for job in jobs:
                job.polling = False
                if not job.done.done():
                    job.done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for job, ended in zip(jobs, looked, strict=True):
            job.polling = False
            self._after(job, ended)

    def _after(self, job: Job, ended: Tracked | Exception | None) -> None:
        """Ends the job's tracking, or asks again when the plan says."""
        if isinstance(ended, Exception):
            if not job.done.done():
                job.done.set_exception(ended)
        elif ended is not None:
            self._end(job, ended)
        elif self._jobs.get(job.task.task_id) is job:
            now = asyncio.get_running_loop().time()
            if job.again:
                job.again, wait = False, 0.0
            else:
                wait = self.checks.next_wait(job)
            self._schedule(job, wait, now, planned=True)

    def _end(self, job: Job, tracked: Tracked) -> None:
        self._drop(job)
        if not job.done.done():
            job.done.set_result(tracked)
