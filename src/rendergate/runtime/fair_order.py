"""The order a provider's queue runs its tasks in: round-robin across keys, by DBOS priority.

DBOS claims a queue's lowest priority first, then its oldest (its partitioned queues pick
partitions at random instead: docs/architecture.md "Fair across keys"). A task is queued in
its key's next round: the one after the key's last task still waiting or running there, or,
when the key has none, the round now being served (the highest priority running). Each
round holds one task per key with work, so one key's backlog never holds another key's task
behind all of it; a key's own tasks keep their order. The key's id rides on the workflow's
row as its `queue_partition_key`, only as a label: the queues are not partitioned, so DBOS's
claim and caps are unchanged. Concurrent creates may share a round (then the oldest first).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from dbos import SetEnqueueOptions

OPEN_LABEL = "open"  # open mode's tasks (owner ""); a key's id is hex, so never this
MAX_PRIORITY = 2**31 - 1  # DBOS's bound
_QUEUED = ("ENQUEUED", "PENDING")


def label_of(owner: str) -> str:
    return owner or OPEN_LABEL


def next_round(own_last: int | None, serving: int | None) -> int:
    """The key's next round: after its last one still queued, and never before the one in
    service (priorities start at 1; 0 is a workflow queued before rounds, served first)."""
    now = max(serving or 0, 1)
    return now if own_last is None else min(max(own_last + 1, now), MAX_PRIORITY)


@dataclass(frozen=True)
class Placement:
    """Where a workflow goes in its queue's order."""

    priority: int
    label: str | None  # None: the workflow it follows was queued unlabelled (before rounds)

    @contextlib.contextmanager
    def enqueuing(self) -> Iterator[None]:
        """For an enqueue in this process (`Queue.enqueue_async`)."""
        with SetEnqueueOptions(priority=self.priority, queue_partition_key=self.label):
            yield


def _workflows(connection: sa.Connection) -> sa.TableClause:
    schema = None if connection.dialect.name == "sqlite" else "dbos"  # as dbos_setup.py
    return sa.table(
        "workflow_status",
        sa.column("workflow_uuid"),
        sa.column("queue_name"),
        sa.column("status"),
        sa.column("priority"),
        sa.column("queue_partition_key"),
        schema=schema,
    )


def placement(connection: sa.Connection, queue: str, label: str | None) -> Placement:
    """The next round of `label`'s key on `queue`, read on `connection` (which sees the
    workflows its own transaction queued: a batch's members take consecutive rounds).

    Each figure is one seek on an index DBOS keeps, not a pass over the queue: a create
    with 10,000 tasks waiting costs what it does with none."""
    workflows = _workflows(connection)
    serving = connection.execute(
        sa.select(sa.func.max(workflows.c.priority)).where(
            workflows.c.queue_name == queue, workflows.c.status == "PENDING"
        )
    ).scalar()
    own_last = None
    if label is not None:
        lasts = [_last_round(connection, queue, label, status) for status in _QUEUED]
        own_last = max((last for last in lasts if last is not None), default=None)
    return Placement(next_round(own_last, serving), label)


def _last_round(connection: sa.Connection, queue: str, label: str, status: str) -> int | None:
    """The key's highest priority in `status` on `queue`. The literal terms repeat the
    WHERE of DBOS's partial index on (queue, status, key, priority), which SQLite uses only
    when the query states them as written."""
    workflows = _workflows(connection)
    query = sa.select(sa.func.max(workflows.c.priority)).where(
        workflows.c.queue_name == queue,
        sa.text("status IN ('ENQUEUED', 'PENDING') AND queue_partition_key IS NOT NULL"),
        workflows.c.status == status,
        workflows.c.queue_partition_key == label,
    )
    last: int | None = connection.execute(query).scalar()
    return last


def label_of_workflow(connection: sa.Connection, workflow_id: str) -> str | None:
    workflows = _workflows(connection)
    query = sa.select(workflows.c.queue_partition_key).where(
        workflows.c.workflow_uuid == workflow_id
    )
    label: str | None = connection.execute(query).scalar()
    return label


def status_of_workflow(connection: sa.Connection, workflow_id: str) -> str | None:
    workflows = _workflows(connection)
    query = sa.select(workflows.c.status).where(workflows.c.workflow_uuid == workflow_id)
    status: str | None = connection.execute(query).scalar()
    return status


class FairOrder:
    """Placements read through an engine on DBOS's database (not a DBOS call, so a
    workflow that asks records no step for it)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    async def for_owner(self, queue: str, owner: str) -> Placement:
        return await asyncio.to_thread(self._read, queue, label_of(owner), None)

    async def status_or_place(
        self, queue: str, owner: str, workflow_id: str
    ) -> tuple[str | None, Placement | None]:
        """The workflow's DBOS status where it exists, else (None and) its key's next round:
        one trip to the database for a task's start, where DBOS's status call cost more."""
        return await asyncio.to_thread(self._status_or_place, queue, label_of(owner), workflow_id)

    async def following(self, queue: str, workflow_id: str) -> Placement:
        """A moved task's next workflow: its key's next round on the new queue."""
        return await asyncio.to_thread(self._read, queue, None, workflow_id)

    def _read(self, queue: str, label: str | None, follows: str | None) -> Placement:
        with self._engine.connect() as connection:
            if follows is not None:
                label = label_of_workflow(connection, follows)
            return placement(connection, queue, label)

    def _status_or_place(
        self, queue: str, label: str, workflow_id: str
    ) -> tuple[str | None, Placement | None]:
        with self._engine.connect() as connection:
            status = status_of_workflow(connection, workflow_id)
            return status, None if status is not None else placement(connection, queue, label)
