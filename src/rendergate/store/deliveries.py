"""Webhook deliveries to clients: taken by one worker at a time under a lease, tried,
and written back with the attempt. A worker that dies mid-try leaves a lease that runs
out, and another worker takes the delivery (at least once, never lost)."""

from __future__ import annotations

import contextlib
import dataclasses
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.domain.events import Attempt, Delivery, DeliveryState
from rendergate.domain.task import Task
from rendergate.store.codec import (
    attempt_to_json,
    delivery_from_row,
    delivery_to_row,
    from_snapshot,
)
from rendergate.store.events import new_delivery_id
from rendergate.store.tables import deliveries, task_events

MAX_LOGGED = 50  # attempts kept per delivery (replays are deliveries of their own)

WriteTurn = Any  # an asyncio.Lock on SQLite (SqlTaskStore.write_turn), else a no-op


class SqlDeliveries:
    def __init__(self, engine: AsyncEngine, write_turn: WriteTurn | None = None) -> None:
        self._engine = engine
        self._write_turn = write_turn or contextlib.nullcontext()

    async def take_due(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[tuple[Delivery, Task | None]]:
        """Leases up to `limit` pending deliveries due by `now` and not leased by a live
        try, each with the task as its event recorded it (one round trip: the event log read in
        the UPDATE's RETURNING); on PostgreSQL, concurrent workers skip each other's rows."""
        due = (
            sa.select(deliveries.c.delivery_id)
            .where(
                deliveries.c.state == DeliveryState.PENDING.value,
                deliveries.c.next_at <= now,
                sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
            )
            .order_by(deliveries.c.next_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        # Qualified by hand: RETURNING renders the updated table's columns unqualified,
        # which inside the subquery would name task_events' own.
        snapshot = sa.select(task_events.c.task).where(
            task_events.c.task_id == sa.literal_column("deliveries.task_id"),
            task_events.c.version == sa.literal_column("deliveries.version"),
        )
        claim = (
            deliveries.update()
            .where(deliveries.c.delivery_id.in_(due.scalar_subquery()))
            .values(lease_until=lease_until)
            .returning(*deliveries.c, snapshot.scalar_subquery().label("snapshot"))
        )
        async with self._write_turn, self._engine.begin() as connection:
            rows = (await connection.execute(claim)).mappings().all()
        taken = [
            (delivery_from_row(row), from_snapshot(row["snapshot"]) if row["snapshot"] else None)
            for row in rows
        ]
        return sorted(taken, key=lambda pair: pair[0].next_at or now)

    async def record(
        self, delivery: Delivery, attempt: Attempt, *, next_at: datetime | None, lease: datetime
    ) -> None:
        """Writes the attempt, and what follows: delivered, tried again at `next_at`, or
        given up. Not written if our lease ran out and another worker took the delivery."""
        if attempt.succeeded:
            state = DeliveryState.DELIVERED
        else:
            state = DeliveryState.PENDING if next_at is not None else DeliveryState.FAILED
        logged = [*delivery.attempts, attempt][-MAX_LOGGED:]
        async with self._write_turn, self._engine.begin() as connection:
            await connection.execute(
                deliveries.update()
                .where(
                    deliveries.c.delivery_id == delivery.delivery_id,
                    deliveries.c.lease_until == lease,
                )
                .values(
                    state=state.value,
                    attempts=[attempt_to_json(a) for a in logged],
                    next_at=next_at if state is DeliveryState.PENDING else None,
                    lease_until=None,
                )
            )

    async def release(self, delivery_ids: list[str], *, lease: datetime) -> None:
        """Gives back leases of tries cut short (the worker is stopping): taken at once by
        the next worker, not after the lease."""
        if not delivery_ids:
            return
        async with self._write_turn, self._engine.begin() as connection:
            await connection.execute(
                deliveries.update()
                .where(
                    deliveries.c.delivery_id.in_(delivery_ids),
                    deliveries.c.lease_until == lease,
                )
                .values(lease_until=None)
            )

    async def next_due(self, now: datetime) -> datetime | None:
        """When the soonest pending delivery not being tried is due (None: none)."""
        query = sa.select(sa.func.min(deliveries.c.next_at)).where(
            deliveries.c.state == DeliveryState.PENDING.value,
            sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
        )
        async with self._engine.connect() as connection:
            value: datetime | None = (await connection.execute(query)).scalar_one_or_none()
        return value  # min() keeps the column's type: an aware UTC datetime

    async def of_task(self, task_id: int) -> list[Delivery]:
        query = (
            sa.select(deliveries)
            .where(deliveries.c.task_id == task_id)
            .order_by(deliveries.c.created_at, deliveries.c.delivery_id)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [delivery_from_row(row) for row in rows]

    async def replay(
        self, delivery: Delivery, *, now: datetime, check: Callable[[list[Delivery]], None]
    ) -> Delivery:
        """The same event sent again as a new delivery (its own id and retries), at once,
        unless `check` refuses, shown the owner's replays still pending. Reading those and
        adding this one is one step for each owner: SQLite's write turn, and on PostgreSQL
        a transaction-scoped advisory lock on the owner."""
        again = dataclasses.replace(
            delivery,
            delivery_id=new_delivery_id(),
            state=DeliveryState.PENDING,
            created_at=now,
            next_at=now,
            attempts=(),
        )
        async with self._write_turn, self._engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                lock = zlib.crc32(f"rendergate.replay:{delivery.owner}".encode())
                await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
            pending = (await connection.execute(_pending_replays(delivery.owner))).mappings()
            check([delivery_from_row(row) for row in pending])
            await connection.execute(deliveries.insert().values(**delivery_to_row(again)))
        return again


def _pending_replays(owner: str) -> sa.Select[Any]:
    """The owner's pending deliveries that are replays: the same event of the same task
    version has an earlier delivery (its first, written with the event)."""
    replay, earlier = deliveries.alias("replay"), deliveries.alias("earlier")
    sent_before = sa.exists().where(
        earlier.c.task_id == replay.c.task_id,
        earlier.c.version == replay.c.version,
        earlier.c.event == replay.c.event,
        earlier.c.created_at < replay.c.created_at,
    )
    return sa.select(replay).where(
        replay.c.owner == owner, replay.c.state == DeliveryState.PENDING.value, sent_before
    )
