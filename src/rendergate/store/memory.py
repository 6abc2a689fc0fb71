"""An in-memory TaskStore for unit tests and demos; behaves like the SQL one."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime

from rendergate.domain.batches import queue_order
from rendergate.domain.chains import next_step_id
from rendergate.domain.errors import TaskNotFound
from rendergate.domain.events import stream_event
from rendergate.domain.task import Task, TaskStatus
from rendergate.store.accounts import pick
from rendergate.store.base import AlongWrite, Page, TaskIdTaken


class MemoryTaskStore:
    """Also the event log of its tasks, as the SQL store keeps one (store/events.py)."""

    def __init__(self) -> None:
        self.tasks: dict[int, Task] = {}
        self.events: dict[int, list[tuple[str, Task]]] = {}
        self.accounts: dict[int, str] = {}  # task -> its pooled key (claim_account)

    def _log(self, old: Task | None, new: Task) -> None:
        event = stream_event(old, new)
        if event is not None:
            self.events.setdefault(new.task_id, []).append((event.value, new))

    async def after(self, task_id: int, version: int, limit: int = 100) -> list[tuple[str, Task]]:
        logged = self.events.get(task_id, [])
        return [(e, t) for e, t in logged if t.version > version][:limit]

    async def at(self, task_id: int, version: int) -> Task | None:
        return next((t for _, t in self.events.get(task_id, []) if t.version == version), None)

    async def add(self, task: Task, *, along: AlongWrite | None = None) -> None:
        if along is not None:
            raise TypeError("the memory store has no transaction to do another write in")
        if task.task_id in self.tasks:
            raise TaskIdTaken(task.task_id)
        self.tasks[task.task_id] = task
        self._log(None, task)

    async def add_all(self, new: Sequence[Task], *, along: AlongWrite | None = None) -> None:
        if along is not None:
            raise TypeError("the memory store has no transaction to do another write in")
        if any(task.task_id in self.tasks for task in new):
            raise TaskIdTaken(new[0].task_id)
        for task in new:
            await self.add(task)

    async def get(self, task_id: int, *, owner: str | None = None) -> Task:
        task = self.tasks.get(task_id)
        if task is None or (owner is not None and task.owner != owner):
            raise TaskNotFound(task_id)
        return task

    async def save(self, old: Task, new: Task) -> Task | None:
        current = self.tasks.get(old.task_id)
        if current is None or current.version != old.version:
            return None
        stored = dataclasses.replace(new, version=old.version + 1, created_at=old.created_at)
        self.tasks[old.task_id] = stored
        self._log(current, stored)
        return stored

    async def find(
        self,
        *,
        status: TaskStatus | None = None,
        app: str | None = None,
        owner: str | None = None,
        after: Page | None = None,
        limit: int = 20,
        rerun_of: int | None = None,
    ) -> list[Task]:
        found = sorted(self.tasks.values(), key=lambda t: (t.created_at, t.task_id), reverse=True)
        found = [
            t
            for t in found
            if (status is None or t.status == status)
            and (app is None or t.app == app)
            and (owner is None or t.owner == owner)
            and (rerun_of is None or t.rerun_of == rerun_of)
            and (after is None or (t.created_at, t.task_id) < (after.created_at, after.task_id))
        ]
        return found[:limit]

    async def count_owned(
        self, owner: str, *, unfinished: bool = False, since: datetime | None = None
    ) -> int:
        return sum(
            1
            for t in self.tasks.values()
            if t.owner == owner
            and not (unfinished and t.status.is_terminal)
            and (since is None or t.created_at >= since)
        )

    async def expiring(
        self,
        before: datetime,
        *,
        only: Sequence[str] | None = None,
        besides: Sequence[str] = (),
        limit: int = 200,
    ) -> list[Task]:
        found = sorted(
            (
                t
                for t in self.tasks.values()
                if t.status.is_terminal
                and t.finished_at is not None
                and t.finished_at < before
                and t.files_expired_at is None
                and (only is None or t.app in only)
                and t.app not in besides
            ),
            key=lambda t: (t.created_at, t.task_id),
        )
        return found[:limit]

    async def unfinished(self) -> list[Task]:
        return sorted(
            (t for t in self.tasks.values() if not t.status.is_terminal),
            key=lambda t: (t.created_at, t.task_id),
        )

    async def ended(self, task_ids: Sequence[int]) -> set[int]:
        return {i for i in task_ids if i in self.tasks and self.tasks[i].status.is_terminal}

    async def children(self, parents: Sequence[int]) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {}
        for t in sorted(self.tasks.values(), key=lambda t: (t.created_at, t.task_id)):
            if t.parent is not None and t.parent.task_id in parents:
                found.setdefault(t.parent.task_id, []).append(t.task_id)
        return found

    async def unmade_steps(self, *, finished_before: datetime, limit: int = 100) -> list[Task]:
        found = [
            t
            for t in self.tasks.values()
            if t.then
            and t.status is TaskStatus.COMPLETED
            and t.finished_at is not None
            and t.finished_at < finished_before
            and t.files_expired_at is None
            and next_step_id(t.task_id) not in self.tasks
        ]
        return sorted(found, key=lambda t: (t.finished_at, t.task_id))[:limit]

    async def claim_account(
        self, task_id: int, provider: str, room: Mapping[str, int]
    ) -> str | None:
        taken: dict[str, int] = {}
        for other, account in self.accounts.items():
            task = self.tasks[other]
            if other != task_id and task.provider == provider and not task.status.is_terminal:
                taken[account] = taken.get(account, 0) + 1
        best = pick(room, taken)
        if best is not None:
            self.accounts[task_id] = best
        return best

    async def waiting_ahead(self, task: Task) -> int:
        return sum(
            1
            for t in self.tasks.values()
            if t.provider == task.provider
            and t.status == TaskStatus.SUBMITTED
            and queue_order(t) < queue_order(task)
        )
