"""Providers' account balances (RunningHub's accountStatus), read on a schedule by one worker
of the cluster: a Prometheus gauge, a warning logged once when the balance falls below the
provider's low mark (and once more only after it recovered and fell again), and the
provider made usable again once it reads above zero after a refusal for balance."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog

from rendergate.domain.errors import ProviderError
from rendergate.providers.base import Balance, ReadsBalance, balance_capability, balances_of
from rendergate.services.metrics import Metrics
from rendergate.services.retention import Turn

log = structlog.get_logger(__name__)


def describe(balance: Balance) -> str:
    """ "1200 coins, 34.50 CNY", with what the provider gave."""
    parts = []
    if balance.coins is not None:
        parts.append(f"{balance.coins} coins")
    if balance.money is not None:
        parts.append(f"{balance.money} {balance.currency or ''}".strip())
    return ", ".join(parts) or "no balance given"


def is_low(balance: Balance, reader: ReadsBalance) -> bool:
    """Used up, or its coins under the provider's low mark."""
    if balance.has_funds is False:
        return True
    low = reader.balance_low
    return low is not None and balance.coins is not None and balance.coins < low


@dataclass
class Watch:
    """One provider's balance, read on its schedule; remembers whether it warned."""

    name: str
    reader: ReadsBalance
    metrics: Metrics
    has_funds_again: Callable[[str], None]  # the submit step's gate (workflow/funds.py)
    warned: bool = False

    async def read(self) -> Balance:
        keys = await balances_of(self.reader)  # pooled keys: each read once, then summed
        balance = Balance.total(list(keys.values())) if keys else await self.reader.balance()
        for account, its in keys.items() if len(keys) > 1 else ():
            self.metrics.provider_balance(self.name, its, account)
        self.metrics.provider_balance(self.name, balance)
        if balance.has_funds:
            self.has_funds_again(self.name)
        low = is_low(balance, self.reader)
        if low and not self.warned:
            log.warning(
                "provider balance low",
                provider=self.name,
                balance=describe(balance),
                low_mark=str(self.reader.balance_low),
            )
        elif self.warned and not low:
            log.info("provider balance recovered", provider=self.name, balance=describe(balance))
        self.warned = low
        return balance


def watches(
    providers: Mapping[str, object], metrics: Metrics, has_funds_again: Callable[[str], None]
) -> list[Watch]:
    """A watch for each provider that reads its balance on a schedule (every_s > 0)."""
    found = []
    for name, provider in providers.items():
        reader = balance_capability(provider)
        if reader is not None and reader.balance_every_s > 0:
            found.append(Watch(name, reader, metrics, has_funds_again))
    return found


async def keep_watching(watch: Watch, turn: Turn) -> None:
    """Reads the balance at once, then every balance_every_s, in the cluster's turn."""
    while True:
        try:
            async with turn() as mine:
                if mine:
                    await watch.read()
        except ProviderError as exc:
            log.warning("balance not read", provider=watch.name, reason=exc.message)
        except Exception:  # a database hiccup must not end the loop
            log.exception("reading the balance failed", provider=watch.name)
        await asyncio.sleep(watch.reader.balance_every_s)
