"""Reads of the usage rollup (usage_daily, store/usage.py writes it): its rows summed over a
range of days, grouped by any of key, day, app and preset, and always by currency, since
sums of different currencies mean nothing. /usage and `rendergate usage` both read here;
the primary key (owner, day, ...) makes one key's range an index scan.

By provider key (the pooled key that ran each task: tasks.provider_account) the sums come
from the task rows themselves, which retention keeps (it removes files only), counted as
the rollup counts them; the owner-and-created index keeps one key's range a range scan."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.domain.task import TERMINAL_STATUSES
from rendergate.store.tables import api_keys, tasks, usage_daily
from rendergate.store.usage import AMOUNTS, COUNTS

DIMENSIONS = ("owner", "day", "app", "preset")
ON_TASKS = ("owner", "app", "preset")  # what groups with provider_key (services/usage.py)
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
    return with_key_names(query, by)


def with_key_names(
    query: sa.Select[Any], by: Sequence[str], first: Sequence[str] = ()
) -> sa.Select[Any]:
    """The sums with each key's name when grouped by key (`owner`), ordered by it; `first`
    names columns to order by before the grouping (nulls first)."""
    if "owner" not in by:
        return query
    sums_of = query.subquery()
    named = sa.select(sums_of, api_keys.c.name.label("key_name")).outerjoin(
        api_keys, api_keys.c.key_id == sums_of.c.owner
    )
    by_name = sa.func.coalesce(api_keys.c.name, "")  # the open caller ("", no key) first
    order = [by_name if name == "owner" else sums_of.c[name] for name in by]
    leading = [sa.nulls_first(sums_of.c[name]) for name in first]  # as SQLite has them
    return named.order_by(*leading, *order, sums_of.c.owner, sums_of.c.currency)


def provider_key_query(
    by: Sequence[str], since: date, until: date, owner: str | None, currency: str
) -> sa.Select[Any]:
    """The task rows' sums per provider, provider key and group of `by` (of ON_TASKS), as
    the rollup counts them; a row without a currency (no charge, no known cost) in
    `currency`, the server's, as the rollup would have it."""
    ended = tasks.c.status.in_([status.value for status in TERMINAL_STATUSES])
    grouped = [
        tasks.c.provider,
        tasks.c.provider_account,
        *(tasks.c[name] for name in by),
        sa.func.coalesce(tasks.c.charge_currency, tasks.c.spent_currency, currency).label(
            "currency"
        ),
    ]
    query = (
        sa.select(
            *grouped,
            sa.func.count().label("created"),
            *(_counted(tasks.c.status == name, name) for name in ("completed", "failed")),
            _counted(tasks.c.status == "canceled", "canceled"),
            _counted(ended & tasks.c.spent_amount.is_(None), "unknown_cost"),
            sa.func.sum(sa.case((ended, tasks.c.spent_amount))).label("spent"),
            sa.func.sum(tasks.c.charge_amount).label("charged"),
            sa.func.sum(sa.case((tasks.c.refunded, tasks.c.charge_amount))).label("refunded"),
        )
        .where(tasks.c.created_at >= _midnight(since))
        .where(tasks.c.created_at < _midnight(until + timedelta(days=1)))
        .group_by(*grouped)
        .order_by(tasks.c.provider, sa.nulls_first(tasks.c.provider_account), *grouped[2:])
    )
    query = query if owner is None else query.where(tasks.c.owner == owner)
    return with_key_names(query, by, first=("provider", "provider_account"))


def _counted(condition: sa.ColumnElement[bool], name: str) -> sa.Label[Any]:
    return sa.func.sum(sa.case((condition, 1), else_=0)).label(name)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


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

    async def by_provider_key(
        self, by: Sequence[str], since: date, until: date, *, owner: str | None, currency: str
    ) -> list[dict[str, Any]]:
        """As `sums`, per provider and provider key besides `by` (of ON_TASKS)."""
        query = provider_key_query(by, since, until, owner, currency)
        async with self._engine.connect() as connection:
            return [_exact(dict(row)) for row in (await connection.execute(query)).mappings()]


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
