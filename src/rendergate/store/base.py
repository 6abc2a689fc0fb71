"""The task store port. Our task table is the source of truth for the API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from rendergate.domain.task import Task, TaskStatus


class TaskIdTaken(Exception):
    """add() found the id already used; the caller draws another."""


@dataclass(frozen=True)
class Page:
    """Where a listing resumes: strictly older than (created_at, task_id)."""

    created_at: datetime
    task_id: int


AlongWrite = Callable[[Any], None]
"""A write of another component done inside the transaction that adds a task's row, on the
store's connection (a SQLAlchemy `Connection` from SqlTaskStore): the two land together or
not at all. Only an orchestrator that shares the task's database offers one."""


class TaskStore(Protocol):
    async def add(self, task: Task, *, along: AlongWrite | None = None) -> None:
        """Inserts a new task, and does `along` in the same transaction; raises TaskIdTaken
        when its id exists (and then `along` is undone)."""
        ...

    async def get(self, task_id: int) -> Task:
        """Returns the task; raises TaskNotFound."""
        ...

    async def save(self, old: Task, new: Task) -> Task | None:
        """Writes `new` only if the stored task is still `old` (same version).

        Returns what was stored (version + 1), or None when someone else wrote first.
        """
        ...

    async def find(
        self,
        *,
        status: TaskStatus | None = None,
        app: str | None = None,
        owner: str | None = None,
        after: Page | None = None,
        limit: int = 20,
    ) -> list[Task]:
        """Newest first; `owner` keeps one API key's tasks (None: everyone's)."""
        ...

    async def unfinished(self) -> list[Task]:
        """Every task not yet completed, failed or canceled, oldest first."""
        ...

    async def waiting_ahead(self, task: Task) -> int:
        """How many tasks for the same provider wait in our queue before this one."""
        ...
