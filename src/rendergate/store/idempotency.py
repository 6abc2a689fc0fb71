"""The idempotency_keys table: which task a client's Idempotency-Key created (store side of
services/idempotency.py).

An unfinished claim names its holder (the request, and the process it runs in) and a lease
on the database's clock that the holder renews while it works. A retry takes the key over
once the lease lapses; on SQLite, whose one process is this one, a claim of any other
process at once (that process is gone). Only the holder completes or releases its claim, so
a holder whose lease lapsed while it lived cannot write a second task.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.store.base import AlongWrite, Claim, ClaimLost
from rendergate.store.tables import idempotency_keys as table
from rendergate.store.workers import database_now


class SqlIdempotency:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._process = uuid.uuid4().hex  # this process, for as long as it runs
        self._alone = engine.dialect.name != "postgresql"  # SQLite: one process at a time

    async def claim(self, claim: Claim, *, stale_before: datetime, lease_s: float) -> Claim | None:
        """Takes the key for this request (None), or answers the claim already holding it.
        A claim past `stale_before`, or an unfinished one whose holder is gone, is dropped
        first."""
        try:
            async with self._engine.begin() as connection:
                now = await database_now(connection)
                expired = (table.c.created_at < stale_before) | self._abandoned(now)
                await connection.execute(table.delete().where(_of(claim) & expired))
                await connection.execute(
                    table.insert().values(
                        **_row(claim),
                        process=self._process,
                        lease_until=now + timedelta(seconds=lease_s),
                    )
                )
            return None
        except IntegrityError:
            async with self._engine.connect() as connection:
                found = await connection.execute(sa.select(table).where(_of(claim)))
                row = found.mappings().first()
            if row is None:  # released meanwhile: the caller may simply try again
                return Claim(claim.owner, claim.key, claim.fingerprint, claim.created_at)
            return Claim(
                row["owner"], row["key"], row["fingerprint"], row["created_at"], row["task_id"]
            )

    def _abandoned(self, now: datetime) -> sa.ColumnElement[bool]:
        """Unfinished, and its holder gone: its lease lapsed (or it has none, from before
        leases), or on SQLite it was another process's."""
        gone = [table.c.lease_until.is_(None), table.c.lease_until < now]
        if self._alone:
            gone.append(table.c.process != self._process)
        return table.c.task_id.is_(None) & sa.or_(*gone)

    async def renew(self, claim: Claim, *, lease_s: float) -> None:
        async with self._engine.begin() as connection:
            now = await database_now(connection)
            await connection.execute(
                table.update()
                .where(_held_by(claim))
                .values(lease_until=now + timedelta(seconds=lease_s))
            )

    def completing(self, claim: Claim, task_id: int) -> AlongWrite:
        """The write that ties the claim to its task, in the transaction adding the task."""

        def write(connection: Any) -> None:
            done = connection.execute(table.update().where(_held_by(claim)).values(task_id=task_id))
            if done.rowcount != 1:
                raise ClaimLost(claim.key)

        return write

    async def release(self, claim: Claim) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(table.delete().where(_held_by(claim)))


def _of(claim: Claim) -> sa.ColumnElement[bool]:
    return (table.c.owner == claim.owner) & (table.c.key == claim.key)


def _held_by(claim: Claim) -> sa.ColumnElement[bool]:
    """The claim's row while it is unfinished and still this request's."""
    return _of(claim) & (table.c.holder == claim.holder) & table.c.task_id.is_(None)


def _row(claim: Claim) -> dict[str, Any]:
    return {
        "owner": claim.owner,
        "key": claim.key,
        "fingerprint": claim.fingerprint,
        "created_at": claim.created_at,
        "task_id": claim.task_id,
        "holder": claim.holder,
    }
