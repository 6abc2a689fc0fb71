"""The workers table: each worker process's row, kept fresh on the database's clock.

A worker joins with an executor id that is new at each start, beats every few seconds, and
leaves (state `stopped`) when it closes. A row whose heartbeat is older than the TTL is
declared `dead` by whichever worker reaps; a dead or stopped worker's tasks are then
resumed elsewhere, once (`recovered`). Times are always the database's, never a worker's.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rendergate.domain.errors import ConfigError
from rendergate.store.tables import workers

REAPER_LOCK = zlib.crc32(b"rendergate.reaper")  # one reaper at a time, cluster-wide
FORGET_AFTER = timedelta(days=1)  # recovered rows are kept this long, for the operator


@dataclass(frozen=True)
class WorkerInfo:
    executor_id: str
    host: str
    pid: int
    app_version: str


class WorkerRows:
    """Owns nothing: the engine is the composition root's."""

    def __init__(self, engine: AsyncEngine, *, ttl_s: float) -> None:
        self._engine = engine
        self._ttl = timedelta(seconds=ttl_s)
        self._postgres = engine.dialect.name == "postgresql"

    async def join(self, me: WorkerInfo) -> None:
        """Registers this worker; ConfigError when a live worker already has its id."""
        async with self._engine.begin() as connection:
            now = await database_now(connection)
            row = (
                await connection.execute(
                    sa.select(workers).where(workers.c.executor_id == me.executor_id)
                )
            ).first()
            if row is not None and row.state == "running" and row.heartbeat_at > now - self._ttl:
                raise ConfigError(
                    f"executor id {me.executor_id!r} is in use by a live worker (pid {row.pid} "
                    f"on {row.host}, seen {(now - row.heartbeat_at).total_seconds():.0f} s "
                    "ago): leave RENDERGATE_EXECUTOR_ID unset, or give each worker its own"
                )
            if row is not None:
                await connection.execute(
                    workers.delete().where(workers.c.executor_id == me.executor_id)
                )
            await connection.execute(
                workers.insert().values(
                    executor_id=me.executor_id,
                    host=me.host,
                    pid=me.pid,
                    app_version=me.app_version,
                    state="running",
                    started_at=now,
                    heartbeat_at=now,
                )
            )

    async def beat(self, executor_id: str) -> bool:
        """False when this worker was declared dead: it must stop running tasks."""
        async with self._engine.begin() as connection:
            now = await database_now(connection)
            result = await connection.execute(
                workers.update()
                .where(workers.c.executor_id == executor_id, workers.c.state == "running")
                .values(heartbeat_at=now)
            )
        return result.rowcount == 1

    async def leave(self, executor_id: str) -> None:
        """A clean stop: the reaper hands this worker's unfinished tasks on at its next turn."""
        async with self._engine.begin() as connection:
            await connection.execute(
                workers.update()
                .where(workers.c.executor_id == executor_id, workers.c.state == "running")
                .values(state="stopped")
            )

    async def to_recover(self, me: str) -> list[str]:
        """Declares silent workers dead; returns the dead and stopped ones not yet recovered.
        On SQLite every other worker is dead: this process holds the data directory."""
        async with self._engine.begin() as connection:
            now = await database_now(connection)
            silent = workers.c.heartbeat_at < now - self._ttl
            if not self._postgres:
                silent = workers.c.executor_id != me
            await connection.execute(
                workers.update().where(workers.c.state == "running", silent).values(state="dead")
            )
            await connection.execute(
                workers.delete().where(
                    workers.c.recovered.is_(True), workers.c.heartbeat_at < now - FORGET_AFTER
                )
            )
            rows = await connection.execute(
                sa.select(workers.c.executor_id).where(
                    workers.c.state.in_(("dead", "stopped")), workers.c.recovered.is_(False)
                )
            )
            return [row.executor_id for row in rows]

    async def recovered(self, executor_ids: list[str]) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                workers.update()
                .where(workers.c.executor_id.in_(executor_ids))
                .values(state="dead", recovered=True)
            )

    async def live(self, me: str) -> set[str]:
        """Executor ids of the workers running now (heartbeat within the TTL)."""
        if not self._postgres:
            return {me}
        async with self._engine.connect() as connection:
            now = await database_now(connection)
            rows = await connection.execute(
                sa.select(workers.c.executor_id).where(
                    workers.c.state == "running", workers.c.heartbeat_at >= now - self._ttl
                )
            )
            return {row.executor_id for row in rows}

    @contextlib.asynccontextmanager
    async def reaping(self) -> AsyncIterator[bool]:
        """True for the one worker whose turn it is to reap (a PostgreSQL advisory lock,
        held until the block ends); SQLite has one process, always its turn."""
        if not self._postgres:
            yield True
            return
        async with self._engine.connect() as connection:
            got = await connection.scalar(sa.select(sa.func.pg_try_advisory_lock(REAPER_LOCK)))
            try:
                yield bool(got)
            finally:
                if got:
                    await connection.execute(sa.select(sa.func.pg_advisory_unlock(REAPER_LOCK)))
                    await connection.commit()


async def database_now(connection: AsyncConnection) -> datetime:
    """The database's clock, which every process of a cluster shares; on SQLite, whose one
    process is on this machine, this machine's."""
    if connection.dialect.name != "postgresql":
        return datetime.now(UTC)
    now = await connection.scalar(sa.select(sa.func.now()))
    assert isinstance(now, datetime)
    return now
