"""A worker's place in the cluster: its heartbeat, its fence, and the reaper it takes
turns running.

A worker beats every sixth of its TTL (RENDERGATE_WORKER_DEAD_AFTER_S, 30 s by default;
store/workers.py). A worker that finds itself declared dead, or that could not beat for half
the TTL, stops running tasks at once (`on_fenced`): by then another may be resuming them,
and two executions of one task must not overlap for long. The reaper, one worker at a time,
declares workers silent for the TTL dead and puts their PENDING workflows back on their
queues (recovery.py), where the survivors claim them under the queues' caps: a dead
worker's tasks run again within about the TTL and one beat (35 s by default).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable

import structlog

from rendergate.runtime import recovery
from rendergate.store.workers import WorkerInfo, WorkerRows

log = structlog.get_logger(__name__)

SCAN_EVERY_S = 60.0  # how often the reaper also looks for executors no row names


def new_executor_id() -> str:
    """Unique per start: a restarted worker is a new member; the reaper resumes the old one's."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Membership:
    def __init__(
        self,
        rows: WorkerRows,
        me: WorkerInfo,
        *,
        ttl_s: float,
        on_fenced: Callable[[], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rows = rows
        self.heartbeat_s = ttl_s / 6
        self._fence_after_s = ttl_s / 2  # well before the others may declare it dead
        self.me = me
        self._on_fenced = on_fenced
        self._clock = clock
        self._last_beat = clock()
        self._next_scan = clock()  # at start: the executors of an earlier run are dead
        self.fenced = False

    async def join(self) -> None:
        await self._rows.join(self.me)
        self._last_beat = self._clock()

    async def leave(self) -> None:
        if not self.fenced:
            await self._rows.leave(self.me.executor_id)

    async def run(self) -> None:
        """Beats and reaps until cancelled (or fenced)."""
        while not self.fenced:
            await self.tick()
            await asyncio.sleep(self.heartbeat_s)

    async def tick(self) -> None:
        try:
            alive = await self._rows.beat(self.me.executor_id)
        except Exception as exc:  # the database is away: keep going, up to the fence
            log.warning("heartbeat failed", error=type(exc).__name__)
            if self._clock() - self._last_beat > self._fence_after_s:
                await self._fence("no heartbeat reached the database")
            return
        if not alive:
            await self._fence("this worker was declared dead")
            return
        self._last_beat = self._clock()
        try:
            await self.reap()
        except Exception:  # a hiccup must not end the loop: the next tick reaps again
            log.exception("reaping failed")

    async def reap(self) -> int:
        """Resumes the tasks of dead and stopped workers, when it is this worker's turn."""
        async with self._rows.reaping() as my_turn:
            if not my_turn:
                return 0
            me = self.me.executor_id
            registered = await self._rows.to_recover(me)
            strays: set[str] = set()
            if self._clock() >= self._next_scan:
                self._next_scan = self._clock() + SCAN_EVERY_S
                strays = await recovery.pending_executors() - await self._rows.live(me)
            gone = sorted((set(registered) | strays) - {me})
            if not gone:
                return 0
            resumed = await recovery.recover(gone)
            await self._rows.recovered(registered)
            log.info("resumed the tasks of stopped workers", executors=gone, workflows=resumed)
            return resumed

    def turn(self) -> contextlib.AbstractAsyncContextManager[bool]:
        """True for the one worker of the cluster whose turn it is for a cluster-wide chore
        (the reaper's lock): the reconciler's sweep, run once, not by every worker."""
        return self._rows.reaping()

    async def _fence(self, why: str) -> None:
        self.fenced = True
        log.error("worker fenced: stopping its tasks", reason=why, executor=self.me.executor_id)
        await self._on_fenced()
