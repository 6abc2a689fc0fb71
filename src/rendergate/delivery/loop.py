"""The webhook delivery loop, one per worker: takes due deliveries, signs and sends each,
and writes back how it went (delivered, to try again later, or given up).

Deliveries are rows written with the events they report (store/events.py), so a restart
or a dead worker loses none: a try in flight when its worker died is taken again once its
lease runs out. Each try runs on its own, bounded by the receiver timeout and by
`concurrency`, so a slow or failing receiver holds up neither tasks nor other deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from rendergate.delivery.sender import Sent
from rendergate.delivery.signing import signed_headers
from rendergate.domain.events import Attempt, Delivery, RetryPolicy
from rendergate.domain.task import Task
from rendergate.services.changes import Changes

log = structlog.get_logger(__name__)

LEASE_MARGIN_S = 30.0  # a lease outlasts a try's time limit by this: it runs out only if
# its worker died (a stopping worker gives its leases back)
IDLE_CHECK_S = 5.0  # looks for due deliveries at least this often


class DeliveryRows(Protocol):
    async def take_due(
        self, *, now: datetime, lease_until: datetime, limit: int
    ) -> list[tuple[Delivery, Task | None]]:
        """Leased deliveries, each with the task its event recorded (None: a batch's
        event, whose delivery holds its whole message)."""
        ...

    async def record(
        self, delivery: Delivery, attempt: Attempt, *, next_at: datetime | None, lease: datetime
    ) -> None: ...

    async def release(self, delivery_ids: list[str], *, lease: datetime) -> None: ...

    async def next_due(self, now: datetime) -> datetime | None: ...


class Sender(Protocol):
    async def send(self, url: str, headers: dict[str, str], body: str) -> Sent: ...


@dataclass
class DeliveryLoop:
    rows: DeliveryRows
    sender: Sender
    secrets: Callable[[str], Awaitable[list[str]]]  # an owner's signing secrets
    render: Callable[[Task], dict[str, Any]]  # the task in GET's shape
    changes: Changes
    clock: Callable[[], datetime]
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 32
    try_timeout_s: float = 10.0
    on_outcome: Callable[[str], None] | None = None  # delivered, retrying, given up (metrics)
    _running: dict[asyncio.Task[None], tuple[str, datetime]] = field(default_factory=dict)

    async def run(self) -> None:
        """Delivers until cancelled; tries in flight are cancelled with it (their leases
        run out, and they are tried again)."""
        try:
            while True:
                self.changes.deliveries.clear()
                try:
                    await self._start_due()
                except Exception:  # a database hiccup must not end the loop
                    log.exception("taking due webhooks failed")
                await self._idle()
        finally:
            await self._give_back()

    async def _give_back(self) -> None:
        """Cancels the tries in flight and releases their leases."""
        cut = dict(self._running)
        for running in cut:
            running.cancel()
        await asyncio.gather(*cut, return_exceptions=True)
        by_lease: dict[datetime, list[str]] = {}
        for delivery_id, lease in cut.values():
            by_lease.setdefault(lease, []).append(delivery_id)
        for lease, ids in by_lease.items():
            with contextlib.suppress(Exception):  # else the leases run out by themselves
                await self.rows.release(ids, lease=lease)

    async def _start_due(self) -> None:
        free = self.concurrency - len(self._running)
        if free <= 0:
            return
        now = self.clock()
        lease = now + timedelta(seconds=self.try_timeout_s + LEASE_MARGIN_S)
        for delivery, task in await self.rows.take_due(now=now, lease_until=lease, limit=free):
            running = asyncio.create_task(self._try(delivery, task, lease))
            self._running[running] = (delivery.delivery_id, lease)
            running.add_done_callback(self._finished)

    def _finished(self, running: asyncio.Task[None]) -> None:
        self._running.pop(running, None)
        self.changes.deliveries.set()  # a slot is free: take the next due

    async def _idle(self) -> None:
        """Until a delivery is written or a try ends, or the soonest retry is due."""
        timeout = IDLE_CHECK_S
        if len(self._running) < self.concurrency:
            with contextlib.suppress(Exception):
                soonest = await self.rows.next_due(self.clock())
                if soonest is not None:
                    wait = (soonest - self.clock()).total_seconds()
                    timeout = min(timeout, max(wait, 0.01))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.changes.deliveries.wait(), timeout)

    async def _try(self, delivery: Delivery, task: Task | None, lease: datetime) -> None:
        try:
            attempt = await self._send(delivery, task)
            next_at = None if attempt.succeeded else self.policy.next_at(delivery, attempt)
            await self.rows.record(delivery, attempt, next_at=next_at, lease=lease)
        except Exception:  # left leased: tried again when the lease runs out
            log.exception("webhook try failed", task_id=delivery.task_id)
            return
        outcome = "delivered" if attempt.succeeded else ("retrying" if next_at else "given up")
        if self.on_outcome is not None:
            self.on_outcome(outcome.replace(" ", "_"))
        log.info(
            f"webhook {outcome}",
            task_id=delivery.task_id,
            delivery_id=delivery.delivery_id,
            webhook_event=delivery.event.value,
            status_code=attempt.status_code,
            error=attempt.error,
        )

    async def _send(self, delivery: Delivery, task: Task | None) -> Attempt:
        secrets = await self.secrets(delivery.owner)
        at = self.clock()
        if not secrets:
            why = (
                "its API key was revoked"
                if delivery.owner
                else "RENDERGATE_WEBHOOK_SECRET is unset"
            )
            why = f"no signing secret: {why}"
            return Attempt(at=at, status_code=None, latency_ms=0, error=f"not sent: {why}")
        body = json.dumps(
            _message(delivery, task, self.render), ensure_ascii=False, separators=(",", ":")
        )
        headers = signed_headers(delivery.delivery_id, at, body, secrets)
        started = asyncio.get_running_loop().time()
        sent = await self.sender.send(delivery.url, headers, body)
        latency_ms = round((asyncio.get_running_loop().time() - started) * 1000)
        return Attempt(at=at, status_code=sent.status_code, latency_ms=latency_ms, error=sent.error)


def _message(
    delivery: Delivery, task: Task | None, render: Callable[[Task], dict[str, Any]]
) -> Any:
    """The webhook's JSON: a task's event in GET's shape, or a batch's as it was stored."""
    if task is None:
        return delivery.body or {"type": delivery.event.value, "data": {}}
    return {
        "type": delivery.event.value,
        "timestamp": task.updated_at.isoformat(),
        "data": render(task),
    }
