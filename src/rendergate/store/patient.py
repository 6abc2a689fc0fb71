"""The workers' task store: a database that is away is waited for, not given up on.

A PostgreSQL restart, a failover or a pool timeout used to fail the task whose step was
reading or writing just then, while its paid job ran on. The steps of a workflow read and
write through this wrapper instead: a transient database error is retried with back-off
until the database answers (DBOS's own checkpoints wait the same way), so the task carries
on where it was. The API keeps the plain store: a request should fail fast with a 5xx.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
import structlog

from rendergate.domain.task import Task, TaskStatus
from rendergate.store.base import AlongWrite, Page, TaskStore

log = structlog.get_logger(__name__)
T = TypeVar("T")

FIRST_WAIT_S = 0.2
MAX_WAIT_S = 5.0


def is_transient(exc: BaseException) -> bool:
    """The database is unreachable, restarting or out of connections: try again later."""
    if isinstance(exc, sa.exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa.exc.OperationalError | sa.exc.InterfaceError
        )
    return isinstance(exc, sa.exc.TimeoutError | ConnectionError | TimeoutError)


class PatientTaskStore:
    def __init__(
        self,
        inner: TaskStore,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._inner = inner
        self._sleep = sleep

    async def _patiently(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        wait = FIRST_WAIT_S
        while True:
            try:
                return await call()
            except Exception as exc:
                wait = await self._wait_out(exc, what, wait)

    async def _wait_out(self, exc: Exception, what: str, wait: float) -> float:
        """Re-raises what is not the database being away; else waits; returns the next wait."""
        if not is_transient(exc):
            raise exc
        log.warning("database unavailable; waiting", call=what, error=type(exc).__name__)
        await self._sleep(wait)
        return min(wait * 2, MAX_WAIT_S)

    async def add(self, task: Task, *, along: AlongWrite | None = None) -> None:
        await self._patiently(lambda: self._inner.add(task, along=along), "add")

    async def add_all(self, new: Sequence[Task], *, along: AlongWrite | None = None) -> None:
        await self._patiently(lambda: self._inner.add_all(new, along=along), "add_all")

    async def get(self, task_id: int, *, owner: str | None = None) -> Task:
        return await self._patiently(lambda: self._inner.get(task_id, owner=owner), "get")

    async def save(self, old: Task, new: Task) -> Task | None:
        """A save whose answer was lost may have landed: before trying again, the task is
        read, and a write of ours that landed counts as done (retrying the compare-and-set
        would find the version moved on, and the writer would take its own write for a
        rival's)."""
        wait = FIRST_WAIT_S
        while True:
            try:
                return await self._inner.save(old, new)
            except Exception as exc:
                wait = await self._wait_out(exc, "save", wait)
            current = await self.get(old.task_id)
            if current.version != old.version:  # ours landed, or a rival's did
                ours = dataclasses.replace(new, version=old.version + 1, created_at=old.created_at)
                return current if current == ours else None

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
        return await self._patiently(
            lambda: self._inner.find(
                status=status, app=app, owner=owner, after=after, limit=limit, rerun_of=rerun_of
            ),
            "find",
        )

    async def count_owned(
        self, owner: str, *, unfinished: bool = False, since: datetime | None = None
    ) -> int:
        return await self._patiently(
            lambda: self._inner.count_owned(owner, unfinished=unfinished, since=since), "count"
        )

    async def expiring(
        self,
        before: datetime,
        *,
        only: Sequence[str] | None = None,
        besides: Sequence[str] = (),
        limit: int = 200,
    ) -> list[Task]:
        return await self._patiently(
            lambda: self._inner.expiring(before, only=only, besides=besides, limit=limit),
            "expiring",
        )

    async def unfinished(self) -> list[Task]:
        return await self._patiently(self._inner.unfinished, "unfinished")

    async def ended(self, task_ids: Sequence[int]) -> set[int]:
        return await self._patiently(lambda: self._inner.ended(task_ids), "ended")

    async def claim_account(
        self, task_id: int, provider: str, room: Mapping[str, int]
    ) -> str | None:
        return await self._patiently(
            lambda: self._inner.claim_account(task_id, provider, room), "claim_account"
        )

    async def waiting_ahead(self, task: Task) -> int:
        return await self._patiently(lambda: self._inner.waiting_ahead(task), "waiting_ahead")

    async def children(self, parents: Sequence[int]) -> dict[int, list[int]]:
        return await self._patiently(lambda: self._inner.children(parents), "children")

    async def unmade_steps(self, *, finished_before: datetime, limit: int = 100) -> list[Task]:
        return await self._patiently(
            lambda: self._inner.unmade_steps(finished_before=finished_before, limit=limit),
            "unmade_steps",
        )
