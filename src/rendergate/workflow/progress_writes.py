"""Progress, written in rounds: the tracker's jobs report it as often as their providers
answer, and each task's latest word is written FLUSH_S after its first, at most once every
MIN_GAP_S, touching only what changed. A job that ends before its round writes no progress
at all: its end write says more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from rendergate.domain.errors import InvalidTransition
from rendergate.services.writer import TaskWriter

if TYPE_CHECKING:
    from rendergate.workflow.job_checks import Job

log = structlog.get_logger(__name__)

FLUSH_S = 1.0  # a report waits this long for later ones of the same task
MIN_GAP_S = 3.0  # and a task's progress is written at most this often


@dataclass
class _Report:
    job: Job
    progress: int
    queue_position: int | None
    due_at: float  # loop time


class ProgressWrites:
    def __init__(
        self, writer: TaskWriter, flush_s: float = FLUSH_S, min_gap_s: float = MIN_GAP_S
    ) -> None:
        self.writer, self.flush_s, self.min_gap_s = writer, flush_s, min_gap_s
        self._pending: dict[int, _Report] = {}
        self._written_at: dict[int, float] = {}  # task id -> loop time of its last write
        self._next = float("inf")  # the earliest due report

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def report(self, job: Job, progress: int, queue_position: int | None, now: float) -> None:
        task = job.task
        if max(task.progress, min(progress, 99)) == task.progress and (
            queue_position == task.queue_position
        ):
            self._pending.pop(task.task_id, None)  # nothing new to say
            return
        earlier = self._pending.get(task.task_id)
        due_at = earlier.due_at if earlier else now + self.flush_s
        due_at = max(due_at, self._written_at.get(task.task_id, -self.min_gap_s) + self.min_gap_s)
        self._pending[task.task_id] = _Report(job, progress, queue_position, due_at)
        self._next = min(self._next, due_at)

    def discard(self, task_id: int) -> None:
        """The task's job has ended: its end write says more than any progress."""
        self._pending.pop(task_id, None)
        self._written_at.pop(task_id, None)

    def next_at(self) -> float:
        return self._next

    def due(self, now: float) -> bool:
        return now >= self._next

    async def flush(self, now: float) -> list[Job]:
        """Writes the reports due; returns the jobs whose task another writer changed
        meanwhile (a cancel, most likely): the tracker reads those again."""
        ready = [r for r in self._pending.values() if r.due_at <= now]
        for report in ready:
            del self._pending[report.job.task.task_id]
            self._written_at[report.job.task.task_id] = now
        self._next = min((r.due_at for r in self._pending.values()), default=float("inf"))
        moved = []
        for report in ready:
            if not await self._write(report):
                moved.append(report.job)
        return moved

    async def _write(self, report: _Report) -> bool:
        job, clock = report.job, self.writer.clock
        try:
            new = job.task.report(
                now=clock(), progress=report.progress, queue_position=report.queue_position
            )
        except InvalidTransition:
            return False
        stored = await self.writer.store.save(job.task, new)
        if stored is None:
            return False
        job.task = stored
        return True
