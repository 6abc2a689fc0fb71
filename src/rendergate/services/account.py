"""A key's month as its owner sees it (GET /account): what it has created and been charged
this UTC month, against its budget and limits, and what a render of each app costs it.

Read from the same sources a create is admitted by: the usage rollup (services/usage.py)
for the month's money, the admission's counts (store/limits.py) for the limits' use, the
key ring for its limits and prices. It writes nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.keys import ApiKey
from rendergate.domain.limits import Adding, KeyLimits, Usage, budget_low, month_start
from rendergate.services.admission import KeyAdmission, key_limits
from rendergate.services.keys import KeyRing
from rendergate.services.usage import UsageLine, UsageSource, read_usage

# The admission counts only what a limit is set for: with every limit set, it counts all.
COUNT_ALL = KeyLimits(rate_per_minute=1, max_in_flight=1, daily_tasks=1)


@dataclass(frozen=True)
class Accounting:
    """What reading a key's account uses: its limits and prices, the counts of its tasks
    and the month's money, the apps' own prices."""

    settings: Settings
    apps: Mapping[str, AppSpec]
    keys: KeyRing
    admission: KeyAdmission
    usage: UsageSource
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class Account:
    key: ApiKey | None  # None: open mode
    since: date  # the month's first day (UTC)
    month: UsageLine  # its tasks created this month, charged, refunded, in the currency
    limits: KeyLimits  # its own over the settings' defaults
    counts: Usage  # in flight, created today, created in the last minute
    prices: dict[str, Decimal]  # app -> what a render is charged, for each priced app

    @property
    def budget_left(self) -> Decimal | None:
        """What the budget still takes this month (never below 0); None: no budget."""
        budget = self.limits.monthly_budget
        return None if budget is None else max(budget - self.month.net, Decimal(0))

    @property
    def budget_low(self) -> bool:
        """The month has reached the share of the budget its account webhook is told at."""
        return budget_low(self.limits, Usage(0, 0, 0, month_net=self.month.net))


async def month_of(owner: str, accounting: Accounting) -> tuple[date, UsageLine]:
    """The key's tasks and money this UTC month, in the server's currency."""
    currency, today = accounting.settings.currency, accounting.clock()
    since = month_start(today).date()
    report = await read_usage(
        accounting.usage, owner=owner, by=("app",), days=(since, today.date()), currency=currency
    )
    line = next((t for t in report.totals if t.currency == currency), None)
    return since, line or UsageLine(group={}, currency=currency)


def prices_for(apps: Mapping[str, AppSpec], limits: KeyLimits) -> dict[str, Decimal]:
    """What a render of each app is charged to the key: its own price, else the app's;
    an app with neither is not charged (and not listed)."""
    prices = {name: limits.prices.get(name, app.price) for name, app in sorted(apps.items())}
    return {name: price for name, price in prices.items() if price is not None}


async def read_account(owner: str, accounting: Accounting) -> Account:
    """`owner`'s key and month ("" in open mode: no key, the defaults' limits)."""
    settings = accounting.settings
    limits = await key_limits(owner, accounting.keys, settings)
    key = (await accounting.keys.active()).get(owner) if owner else None
    since, month = await month_of(owner, accounting)
    counts = await accounting.admission.measure(
        owner, COUNT_ALL, Adding(0), now=accounting.clock(), currency=settings.currency
    )
    prices = prices_for(accounting.apps, limits)
    return Account(key, since, month, limits, counts, prices)
