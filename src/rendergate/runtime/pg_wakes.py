"""Wake-ups across processes, through PostgreSQL's LISTEN/NOTIFY.

A webhook or a cancel may reach any API process, while the task is tracked by one worker
somewhere. The receiving process sends `pg_notify('rendergate_wake', '<task id>:<reason>')`
after its write has committed; every worker holds one connection LISTENing on the channel
and wakes the tracking loop of each task it follows (and ignores the others). A broadcast
suits tens of workers. A notification lost while a worker reconnects is made good by
waking every task it tracks once, and by the polls that follow every task anyway.

The same connection LISTENs to the task writes every process's store announces
(store/events.py) and tells this process's `Changes`: event streams and the webhook
delivery loop learn of a write made anywhere.
"""

from __future__ import annotations

import asyncio

import psycopg
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.runtime.pg_rounds import CatchUp
from rendergate.services.changes import Changes
from rendergate.services.context import Wakeups
from rendergate.services.ports import Wake
from rendergate.store.events import CHANNEL as CHANGES_CHANNEL

log = structlog.get_logger(__name__)

CHANNEL = "rendergate_wake"
RECONNECT_MAX_S = 10.0


class PostgresWakes:
    """Sends wakes on the task database; `listen` delivers them to this process's loops."""

    def __init__(
        self, engine: AsyncEngine, wakeups: Wakeups, changes: Changes, catch_up: CatchUp
    ) -> None:
        self._engine = engine
        self._wakeups = wakeups
        self._changes = changes
        self._catch_up = catch_up  # its rounds come back on this connection
        self.connected = asyncio.Event()  # set while the listener holds its connection

    async def send(self, task_id: int, reason: Wake) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(
                sa.select(sa.func.pg_notify(CHANNEL, f"{task_id}:{reason.value}"))
            )

    async def listen(self) -> None:
        """Delivers wakes until cancelled, reconnecting (with back-off) when cut off."""
        delay = 0.5
        while True:
            try:
                await self._listen_once()
            except (psycopg.Error, OSError) as exc:
                log.warning("wake listener lost its connection", error=type(exc).__name__)
            finally:
                self._catch_up.lost()
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _listen_once(self) -> None:
        url = self._engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as connection:
            await connection.execute(f"LISTEN {CHANNEL}")
            await connection.execute(f"LISTEN {CHANGES_CHANNEL}")
            await connection.execute(f"LISTEN {self._catch_up.channel}")
            self.connected.set()
            self._wakeups.wake_all(Wake.RECONNECTED)  # what was sent while we were away
            self._changes.publish_all()
            self._catch_up.connected = True
            async for note in connection.notifies():
                if note.channel == CHANGES_CHANNEL:
                    self._changed(note.payload)
                elif note.channel == self._catch_up.channel:
                    self._catch_up.heard(note.payload)
                else:
                    self._deliver(note.payload)

    def _changed(self, payload: str) -> None:
        task, _, delivery = payload.partition(":")
        try:
            self._changes.publish(int(task), delivery == "1")
        except ValueError:
            log.warning("unreadable change", payload=payload[:100])

    def _deliver(self, payload: str) -> None:
        task, _, reason = payload.partition(":")
        try:
            self._wakeups.wake(int(task), Wake(reason))
        except ValueError:
            log.warning("unreadable wake", payload=payload[:100])
