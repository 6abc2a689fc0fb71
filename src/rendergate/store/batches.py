"""The batches table (domain/batches.py), and the reads of a batch's members.

A batch's row is written in the transaction that writes its members' rows (`adding`, an
AlongWrite of SqlTaskStore.add_all), so a batch is stored whole or not at all. Its end
is written once, with its webhook, by a compare-and-set on `ended`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.domain.batches import Batch, BatchStatus
from rendergate.domain.errors import BatchNotFound
from rendergate.domain.task import Task
from rendergate.store.base import AlongWrite, BatchPage
from rendergate.store.codec import from_row
from rendergate.store.sql import older_than
from rendergate.store.tables import batches, deliveries, tasks

WriteTurn = Any  # an asyncio.Lock on SQLite (SqlTaskStore.write_turn), else a no-op


def _row(batch: Batch) -> dict[str, Any]:
    return {
        "batch_id": batch.batch_id,
        "owner": batch.owner,
        "name": batch.name,
        "app": batch.app,
        "preset": batch.preset,
        "preset_version": batch.preset_version,
        "params": dict(batch.params),
        "seed": batch.seed,
        "variations": batch.variations,
        "angles": list(batch.angles),
        "then": [dict(step) for step in batch.then],
        "webhook_url": batch.webhook_url,
        "link_base": batch.link_base,
        "canceled_at": batch.canceled_at,
        "ended": batch.ended.value if batch.ended else "",
        "ended_at": batch.ended_at,
        "created_at": batch.created_at,
    }


def _batch(row: Mapping[Any, Any]) -> Batch:
    return Batch(
        batch_id=int(row["batch_id"]),
        owner=row["owner"],
        name=row["name"],
        app=row["app"],
        preset=row["preset"],
        preset_version=row["preset_version"],
        params=row["params"] or {},
        seed=int(row["seed"]),
        variations=int(row["variations"]),
        angles=tuple(row["angles"]),
        then=tuple(row["then"] or ()),
        webhook_url=row["webhook_url"],
        link_base=row["link_base"],
        canceled_at=row["canceled_at"],
        ended=BatchStatus(row["ended"]) if row["ended"] else None,
        ended_at=row["ended_at"],
        created_at=row["created_at"],
    )


class SqlBatchStore:
    """Owns nothing: the engine is opened and closed by whoever passed it in."""

    def __init__(self, engine: AsyncEngine, write_turn: WriteTurn | None = None) -> None:
        self._engine = engine
        self._write_turn = write_turn or contextlib.nullcontext()

    def adding(self, batch: Batch) -> AlongWrite:
        """The batch's row, written on the caller's connection (its members' transaction)."""

        def write(connection: Any) -> None:
            assert isinstance(connection, sa.Connection)
            connection.execute(batches.insert().values(**_row(batch)))

        return write

    async def get(self, batch_id: int, *, owner: str | None = None) -> Batch:
        """The batch; BatchNotFound, with `owner` also for another key's."""
        found = batches.c.batch_id == batch_id
        if owner is not None:
            found &= batches.c.owner == owner
        async with self._engine.connect() as connection:
            row = (await connection.execute(sa.select(batches).where(found))).mappings().first()
        if row is None:
            raise BatchNotFound(batch_id)
        return _batch(row)

    async def find(
        self,
        *,
        owner: str | None = None,
        after: BatchPage | None = None,
        limit: int = 20,
        name_contains: str = "",
    ) -> list[Batch]:
        """Newest first; `owner` keeps one API key's batches (None: everyone's);
        `name_contains` those whose name holds it, in any case (ASCII's on SQLite), with
        `%` and `_` taken as themselves."""
        query = sa.select(batches)
        if owner is not None:
            query = query.where(batches.c.owner == owner)
        if name_contains:
            query = query.where(batches.c.name.icontains(name_contains, autoescape=True))
        if after is not None:
            query = query.where(older_than(batches.c.created_at, batches.c.batch_id, after))
        query = query.order_by(batches.c.created_at.desc(), batches.c.batch_id.desc())
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query.limit(limit))).mappings().all()
        return [_batch(row) for row in rows]

    async def members(self, batch_id: int) -> list[Task]:
        """Every task of the batch: its members, their retries and their chains' steps."""
        query = (
            sa.select(tasks)
            .where(tasks.c.batch_id == batch_id)
            .order_by(tasks.c.created_at, tasks.c.task_id)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [from_row(row) for row in rows]

    async def mark_canceled(self, batch_id: int, at: datetime) -> None:
        """Records the cancel (the first one's time), before its members are canceled."""
        async with self._write_turn, self._engine.begin() as connection:
            await connection.execute(
                batches.update()
                .where(batches.c.batch_id == batch_id, batches.c.canceled_at.is_(None))
                .values(canceled_at=at)
            )

    async def reopen(self, batch_id: int) -> None:
        """A retry runs members again: the batch is neither canceled nor ended now."""
        async with self._write_turn, self._engine.begin() as connection:
            await connection.execute(
                batches.update()
                .where(batches.c.batch_id == batch_id)
                .values(canceled_at=None, ended="", ended_at=None)
            )

    async def end(
        self, batch: Batch, status: BatchStatus, at: datetime, delivery: Mapping[str, Any] | None
    ) -> bool:
        """Records the batch's end, and its webhook's delivery row with it, unless another
        process recorded it first (False)."""
        async with self._write_turn, self._engine.begin() as connection:
            result = await connection.execute(
                batches.update()
                .where(batches.c.batch_id == batch.batch_id, batches.c.ended == "")
                .values(ended=status.value, ended_at=at)
            )
            if result.rowcount != 1:
                return False
            if delivery is not None:
                await connection.execute(deliveries.insert().values(**delivery))
        return True

    async def unended(self, limit: int = 200) -> list[Batch]:
        """Batches whose end is not recorded yet, oldest first (the sweep's safety net)."""
        query = (
            sa.select(batches)
            .where(batches.c.ended == "")
            .order_by(batches.c.created_at, batches.c.batch_id)
            .limit(limit)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [_batch(row) for row in rows]
