"""One look at followed jobs (tracker.py): read the row if a cancel may have come, enforce
the deadline, ask the provider within its budget, and act on the answer. A provider that
answers together (AnswersTogether) is asked once for all its jobs due in a round; each
answer is then acted on as a lone job's is. Also the job's record and the rules they share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from rendergate.domain.errors import JobLost, ProviderError, ProviderUnavailable
from rendergate.domain.task import ErrorKind, JobHandle, Task
from rendergate.domain.values import bounded_cost
from rendergate.providers.base import (
    JobPhase,
    JobStatus,
    Provider,
    poll_interval_capability,
    together_capability,
)
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
TOGETHER_MAX = 256  # jobs in one status call, for a provider that answers together
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
    running_at: float | None = None  # seconds after submit of the last answer "not yet"
    answers_every: float | None = None  # AnswersFromMemory's interval, read once
    together: bool = False  # its provider answers for many jobs at once (AnswersTogether)

    @property
    def age(self) -> float:
        """Seconds since the job was submitted, on the loop's clock."""
        return asyncio.get_running_loop().time() - self.submitted

    @property
    def webhook(self) -> bool:
        return bool(self.handle.data.get("webhook"))

    @property
    def app_key(self) -> str:
        return f"{self.task.provider}:{self.handle.data.get('app') or self.task.app}"


class JobChecks:
    """What a look at a job uses: the task writer, the app's run times, the progress
    rounds, and a budget of status calls at once per provider."""

    def __init__(
        self,
        writer: TaskWriter,
        progress: ProgressWrites,
        observe: CallObserver | None = None,
        status_calls: int = STATUS_CALLS,
    ) -> None:
        self.writer, self.progress, self.observe = writer, progress, observe
        self.run_times = RunTimes()
        self._status_calls = status_calls
        self._budgets: dict[str, asyncio.Semaphore] = {}

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.writer.clock

    def first_wait(self, job: Job, *, recovered: bool) -> float:
        """How soon a job just handed over is first asked about."""
        job.answers_every = job.hint_s = poll_interval_capability(job.provider)
        job.together = together_capability(job.provider) is not None
        if job.hint_s is not None:
            return 0.0  # it answers from memory: at once, then as often as it says
        return FIRST_POLL_S if recovered else self.plan(job)

    def next_wait(self, job: Job) -> float:
        return job.backoff_s or self.plan(job, job.hint_s)

    def plan(self, job: Job, hint_s: float | None = None) -> float:
        expected = self.run_times.expected(job.app_key)
        return next_poll_s(job.age, expected, webhook=job.webhook and not job.hinted, hint_s=hint_s)

    async def look(self, jobs: Sequence[Job]) -> list[Tracked | Exception | None]:
        """One decision about each job of a round (one job, or those of a provider that
        answers together): how its tracking ends, None to ask again later, or the error
        that ends it. The provider is asked once, within its budget, for all of them."""
        if len(jobs) == 1:  # the usual case, without a task per job
            return [await _caught(self._look_alone(jobs[0]))]
        before = await _each(self._before_asking, jobs)
        asking = [job for job, seen in zip(jobs, before, strict=True) if seen is None]
        answers = dict(zip(asking, await self._ask(asking), strict=True)) if asking else {}
        after = iter(await _each(lambda job: self._on_answer(job, answers[job]), asking))
        return [next(after) if seen is None else seen for seen in before]

    async def _look_alone(self, job: Job) -> Tracked | None:
        if (ended := await self._before_asking(job)) is not None:
            return ended
        [answer] = await self._ask([job])
        return await self._on_answer(job, answer)

    async def _before_asking(self, job: Job) -> Tracked | None:
        """How tracking ends without asking (canceled through the API, or too late), or None."""
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
        return None

    async def _ask(self, jobs: Sequence[Job]) -> list[JobStatus | ProviderError]:
        """One status call within the provider's budget: each job's answer or its error."""
        name, provider = jobs[0].task.provider, jobs[0].provider
        together = together_capability(provider) if len(jobs) > 1 else None
        try:
            async with self._budget(name):
                if together is None:
                    call = provider.status(jobs[0].handle)
                    return [await readable(name, call, observe=self.observe)]
                handles = [job.handle for job in jobs]
                answers = await readable(name, together.statuses(handles), observe=self.observe)
        except ProviderError as exc:
            return [exc] * len(jobs)
        missing = ProviderUnavailable(f"{name} did not answer for the job")
        return [answers.get(job.handle.job_id, missing) for job in jobs]

    async def _on_answer(self, job: Job, answer: JobStatus | ProviderError) -> Tracked | None:
        if isinstance(answer, JobLost):
            log.warning(
                "job lost; submitting again", task_id=job.task.task_id, reason=answer.message
            )
            await self.writer.apply(job.task.task_id, lambda t: t.needs_resubmit(now=self.clock()))
            return Tracked(TrackOutcome.LOST)
        if isinstance(answer, ProviderUnavailable):
            log.info(
                "status unavailable; backing off", task_id=job.task.task_id, reason=answer.message
            )
            job.backoff_s = fault_backoff(job.backoff_s, hinted=job.hinted)
            return None
        if isinstance(answer, ProviderError):
            raise answer
        job.backoff_s = 0.0
        return await self._on_status(job, answer)

    def _budget(self, provider: str) -> asyncio.Semaphore:
        budget = self._budgets.get(provider)
        if budget is None:
            budget = self._budgets[provider] = asyncio.Semaphore(self._status_calls)
        return budget

    async def _on_status(self, job: Job, status: JobStatus) -> Tracked | None:
        task_id = job.task.task_id
        if status.phase is JobPhase.SUCCEEDED:
            self.run_times.record(job.app_key, self._run_time(job))
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
        job.running_at = job.age
        now = asyncio.get_running_loop().time()
        self.progress.report(job, self._progress_of(job, status), status.queue_position, now)
        job.hint_s = status.poll_after_s or job.answers_every
        return None

    def _run_time(self, job: Job) -> float:
        """When the job ended, as near as we know: with a webhook, now; found by a poll,
        halfway between the last answer that it ran and this one."""
        if job.hinted or job.running_at is None:
            return job.age
        return (job.running_at + job.age) / 2

    def _progress_of(self, job: Job, status: JobStatus) -> int:
        """The provider's progress, or, where it gives none while running, an estimate from
        the time since submit against the app's recent run times."""
        expected = self.run_times.expected(job.app_key)
        if status.phase is JobPhase.RUNNING and status.progress is None and expected:
            return provider_progress(status.phase, min(99, int(100 * job.age / expected.typical)))
        return provider_progress(status.phase, status.progress)


def rounds(due: Sequence[Job]) -> list[list[Job]]:
    """The looks to start for the jobs now due: the jobs of a provider that answers together
    in lists of up to TOGETHER_MAX, every other job alone."""
    alone: list[list[Job]] = []
    together: dict[int, list[Job]] = {}
    for job in due:
        if job.together:
            together.setdefault(id(job.provider), []).append(job)
        else:
            alone.append([job])
    for jobs in together.values():
        alone.extend(jobs[i : i + TOGETHER_MAX] for i in range(0, len(jobs), TOGETHER_MAX))
    return alone


async def _caught(look: Awaitable[Tracked | None]) -> Tracked | Exception | None:
    try:
        return await look
    except Exception as exc:
        return exc


async def _each(
    look: Callable[[Job], Awaitable[Tracked | None]], jobs: Sequence[Job]
) -> list[Tracked | Exception | None]:
    """`look` run for every job at once, each one's error kept as its own."""
    return list(await asyncio.gather(*(_caught(look(job)) for job in jobs)))


def submitted_at(task: Task, handle: JobHandle, now: datetime, loop_now: float) -> float:
    """The loop time of the job's submit: the adapter's record if it keeps one, else the
    task's last write (its start, for a job just submitted)."""
    given = handle.data.get("submitted_at")
    if isinstance(given, int | float):
        return loop_now - max(0.0, time.time() - float(given))
    return loop_now - max(0.0, (now - task.updated_at).total_seconds())
