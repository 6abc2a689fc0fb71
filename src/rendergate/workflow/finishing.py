"""What follows a task's end: the one step a task's workflow runs once the task finished
(completed, failed or canceled), after which nothing of the workflow is left to run.

Today it makes the next step of a completed task's chain (chaining.py); whatever else a
task's end sets going belongs here too. Safe to run again: DBOS replays it after a crash,
and what it made before is found, not made twice."""

from __future__ import annotations

from dataclasses import dataclass

from rendergate.domain.task import Task
from rendergate.store.base import TaskStore
from rendergate.workflow.chaining import Chaining, make_next_step


@dataclass(frozen=True)
class FinishStep:
    store: TaskStore
    chaining: Chaining

    async def __call__(self, task_id: int) -> tuple[Task, ...]:
        """The tasks made for `task_id`'s end that the workflow queues (a task made failed
        has nothing to run); none while it is unfinished."""
        task = await self.store.get(task_id)
        if not task.status.is_terminal:
            return ()
        child = await make_next_step(task, self.chaining)
        return (child,) if child is not None and not child.status.is_terminal else ()
