"""The TaskStore on SQLAlchemy async: SQLite by default, PostgreSQL to scale out."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from rendergate.domain.batches import queue_order
from rendergate.domain.chains import ID_SPAN, STEP_STRIDE
from rendergate.domain.costing import Rates, settle
from rendergate.domain.errors import TaskNotFound
from rendergate.domain.task import MIN_TASK_ID, TERMINAL_STATUSES, Task, TaskStatus
from rendergate.store import accounts, usage
from rendergate.store.base import AlongWrite, BatchPage, Page, SchemaChange, TaskIdTaken
from rendergate.store.codec import changed_columns, from_row, to_row
from rendergate.store.events import Changed, record_change
from rendergate.store.tables import tasks

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = zlib.crc32(b"rendergate.migrate")
ENDED_CHUNK = 500  # task ids per query of `ended` (SQLite allows 32,766 parameters)
TERMINAL_VALUES = [status.value for status in TERMINAL_STATUSES]


SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "foreign_keys=ON")
"""What a small always-on service wants of SQLite: a write-ahead log (readers never wait on
the writer), a sync per checkpoint rather than per commit, a wait on a lock rather than an
error, and the foreign keys enforced. Our tables and DBOS's (runtime/dbos_setup.py) alike."""


def use_sqlite_pragmas(engine: sa.Engine) -> None:
    """Sets SQLITE_PRAGMAS on every connection the engine opens."""

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An engine for the task database; on SQLite, with SQLITE_PRAGMAS."""
    # hide_parameters: debug-level SQL logs would otherwise print webhook tokens
    if not url.startswith("sqlite"):
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
    engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
    use_sqlite_pragmas(engine.sync_engine)
    return engine


def _upgrade(connection: sa.Connection) -> SchemaChange:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(config, "head")
    return SchemaChange(before, MigrationContext.configure(connection).get_current_revision())


async def migrate(engine: AsyncEngine) -> SchemaChange:
    """Brings the task table to the newest schema (Alembic, batch mode for SQLite), and says
    what that took. On PostgreSQL processes starting together take turns (a
    transaction-scoped advisory lock): concurrent CREATE TABLEs otherwise fail one of them."""
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
        return await connection.run_sync(_upgrade)


def older_than(created_at: Any, row_id: Any, page: Page | BatchPage) -> Any:
    """A listing's next page, newest first: rows strictly older than `page`'s last, by
    (created_at, id), so rows created in the same instant are neither skipped nor repeated."""
    last_id = page.task_id if isinstance(page, Page) else page.batch_id
    return sa.or_(
        created_at < page.created_at,
        sa.and_(created_at == page.created_at, row_id < last_id),
    )


class SqlTaskStore:
    """Owns nothing: the engine is opened and closed by whoever passed it in.

    SQLite has one writer at a time. Pooled connections racing for its lock make SQLite
    sleep and retry (measured: 150 writes/s and multi-second waits under a burst), so on
    SQLite this process queues its own writes instead.
    """

    def __init__(
        self, engine: AsyncEngine, *, changed: Changed | None = None, rates: Rates | None = None
    ) -> None:
        """`changed` is told of each committed write (store/events.py); `rates` price each
        task as it finishes (domain/costing.py) and name the usage rollup's currency."""
        self._engine = engine
        self._changed = changed
        self._rates = rates or Rates()
        one_writer = engine.dialect.name == "sqlite"
        self.write_turn: asyncio.Lock | contextlib.nullcontext[None] = (
            asyncio.Lock() if one_writer else contextlib.nullcontext()
        )

    def _finishing(self, old: Task | None, new: Task) -> Task:
        """`new` priced, when this write finishes it (domain/costing.py)."""
        if new.status.is_terminal and (old is None or not old.status.is_terminal):
            return settle(new, self._rates)
        return new

    async def add(self, task: Task, *, along: AlongWrite | None = None) -> None:
        task = self._finishing(None, task)
        try:
            async with self.write_turn, self._engine.begin() as connection:
                # the row as parameters, not .values(): one cached statement, not a new
                # one to build and compile each time (a tenth of the cost on SQLite)
                await connection.execute(tasks.insert(), to_row(task))
                delivery = await record_change(connection, None, task)
                await usage.count(connection, None, task, self._rates.currency)
                if along is not None:
                    await connection.run_sync(along)
        except IntegrityError as exc:
            raise TaskIdTaken(task.task_id) from exc
        self._tell(None, task, delivery)

    async def add_all(self, new: Sequence[Task], *, along: AlongWrite | None = None) -> None:
        """Inserts several new tasks in one transaction (a batch's members), with `along`;
        TaskIdTaken (and nothing written) when any id exists."""
        new = [self._finishing(None, task) for task in new]
        try:
            async with self.write_turn, self._engine.begin() as connection:
                await connection.execute(tasks.insert(), [to_row(task) for task in new])
                told = [await record_change(connection, None, task) for task in new]
                for task in new:
                    await usage.count(connection, None, task, self._rates.currency)
                if along is not None:
                    await connection.run_sync(along)
        except IntegrityError as exc:
            raise TaskIdTaken(new[0].task_id if new else 0) from exc
        for task, delivery in zip(new, told, strict=True):
            self._tell(None, task, delivery)

    def _tell(self, old: Task | None, new: Task, delivery: bool) -> None:
        if self._changed is not None:
            self._changed(old, new, delivery)

    async def get(self, task_id: int, *, owner: str | None = None) -> Task:
        found = tasks.c.task_id == task_id
        if owner is not None:  # another key's row is not read: the query finds none
            found &= tasks.c.owner == owner
        async with self._engine.connect() as connection:
            row = (await connection.execute(sa.select(tasks).where(found))).mappings().first()
        if row is None:
            raise TaskNotFound(task_id)
        return from_row(row)

    async def save(self, old: Task, new: Task) -> Task | None:
        stored = dataclasses.replace(new, version=old.version + 1, created_at=old.created_at)
        stored = self._finishing(old, stored)
        values = changed_columns(old, stored)  # a progress write sets three columns, not 40
        async with self.write_turn, self._engine.begin() as connection:
            result = await connection.execute(
                tasks.update()
                .where(tasks.c.task_id == old.task_id, tasks.c.version == old.version)
                .values(**values)
            )
            if result.rowcount != 1:
                return None
            delivery = await record_change(connection, old, stored)
            await usage.count(connection, old, stored, self._rates.currency)
        self._tell(old, stored, delivery)
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
        query = sa.select(tasks)
        if status is not None:
            query = query.where(tasks.c.status == status.value)
        if app is not None:
            query = query.where(tasks.c.app == app)
        if owner is not None:
            query = query.where(tasks.c.owner == owner)
        if rerun_of is not None:
            query = query.where(tasks.c.rerun_of == rerun_of)
        if after is not None:
            query = query.where(older_than(tasks.c.created_at, tasks.c.task_id, after))
        query = query.order_by(tasks.c.created_at.desc(), tasks.c.task_id.desc()).limit(limit)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [from_row(row) for row in rows]

    async def count_owned(
        self, owner: str, *, unfinished: bool = False, since: datetime | None = None
    ) -> int:
        query = sa.select(sa.func.count()).where(tasks.c.owner == owner)
        if unfinished:
            query = query.where(tasks.c.status.not_in(TERMINAL_VALUES))
        if since is not None:
            query = query.where(tasks.c.created_at >= since)
        async with self._engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def expiring(
        self,
        before: datetime,
        *,
        only: Sequence[str] | None = None,
        besides: Sequence[str] = (),
        limit: int = 200,
    ) -> list[Task]:
        query = sa.select(tasks).where(
            tasks.c.status.in_(TERMINAL_VALUES),
            tasks.c.created_at < before,  # implied, and what the status index orders by
            tasks.c.finished_at < before,
            tasks.c.files_expired_at.is_(None),
        )
        if only is not None:
            query = query.where(tasks.c.app.in_(list(only)))
        if besides:
            query = query.where(tasks.c.app.not_in(list(besides)))
        query = query.order_by(tasks.c.created_at, tasks.c.task_id).limit(limit)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [from_row(row) for row in rows]

    async def unfinished(self) -> list[Task]:
        query = (
            sa.select(tasks)
            .where(tasks.c.status.not_in(TERMINAL_VALUES))
            .order_by(tasks.c.created_at, tasks.c.task_id)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [from_row(row) for row in rows]

    async def ended(self, task_ids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        async with self._engine.connect() as connection:
            for at in range(0, len(task_ids), ENDED_CHUNK):
                chunk = list(task_ids[at : at + ENDED_CHUNK])
                query = sa.select(tasks.c.task_id).where(
                    tasks.c.task_id.in_(chunk), tasks.c.status.in_(TERMINAL_VALUES)
                )
                found.update((await connection.execute(query)).scalars())
        return found

    async def children(self, parents: Sequence[int]) -> dict[int, list[int]]:
        if not parents:
            return {}
        query = (
            sa.select(tasks.c.parent_task_id, tasks.c.task_id)
            .where(tasks.c.parent_task_id.in_(list(parents)))
            .order_by(tasks.c.created_at, tasks.c.task_id)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        found: dict[int, list[int]] = {}
        for parent, child in rows:
            found.setdefault(int(parent), []).append(int(child))
        return found

    async def unmade_steps(self, *, finished_before: datetime, limit: int = 100) -> list[Task]:
        child = tasks.alias("child")
        # domain/chains.py: next_step_id, in SQL (ids below 2^53: no overflow in 64 bits)
        next_id = MIN_TASK_ID + (tasks.c.task_id - MIN_TASK_ID + STEP_STRIDE) % ID_SPAN
        query = (
            sa.select(tasks)
            .where(
                tasks.c.then_steps.is_not(None),  # the partial index's own condition
                tasks.c.finished_at < finished_before,
                tasks.c.status == TaskStatus.COMPLETED.value,
                tasks.c.files_expired_at.is_(None),
                ~sa.exists().where(child.c.task_id == next_id),
            )
            .order_by(tasks.c.finished_at, tasks.c.task_id)
            .limit(limit)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [from_row(row) for row in rows]

    async def claim_account(
        self, task_id: int, provider: str, room: Mapping[str, int]
    ) -> str | None:
        async with self.write_turn, self._engine.begin() as connection:
            return await connection.run_sync(
                lambda sync: accounts.choose(sync, task_id, provider, room)
            )

    async def waiting_ahead(self, task: Task) -> int:
        query = sa.select(sa.func.count()).where(
            tasks.c.provider == task.provider,
            tasks.c.status == TaskStatus.SUBMITTED.value,
            sa.or_(  # domain/batches.queue_order
                tasks.c.created_at < task.created_at,
                sa.and_(tasks.c.created_at == task.created_at, _made_with_before(task)),
            ),
        )
        async with self._engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())


def _made_with_before(task: Task) -> sa.ColumnElement[bool]:
    """Of the tasks made at the same time as `task`, those queued before it."""
    _, view, variation, task_id = queue_order(task)
    here = (sa.func.coalesce(tasks.c.view, -1), sa.func.coalesce(tasks.c.variation, -1))
    return sa.tuple_(*here, tasks.c.task_id) < sa.tuple_(view, variation, task_id)
