"""The shares table: rows of domain/shares.py's Share, found by their token's hash."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.domain.shares import Share
from rendergate.store.tables import shares

_FIELDS = tuple(field.name for field in dataclasses.fields(Share))


def _share(row: Any) -> Share:
    return Share(**{name: row[name] for name in _FIELDS})


class SqlShareStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, share: Share) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(shares.insert().values(**dataclasses.asdict(share)))

    async def by_hash(self, token_hash: str) -> Share | None:
        return await self._one(sa.select(shares).where(shares.c.token_hash == token_hash))

    async def of_batch(self, owner: str, batch_id: int) -> list[Share]:
        query = (
            sa.select(shares)
            .where(shares.c.owner == owner, shares.c.batch_id == batch_id)
            .order_by(shares.c.created_at, shares.c.share_id)
        )
        async with self._engine.connect() as connection:
            return [_share(row) for row in (await connection.execute(query)).mappings()]

    async def revoke(self, share_id: int, owner: str, at: datetime) -> Share | None:
        mine = sa.and_(shares.c.share_id == share_id, shares.c.owner == owner)
        async with self._engine.begin() as connection:
            await connection.execute(
                shares.update().where(mine, shares.c.revoked_at.is_(None)).values(revoked_at=at)
            )
            row = (await connection.execute(sa.select(shares).where(mine))).mappings().first()
        return None if row is None else _share(row)

    async def _one(self, query: Any) -> Share | None:
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).mappings().first()
        return None if row is None else _share(row)


class MemoryShareStore:
    """The same, in a dict: for a process without the SQL store (tests, demos)."""

    def __init__(self) -> None:
        self.rows: dict[int, Share] = {}

    async def add(self, share: Share) -> None:
        self.rows[share.share_id] = share

    async def by_hash(self, token_hash: str) -> Share | None:
        return next((s for s in self.rows.values() if s.token_hash == token_hash), None)

    async def of_batch(self, owner: str, batch_id: int) -> list[Share]:
        found = [s for s in self.rows.values() if (s.owner, s.batch_id) == (owner, batch_id)]
        return sorted(found, key=lambda s: (s.created_at, s.share_id))

    async def revoke(self, share_id: int, owner: str, at: datetime) -> Share | None:
        share = self.rows.get(share_id)
        if share is None or share.owner != owner:
            return None
        self.rows[share_id] = share.revoke(now=at)
        return self.rows[share_id]
