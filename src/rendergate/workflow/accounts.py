"""Pooled keys set aside: a key refused for its account (its key, balance or membership:
the adapter's `refuses_account`) is not chosen by this process again for
RENDERGATE_CIRCUIT_OPEN_S, as an open circuit, while the provider's other keys run the
tasks. Once every key is set aside they are all tried again, and the provider's own
handling applies (funds.py waits for a top-up or falls back; a refused key fails the task).
Pure: time comes in as arguments, from the services' injectable clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import stamina
import structlog

from rendergate.domain.errors import ProviderBusy, ProviderError
from rendergate.domain.task import JobHandle, Task
from rendergate.providers.accounts import PooledAccounts
from rendergate.services.writer import TaskWriter

log = structlog.get_logger(__name__)


@dataclass
class SetAside:
    open_s: float
    _since: dict[tuple[str, str], datetime] = field(default_factory=dict)  # provider, key id

    def room(self, provider: str, pool: PooledAccounts, now: datetime) -> dict[str, int]:
        """The keys a task may take now (id to concurrency): those not set aside, or all
        when every one is."""
        usable = {
            a.id: a.concurrency for a in pool.accounts if not self._aside(provider, a.id, now)
        }
        return usable or {a.id: a.concurrency for a in pool.accounts}

    def refused(
        self, provider: str, account: str, pool: PooledAccounts, error: ProviderError, now: datetime
    ) -> bool:
        """Sets the key aside if `error` refuses its account; True when another key may
        take the task instead."""
        if not pool.refuses_account(error):
            return False
        self._since[(provider, account)] = now
        log.warning(
            "provider key set aside", provider=provider, account=account, reason=error.message
        )
        return any(a.id != account and not self._aside(provider, a.id, now) for a in pool.accounts)

    def _aside(self, provider: str, account: str, now: datetime) -> bool:
        since = self._since.get((provider, account))
        return since is not None and now - since < timedelta(seconds=self.open_s)


Send = Callable[[str | None], Awaitable[JobHandle | None]]  # uploads and submits on a key


@dataclass
class PooledKeys:
    """The submit step's choice of key, for providers with several."""

    writer: TaskWriter
    aside: SetAside

    async def send(
        self,
        task: Task,
        pool: PooledAccounts,
        send: Send,
        retrying: Callable[[], AsyncIterator[stamina.Attempt]],
    ) -> JobHandle | None:
        """`send`s the task on the key with room; a key refused for its account is set
        aside and the task sent on another. An unanswered submit is never sent on another
        key: it ends in JobInDoubt, or is sent again by `send` on its own key only."""
        while True:  # ends: each turn sets a key aside, until none is left to try
            account = await self._claim(task, pool, retrying)
            if account is None:  # canceled while every key was full
                return None
            try:
                return await send(account)
            except ProviderError as exc:
                if not self.aside.refused(task.provider, account, pool, exc, self.writer.clock()):
                    raise

    async def _claim(
        self,
        task: Task,
        pool: PooledAccounts,
        retrying: Callable[[], AsyncIterator[stamina.Attempt]],
    ) -> str | None:
        """A key with room for the task in the whole cluster, recorded on its row
        (store/accounts.py), waited for as a busy provider is; None if canceled meanwhile."""
        store = self.writer.store
        async for attempt in retrying():
            with attempt:
                if (await store.get(task.task_id)).status.is_terminal:
                    return None
                room = self.aside.room(task.provider, pool, self.writer.clock())
                chosen = await store.claim_account(task.task_id, task.provider, room)
                if chosen is None:
                    raise ProviderBusy(f"every {task.provider} key has its tasks running")
                return chosen
        raise AssertionError("unreachable: stamina raises once it stops retrying")
