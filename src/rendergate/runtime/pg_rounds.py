"""Catching up with PostgreSQL's NOTIFY: has this process heard every change committed
before now?

A write's NOTIFY reaches the other processes a moment after its commit, and a client may
read the new version from another API process meanwhile; a copy kept here (the kept answers
of unfinished tasks, api/finished_cache.py) must not be served until the change that
spoils it is heard. PostgreSQL delivers a listening session the notifications of
different transactions in the order they committed, so a round trip settles it: this
process commits a NOTIFY of its own (on a channel only it listens on) and, once its
listener receives it back, it has received every notification committed before that one.

A round serves every request that arrived before it began: those arriving while one is
in flight wait for the next, so under load one round trip answers many polls. Rounds go
on a connection of their own, in autocommit: one statement each, no pool checkout, ping
or COMMIT (through the engine a round cost more CPU than the read it spares).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

ROUND_TIMEOUT_S = 5.0  # past this, the request does without the copy


class CatchUp:
    def __init__(self, engine: AsyncEngine) -> None:
        url = engine.url.set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._connection: psycopg.AsyncConnection[object] | None = None
        self.channel = f"rendergate_round_{secrets.token_hex(8)}"  # this process's own
        self.connected = False  # set by the listener while it holds its connection
        self._next: asyncio.Future[bool] | None = None  # the round new requests join
        self._running = False
        self._sent: dict[str, asyncio.Future[bool]] = {}  # rounds sent, by payload
        self._count = 0
        self._task: asyncio.Task[None] | None = None

    async def caught_up(self) -> bool:
        """True once every change committed before the call has been heard here; False
        when that cannot be known now (the listener is away, the database slow)."""
        if not self.connected:
            return False
        loop = asyncio.get_running_loop()
        joined = self._next = self._next or loop.create_future()
        if not self._running:
            self._running = True
            self._task = loop.create_task(self._rounds())  # held: a task only weakly kept
        try:
            return await asyncio.wait_for(asyncio.shield(joined), ROUND_TIMEOUT_S)
        except TimeoutError:
            return False

    async def _rounds(self) -> None:
        """Runs rounds while requests wait for one, each after the one before."""
        try:
            while (joined := self._next) is not None:
                self._count += 1
                payload = str(self._count)
                self._sent[payload] = joined
                self._next = None  # from here, requests wait for the next round
                try:
                    await self._send(payload)
                    await asyncio.wait_for(asyncio.shield(joined), ROUND_TIMEOUT_S)
                except (psycopg.Error, OSError, TimeoutError):  # away: do without
                    if not joined.done():
                        joined.set_result(False)
                self._sent.pop(payload, None)
        finally:
            self._running = False

    async def _send(self, payload: str) -> None:
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        try:
            await self._connection.execute("SELECT pg_notify(%s, %s)", (self.channel, payload))
        except (psycopg.Error, OSError):
            await self._drop()  # the next round connects again
            raise

    async def aclose(self) -> None:
        """At shutdown: stops the rounds and closes their connection."""
        if self._task is not None:
            self._task.cancel()
        await self._drop()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await connection.close()

    def heard(self, payload: str) -> None:
        """The listener received one of our rounds back."""
        round_ = self._sent.pop(payload, None)
        if round_ is not None and not round_.done():
            round_.set_result(True)

    def lost(self) -> None:
        """The listener lost its connection: no round in flight can come back."""
        self.connected = False
        for round_ in self._sent.values():
            if not round_.done():
                round_.set_result(False)
        self._sent.clear()
