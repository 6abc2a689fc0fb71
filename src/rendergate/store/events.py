"""The event log and the webhook outbox, written in the transaction of each task write.

A write that changes what a client sees appends the new version to `task_events`; if the
task subscribes to that event, a `deliveries` row goes with it. Both land with the task's
row or not at all, so no state change is lost to a crash between "saved" and "told". On
PostgreSQL the same transaction sends a NOTIFY for every write, seen or not (retention's),
delivered on commit to every process (runtime/pg_wakes.py): event streams and
delivery loops learn of it at once, and caches of finished tasks forget the task.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rendergate.domain.events import (
    Delivery,
    DeliveryState,
    EventType,
    stream_event,
    webhook_event,
)
from rendergate.domain.task import Task
from rendergate.store.codec import delivery_to_row, from_snapshot, to_snapshot
from rendergate.store.tables import deliveries, task_events

CHANNEL = "rendergate_task"

Changed = Callable[[Task | None, Task, bool], None]
"""Told after a commit: the task before (None for a new one) and after the write, and
whether a webhook delivery was written with it."""


def new_delivery_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


async def record_change(connection: AsyncConnection, old: Task | None, new: Task) -> bool:
    """Appends `new` to the event log if a client could see the change, with a delivery if
    its task subscribes, and on PostgreSQL tells every process; True when a delivery was
    written."""
    event = stream_event(old, new)
    hook = webhook_event(old, new)
    if event is not None:
        row = {
            "task_id": new.task_id,
            "version": new.version,
            "event": event.value,
            "task": to_snapshot(new),
            "created_at": new.updated_at,
        }
        await connection.execute(task_events.insert(), row)  # parameters: a cached statement
    if hook is not None:
        await connection.execute(deliveries.insert().values(**_delivery_row(new, hook)))
    if connection.dialect.name == "postgresql":  # every write: a copy kept anywhere is old now
        payload = f"{new.task_id}:{int(hook is not None)}"
        await connection.execute(sa.select(sa.func.pg_notify(CHANNEL, payload)))
        if old is None and new.parent is not None:  # the parent's children changed
            parent = f"{new.parent.task_id}:0"
            await connection.execute(sa.select(sa.func.pg_notify(CHANNEL, parent)))
    return hook is not None


def _delivery_row(task: Task, event: EventType) -> dict[str, Any]:
    """The delivery of `event`, due at once."""
    delivery = Delivery(
        delivery_id=new_delivery_id(),
        task_id=task.task_id,
        owner=task.owner,
        event=event,
        version=task.version,
        url=task.webhook_url,
        state=DeliveryState.PENDING,
        created_at=task.updated_at,
        next_at=task.updated_at,
    )
    return delivery_to_row(delivery)


class SqlEventLog:
    """Reads the event log; owns nothing (the engine is the caller's)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def after(self, task_id: int, version: int, limit: int = 100) -> list[tuple[str, Task]]:
        """The task's events after `version`, oldest first: (event type, task as it was)."""
        query = (
            sa.select(task_events.c.event, task_events.c.task)
            .where(task_events.c.task_id == task_id, task_events.c.version > version)
            .order_by(task_events.c.version)
            .limit(limit)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [(event, from_snapshot(task)) for event, task in rows]

    async def at(self, task_id: int, version: int) -> Task | None:
        """The task as its event of `version` recorded it."""
        query = sa.select(task_events.c.task).where(
            task_events.c.task_id == task_id, task_events.c.version == version
        )
        async with self._engine.connect() as connection:
            raw = (await connection.execute(query)).scalar_one_or_none()
        return None if raw is None else from_snapshot(raw)


def message_delivery(
    *, subject: int, owner: str, event: EventType, url: str, data: Any, now: datetime
) -> Delivery:
    """A delivery that carries its whole message, due at once: an event with no task version
    to render it from (a batch's end; an account's, `subject` 0)."""
    return Delivery(
        delivery_id=new_delivery_id(),
        task_id=subject,
        owner=owner,
        event=event,
        version=0,
        url=url,
        state=DeliveryState.PENDING,
        created_at=now,
        next_at=now,
        body={"type": event.value, "timestamp": now.isoformat(), "data": data},
    )
