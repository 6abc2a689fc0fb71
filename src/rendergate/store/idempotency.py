"""The idempotency_keys table: which task a client's Idempotency-Key created (store side of
services/idempotency.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.store.base import AlongWrite, Claim
from rendergate.store.tables import idempotency_keys as table


class SqlIdempotency:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(
        self, claim: Claim, *, stale_before: datetime, abandoned_before: datetime
    ) -> Claim | None:
        """Takes the key for this request (None), or answers the claim already holding it.
        A claim past `stale_before`, or one never completed by `abandoned_before`, is
        dropped first."""
        mine = (table.c.owner == claim.owner) & (table.c.key == claim.key)
        expired = (table.c.created_at < stale_before) | (
            table.c.task_id.is_(None) & (table.c.created_at < abandoned_before)
        )
        try:
            async with self._engine.begin() as connection:
                await connection.execute(table.delete().where(mine & expired))
                await connection.execute(table.insert().values(**_row(claim)))
            return None
        except IntegrityError:
            async with self._engine.connect() as connection:
                row = (await connection.execute(sa.select(table).where(mine))).mappings().first()
            if row is None:  # released meanwhile: the caller may simply try again
                return Claim(claim.owner, claim.key, claim.fingerprint, claim.created_at)
            return Claim(
                row["owner"], row["key"], row["fingerprint"], row["created_at"], row["task_id"]
            )

    def completing(self, claim: Claim, task_id: int) -> AlongWrite:
        """The write that ties the claim to its task, in the transaction adding the task."""

        def write(connection: Any) -> None:
            connection.execute(
                table.update()
                .where((table.c.owner == claim.owner) & (table.c.key == claim.key))
                .values(task_id=task_id)
            )

        return write

    async def release(self, claim: Claim) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                table.delete().where(
                    (table.c.owner == claim.owner)
                    & (table.c.key == claim.key)
                    & table.c.task_id.is_(None)
                )
            )


def _row(claim: Claim) -> dict[str, Any]:
    return {
        "owner": claim.owner,
        "key": claim.key,
        "fingerprint": claim.fingerprint,
        "created_at": claim.created_at,
        "task_id": claim.task_id,
    }
