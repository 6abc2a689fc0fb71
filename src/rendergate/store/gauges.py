"""What the database knows for the whole cluster, read when /metrics is scraped: tasks
waiting and in flight per provider (the status index keeps this to the unfinished rows),
each running worker's heartbeat age, and webhooks still to be made."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rendergate.domain.events import DeliveryState
from rendergate.domain.task import TaskStatus
from rendergate.store.tables import deliveries, tasks, workers


@dataclass(frozen=True)
class ClusterGauges:
    waiting: dict[str, int] = field(default_factory=dict)  # by provider
    in_flight: dict[str, int] = field(default_factory=dict)  # by provider
    heartbeat_age_s: dict[str, float] = field(default_factory=dict)  # by executor id
    webhooks_pending: int = 0


class SqlGauges:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def read(self) -> ClusterGauges:
        open_statuses = [TaskStatus.SUBMITTED.value, TaskStatus.PROCESSING.value]
        by_status = (
            sa.select(tasks.c.provider, tasks.c.status, sa.func.count())
            .where(tasks.c.status.in_(open_statuses))
            .group_by(tasks.c.provider, tasks.c.status)
        )
        beats = sa.select(workers.c.executor_id, workers.c.heartbeat_at).where(
            workers.c.state == "running"
        )
        pending = sa.select(sa.func.count()).where(
            deliveries.c.state == DeliveryState.PENDING.value
        )
        async with self._engine.connect() as connection:
            counts = (await connection.execute(by_status)).all()
            now = await self._now(connection)
            beat_rows = (await connection.execute(beats)).all()
            webhooks = int((await connection.execute(pending)).scalar_one())
        waiting = {p: n for p, s, n in counts if s == TaskStatus.SUBMITTED.value}
        running = {p: n for p, s, n in counts if s == TaskStatus.PROCESSING.value}
        ages = {
            row.executor_id: max((now - row.heartbeat_at).total_seconds(), 0.0) for row in beat_rows
        }
        return ClusterGauges(waiting, running, ages, webhooks)

    async def _now(self, connection: AsyncConnection) -> datetime:
        """The clock heartbeats are written with (store/workers.py)."""
        if self._engine.dialect.name != "postgresql":
            return datetime.now(UTC)
        now = await connection.scalar(sa.select(sa.func.now()))
        assert isinstance(now, datetime)
        return now
