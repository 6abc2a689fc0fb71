"""The usage rollup: each task counted into its key's row for the day it was created (and
its app, preset and currency), in the transaction of the write that changes it: created
(and charged) as it is added, completed, failed or canceled (and what it cost, and any
refund) as it finishes. /usage and budgets read these rows, not the tasks."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from rendergate.domain.task import Task, TaskStatus
from rendergate.store.tables import usage_daily

KEY = ("owner", "day", "app", "preset", "currency")
COUNTS = ("created", "completed", "failed", "canceled", "unknown_cost")
AMOUNTS = ("spent", "charged", "refunded")


def changes(old: Task | None, new: Task) -> dict[str, Any]:
    """What a write from `old` to `new` adds to its row; empty when it adds nothing."""
    added: dict[str, Any] = {}
    if old is None:
        added["created"] = 1
        if new.charge is not None:
            added["charged"] = new.charge.amount
    if new.status.is_terminal and (old is None or not old.status.is_terminal):
        added[_ended(new.status)] = 1
        if new.spent is None:
            added["unknown_cost"] = 1
        elif new.spent.amount:
            added["spent"] = new.spent.amount
        if new.refunded and new.charge is not None:
            added["refunded"] = new.charge.amount
    return added


def _ended(status: TaskStatus) -> str:
    return {"completed": "completed", "failed": "failed"}.get(status.value, "canceled")


async def count(connection: AsyncConnection, old: Task | None, new: Task, currency: str) -> None:
    """Adds the write's changes to its row, creating the row at its first."""
    added = changes(old, new)
    if not added:
        return
    key = {
        "owner": new.owner,
        "day": new.created_at.date(),
        "app": new.app,
        "preset": new.preset,
        "currency": currency,
    }
    values = {name: added.get(name, 0) for name in COUNTS} | {
        name: added.get(name, Decimal(0)) for name in AMOUNTS
    }
    upsert = _upsert(connection.dialect.name, tuple(sorted(added)))
    await connection.execute(upsert, key | values)


@functools.cache
def _upsert(dialect_name: str, grown: tuple[str, ...]) -> Insert:
    """The upsert adding to the `grown` columns, built once: its values go as parameters,
    since a statement carrying its own costs a cache key over every value's type, each
    time (2 ms of the event loop's time per create)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    insert = dialect.insert(usage_daily)
    added = {name: usage_daily.c[name] + insert.excluded[name] for name in grown}
    upsert: Insert = insert.on_conflict_do_update(index_elements=KEY, set_=added)
    return upsert
