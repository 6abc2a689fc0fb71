"""Reads of the usage rollup (usage_daily, store/usage.py writes it): its rows summed over a
range of days, grouped by any of key, day, app and preset, and always by currency, since
sums of different currencies mean nothing. /usage and `rendergate usage` both read here;
the primary key (owner, day, ...) makes one key's range an index scan."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.store.tables import api_keys, usage_daily
from rendergate.store.usage import AMOUNTS, COUNTS

DIMENSIONS = ("owner", "day", "app", "preset")
PLACES = Decimal("0.000001")  # the column's scale (tables.AMOUNT)


def usage_query(by: Sequence[str], since: date, until: date, owner: str | None) -> sa.Select[Any]:
    """The rollup's sums per group of `by` (of DIMENSIONS) and currency, `since` to
    `until` inclusive; one key's (`owner`) or every key's (None), each key with its name."""
    grouped = [usage_daily.c[name] for name in by] + [usage_daily.c.currency]
    sums = [sa.func.sum(usage_daily.c[name]).label(name) for name in COUNTS + AMOUNTS]
    query = (
        sa.select(*grouped, *sums)
        .where(usage_daily.c.day >= since, usage_daily.c.day <= until)
        .group_by(*grouped)
        .order_by(*grouped)
    )
    if owner is not None:
        query = query.where(usage_daily.c.owner == owner)
    if "owner" not in by:
        return query
    sums_of = query.subquery()
    named = sa.select(sums_of, api_keys.c.name.label("key_name")).outerjoin(
        api_keys, api_keys.c.key_id == sums_of.c.owner
    )
    by_name = sa.func.coalesce(api_keys.c.name, "")  # the open caller ("", no key) first
    order = [by_name if name == "owner" else sums_of.c[name] for name in by]
    return named.order_by(*order, sums_of.c.owner, sums_of.c.currency)


class SqlUsage:
    """The rollup's reads, on the task database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def sums(
        self, by: Sequence[str], since: date, until: date, *, owner: str | None
    ) -> list[dict[str, Any]]:
        """One dict per group: its `by` values, currency, counts (int) and amounts (Decimal)."""
        async with self._engine.connect() as connection:
            rows = (await connection.execute(usage_query(by, since, until, owner))).mappings()
            return [_exact(dict(row)) for row in rows]


def _exact(row: dict[str, Any]) -> dict[str, Any]:
    """Counts as ints and amounts as Decimals at the column's scale (tables.Micros: whole
    millionths summed as integers, exact on SQLite and PostgreSQL alike)."""
    for name in COUNTS:
        row[name] = int(row[name] or 0)
    for name in AMOUNTS:
        row[name] = Decimal(str(row[name] or 0)).quantize(PLACES)
    if isinstance(row.get("day"), str):
        row["day"] = date.fromisoformat(row["day"])
    return row
