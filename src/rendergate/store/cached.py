"""A write-through cache in front of a TaskStore owned by one process.

SQLite allows a single rendergate process (DBOS requires it too), so every write to the
task table passes through this object and the cache can never be stale. Status polls of
unfinished tasks then skip the database. Not used on PostgreSQL, where other processes write.

Finished tasks are not kept here: services.cache.FinishedTasks keeps them in every
deployment (until a change to one is heard), so no task is cached twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from rendergate.domain.task import Task, TaskStatus
from rendergate.lru import Lru
from rendergate.store.base import AlongWrite, Page, TaskStore


class CachedTaskStore:
    def __init__(self, inner: TaskStore, capacity: int = 10_000) -> None:
        self._inner = inner
        self._tasks: Lru[int, Task] = Lru(capacity)

    async def add(self, task: Task, *, along: AlongWrite | None = None) -> None:
        await self._inner.add(task, along=along)
        self._keep(task)

    async def add_all(self, new: Sequence[Task], *, along: AlongWrite | None = None) -> None:
        await self._inner.add_all(new, along=along)
        for task in new:
            self._keep(task)

    async def get(self, task_id: int, *, owner: str | None = None) -> Task:
        """From the cache only for its owner: a stranger's read goes to the database, as
        one of an absent id does."""
        task = self._tasks.get(task_id)
        if task is None or (owner is not None and task.owner != owner):
            task = await self._inner.get(task_id, owner=owner)
            self._keep(task)
        return task

    async def save(self, old: Task, new: Task) -> Task | None:
        stored = await self._inner.save(old, new)
        if stored is None:
            self._tasks.discard(old.task_id)
        else:
            self._keep(stored)
        return stored

    def _keep(self, task: Task) -> None:
        if task.status.is_terminal:
            self._tasks.discard(task.task_id)
        else:
            self._tasks.put(task.task_id, task)

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
        return await self._inner.find(
            status=status, app=app, owner=owner, after=after, limit=limit, rerun_of=rerun_of
        )

    async def count_owned(
        self, owner: str, *, unfinished: bool = False, since: datetime | None = None
    ) -> int:
        return await self._inner.count_owned(owner, unfinished=unfinished, since=since)

    async def expiring(
        self,
        before: datetime,
        *,
        only: Sequence[str] | None = None,
        besides: Sequence[str] = (),
        limit: int = 200,
    ) -> list[Task]:
        return await self._inner.expiring(before, only=only, besides=besides, limit=limit)

    async def unfinished(self) -> list[Task]:
        return await self._inner.unfinished()

    async def ended(self, task_ids: Sequence[int]) -> set[int]:
        return await self._inner.ended(task_ids)

    async def claim_account(
        self, task_id: int, provider: str, room: Mapping[str, int]
    ) -> str | None:
        return await self._inner.claim_account(task_id, provider, room)

    async def waiting_ahead(self, task: Task) -> int:
        return await self._inner.waiting_ahead(task)

    async def children(self, parents: Sequence[int]) -> dict[int, list[int]]:
        return await self._inner.children(parents)

    async def unmade_steps(self, *, finished_before: datetime, limit: int = 100) -> list[Task]:
        return await self._inner.unmade_steps(finished_before=finished_before, limit=limit)
