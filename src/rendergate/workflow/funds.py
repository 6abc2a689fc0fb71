"""Providers out of funds: after a refusal for balance (OutOfFunds), this process sends
the provider no new job until its balance reads above zero again, so its tasks wait (or
fall back) instead of failing one after another.

The balance is read again at most once per `recheck_s` (RENDERGATE_CIRCUIT_OPEN_S) by
whichever task waits, and by the worker that reads balances on a schedule
(services/balances.py). A provider that cannot say its balance gets one trial task per
period, as an open circuit does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import ProviderError
from rendergate.domain.task import ErrorKind, Task
from rendergate.providers.base import balance_capability
from rendergate.services.writer import TaskWriter

log = structlog.get_logger(__name__)

POLL_S = 1.0  # how often a waiting task looks at the gate (this process's memory)


@dataclass
class Funds:
    """Which providers refused for balance, in this process. Pure: time comes in."""

    recheck_s: float
    _out: dict[str, datetime] = field(default_factory=dict)  # provider -> last found used up

    def is_out(self, provider: str) -> bool:
        return provider in self._out

    def used_up(self, provider: str, now: datetime) -> bool:
        """Records a refusal for balance; True for the first since the provider had funds
        (that task tells the customer; the later ones wait)."""
        first = provider not in self._out
        self._out[provider] = now
        return first

    def topped_up(self, provider: str) -> None:
        if self._out.pop(provider, None) is not None:
            log.info("provider has funds again", provider=provider)

    def recheck_due(self, provider: str, now: datetime) -> bool:
        """Whether to read the balance again now; claims the read, so one task reads it."""
        since = self._out.get(provider)
        if since is None or now - since < timedelta(seconds=self.recheck_s):
            return False
        self._out[provider] = now
        return True


async def usable(funds: Funds, name: str, provider: object, now: datetime) -> bool:
    """Whether `name` may be sent a job now: it is not out of funds, or its balance, read
    again, is above zero (one trial when it cannot say its balance)."""
    if not funds.is_out(name):
        return True
    if not funds.recheck_due(name, now):
        return False
    reader = balance_capability(provider)
    if reader is None:
        return True
    try:
        balance = await reader.balance()
    except ProviderError as exc:
        log.info("balance not read", provider=name, reason=exc.message)
        return False
    if balance.has_funds:
        funds.topped_up(name)
        return True
    return False


async def wait_for_funds(
    funds: Funds, writer: TaskWriter, task: Task, app: AppSpec, provider: object
) -> bool:
    """On the task's last route: waits, calling the provider for nothing but its balance,
    until it may be sent the job (True). False when the task ended meanwhile: canceled, or
    failed here at its deadline."""

    async def gone() -> bool:
        return (await writer.store.get(task.task_id)).status.is_terminal

    log.info("waiting for funds", task_id=task.task_id, provider=task.provider)
    deadline = app.deadline(task.created_at, task.deadline_s)
    while not await usable(funds, task.provider, provider, writer.clock()):
        if await gone():
            return False
        if writer.clock() >= deadline.at:
            why = f"{deadline.message(app)}: {task.provider} was out of funds"
            await writer.fail(task.task_id, why, ErrorKind.TIMEOUT)
            return False
        await asyncio.sleep(POLL_S)
    return True
