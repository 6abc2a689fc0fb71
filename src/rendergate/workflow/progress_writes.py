"""Progress, written in rounds: the tracker's jobs report it as often as their providers
answer, and each task's latest word is written once per round (every FLUSH_S), touching
only what changed. A job that ends before its round writes no progress at all: its end
write says more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from rendergate.domain.errors import InvalidTransition
from rendergate.services.writer import TaskWriter

if TYPE_CHECKING:
    from rendergate.workflow.job_checks import Job

log = structlog.get_logger(__name__)

FLUSH_S = 1.0


@dataclass
class _Report:
    job: Job
    progress: int
    queue_position: int | None


class ProgressWrites:
    def __init__(self, writer: TaskWriter, flush_s: float = FLUSH_S) -> None:
        self.writer, self.flush_s = writer, flush_s
        self._pending: dict[int, _Report] = {}
        self._since: float | None = None  # loop time of the oldest report not yet written

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
        self._pending[task.task_id] = _Report(job, progress, queue_position)
        if self._since is None:
            self._since = now

    def discard(self, task_id: int) -> None:
        self._pending.pop(task_id, None)

    def next_at(self) -> float:
        return float("inf") if self._since is None else self._since + self.flush_s

    def due(self, now: float) -> bool:
        return self._since is not None and now >= self._since + self.flush_s

    async def flush(self) -> list[Job]:
        """Writes every pending report; returns the jobs whose task another writer changed
        meanwhile (a cancel, most likely): the tracker reads those again."""
        reports, self._pending, self._since = list(self._pending.values()), {}, None
        moved = []
        for report in reports:
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
