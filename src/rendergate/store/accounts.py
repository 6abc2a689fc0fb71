"""Choosing a task's pooled provider key (providers/accounts.py) for the whole cluster.

A key's tasks are the unfinished rows that name it: the choice counts them and writes the
task's own in one transaction, so two workers never both take a key's last place, and a
place is given back by the task ending (or moving to another provider), never leaked. On
PostgreSQL the choices of one provider take turns on an advisory lock; on SQLite the first
statement is a write, which takes the database's one write lock before anything is counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import sqlalchemy as sa

from rendergate.domain.task import TaskStatus
from rendergate.store.tables import tasks

UNFINISHED = (TaskStatus.SUBMITTED.value, TaskStatus.PROCESSING.value)


def provider_lock(provider: str) -> int:
    """The advisory lock id of a provider's key choices: 64 bits of a hash of its name."""
    digest = hashlib.sha256(f"rendergate.provider-accounts:{provider}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def choose(
    connection: sa.Connection, task_id: int, provider: str, room: Mapping[str, int]
) -> str | None:
    """Of the keys in `room` (id to concurrency, in order of preference), the one with the
    most places free besides this task, written as the task's; None when none has one."""
    this = tasks.c.task_id == task_id
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(provider_lock(provider))))
    else:  # a write first: the write lock is ours until the choice is made
        connection.execute(tasks.update().where(this).values(provider_account=None))
    query = (
        sa.select(tasks.c.provider_account, sa.func.count())
        .where(
            tasks.c.provider == provider,
            tasks.c.provider_account.in_(list(room)),
            tasks.c.status.in_(UNFINISHED),
            tasks.c.task_id != task_id,
        )
        .group_by(tasks.c.provider_account)
    )
    taken = {str(account): int(count) for account, count in connection.execute(query).all()}
    best = pick(room, taken)
    if best is None:
        return None
    connection.execute(tasks.update().where(this).values(provider_account=best))
    return best


def pick(room: Mapping[str, int], taken: Mapping[str, int]) -> str | None:
    """The key of `room` (id to concurrency) with the most places free, the first of equals;
    None when none has one."""
    free = {account: cap - taken.get(account, 0) for account, cap in room.items()}
    best = max(free, key=lambda account: free[account], default=None)
    return None if best is None or free[best] <= 0 else best
