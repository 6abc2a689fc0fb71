"""A key's own limits and prices, and the rule that admits its creates against them.

A limit a key leaves unset (None) is the settings' default for every key; a count of 0 is
no limit. A budget is money in RENDERGATE_CURRENCY: the month's charges less its refunds
(UTC months), the new tasks' charges counted too, may not pass it. The counts are what a
create would leave (its own tasks in them): the store reads them in the transaction that
adds its rows, so creates racing each other are counted one after another.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from rendergate.domain.errors import BudgetReached, InvalidInput, LimitReached
from rendergate.domain.money import Money, parse_amount

IN_FLIGHT_RETRY_S = 10  # when a task in flight may have finished: a guess, said as one
WINDOW_S = 60  # the rate limit's window
LOW_SHARE = Decimal("0.8")  # budget_low: this share of the budget charged


@dataclass(frozen=True)
class KeyLimits:
    rate_per_minute: int | None = None  # task creates a minute
    max_in_flight: int | None = None  # unfinished tasks at once
    daily_tasks: int | None = None  # tasks created a UTC day
    monthly_budget: Decimal | None = None  # net charges a UTC month; None: no budget
    prices: Mapping[str, Decimal] = field(default_factory=dict)  # app -> its price for the key
    account_webhook: str = ""  # where its account events go (usage.budget_low, ...)

    @property
    def limiting(self) -> bool:
        """Any limit is set: creates are counted (else admitted as they come)."""
        counts = (self.rate_per_minute, self.max_in_flight, self.daily_tasks)
        return any(counts) or self.monthly_budget is not None

    def over(self, defaults: KeyLimits) -> KeyLimits:
        """These limits, each unset count taken from `defaults` (the settings')."""
        return KeyLimits(
            rate_per_minute=_first(self.rate_per_minute, defaults.rate_per_minute),
            max_in_flight=_first(self.max_in_flight, defaults.max_in_flight),
            daily_tasks=_first(self.daily_tasks, defaults.daily_tasks),
            monthly_budget=self.monthly_budget,
            prices=self.prices,
            account_webhook=self.account_webhook,
        )


def _first(own: int | None, default: int | None) -> int | None:
    return own if own is not None else default


@dataclass(frozen=True)
class Usage:
    """A key's tasks and charges as the create being admitted would leave them."""

    in_flight: int
    today: int
    last_minute: int
    month_net: Decimal | None = None  # charged less refunded this month; None: not read
    minute_frees_at: datetime | None = None  # when the last minute is back within the rate


@dataclass(frozen=True)
class Adding:
    """What the create adds: how many tasks, and their charges together."""

    count: int
    charge: Decimal = Decimal(0)


def refusal(
    limits: KeyLimits, usage: Usage, adding: Adding, *, now: datetime, currency: str
) -> LimitReached | None:
    """The first limit the create would pass, as the error to answer; None: it fits."""
    count = adding.count
    more = f"; these {count} tasks do not fit" if count > 1 else ""
    per_minute = limits.rate_per_minute
    if per_minute and count > per_minute:
        return LimitReached(
            f"{count} tasks at once is over this key's limit of {per_minute} task creates a minute",
            retry_after_s=WINDOW_S,
            limit="rate_per_minute",
        )
    if per_minute and usage.last_minute > per_minute:
        frees_at = usage.minute_frees_at or now + timedelta(seconds=WINDOW_S)
        wait = max(1, math.ceil((frees_at - now).total_seconds()))
        return LimitReached(
            f"over this key's limit of {per_minute} task creates a minute; retry after {wait} s",
            retry_after_s=wait,
            limit="rate_per_minute",
        )
    cap = limits.max_in_flight
    if cap and usage.in_flight > cap:
        return LimitReached(
            f"this key has {usage.in_flight - count} unfinished tasks, its limit of tasks in "
            f"flight is {cap}{more}; wait for one to finish",
            retry_after_s=IN_FLIGHT_RETRY_S,
            limit="max_in_flight",
        )
    quota = limits.daily_tasks
    if quota and usage.today > quota:
        tomorrow = datetime.combine(now.date(), time(), tzinfo=now.tzinfo) + timedelta(days=1)
        return LimitReached(
            f"this key has created {usage.today - count} tasks today, its daily limit (UTC "
            f"days) is {quota}{more}; it resets at {tomorrow:%Y-%m-%d %H:%M} UTC",
            retry_after_s=math.ceil((tomorrow - now).total_seconds()),
            limit="daily_tasks",
        )
    return _over_budget(limits, usage, adding, now=now, currency=currency)


def _over_budget(
    limits: KeyLimits, usage: Usage, adding: Adding, *, now: datetime, currency: str
) -> BudgetReached | None:
    budget, net = limits.monthly_budget, usage.month_net
    if budget is None or net is None or net <= budget:
        return None
    resets = next_month(now)
    charged, budget_money = Money(net - adding.charge, currency), Money(budget, currency)
    these = "this task's" if adding.count == 1 else f"these {adding.count} tasks'"
    return BudgetReached(
        f"this key has been charged {charged} this month, its monthly budget is "
        f"{budget_money}; {these} {Money(adding.charge, currency)} do not fit; it resets "
        f"on {resets:%Y-%m-%d} UTC",
        retry_after_s=math.ceil((resets - now).total_seconds()),
    )


def budget_low(limits: KeyLimits, usage: Usage) -> bool:
    """The month's charges have reached LOW_SHARE of a (non-zero) budget."""
    budget, net = limits.monthly_budget, usage.month_net
    return bool(budget) and net is not None and budget is not None and net >= budget * LOW_SHARE


def month_start(now: datetime) -> datetime:
    return datetime.combine(now.date().replace(day=1), time(), tzinfo=now.tzinfo)


def next_month(now: datetime) -> datetime:
    return month_start(month_start(now) + timedelta(days=32))


def period(now: datetime) -> str:
    """The budget's period an alert is told once in: the UTC month, "2026-12"."""
    return f"{now:%Y-%m}"


UNSET = "none"  # said for a limit: back to the settings' default


def parse_count(text: str, *, field: str) -> int | None:
    """A count limit as given on the command line: a whole number from 0 (0: no limit), or
    "none" (None: the default)."""
    if text.strip().lower() == UNSET:
        return None
    if not text.strip().isdigit() or int(text) > 10**9:
        raise InvalidInput(f'{field} is a whole number from 0, or "none": not {text!r}')
    return int(text)


def parse_budget(text: str) -> Decimal | None:
    """A monthly budget, "50.00", or "none" (no budget)."""
    if text.strip().lower() == UNSET:
        return None
    return parse_amount(text, field="monthly budget")


def with_price(prices: Mapping[str, Decimal], given: str) -> dict[str, Decimal]:
    """`prices` with one "APP=1.50" added (or "APP=none" removed)."""
    app, sep, price = given.partition("=")
    if not sep or not app.strip():
        raise InvalidInput(f'a price is APP=AMOUNT, such as "preview=1.50": not {given!r}')
    changed = dict(prices)
    changed.pop(app.strip(), None)
    if price.strip().lower() != UNSET:
        changed[app.strip()] = parse_amount(price, field=f"the price of {app.strip()}")
    return changed


def check_account_webhook(url: str) -> str:
    """An http(s) URL, or "none" (no account webhook): ""."""
    if url.strip().lower() == UNSET:
        return ""
    if not url.startswith(("https://", "http://")) or len(url) > 2048 or " " in url:
        raise InvalidInput(
            f"the account webhook is an http(s) URL of up to 2048 characters: {url!r}"
        )
    return url


def describe(limits: KeyLimits, currency: str) -> str:
    """The limits a key has of its own, in a line (those unset: the defaults)."""
    said = [
        f"{name} {value}"
        for name, value in (
            ("rate/min", limits.rate_per_minute),
            ("in flight", limits.max_in_flight),
            ("daily", limits.daily_tasks),
        )
        if value is not None
    ]
    if limits.monthly_budget is not None:
        said.append(f"budget {Money(limits.monthly_budget, currency)}/month")
    said += [
        f"{app} at {Money(price, currency).text}" for app, price in sorted(limits.prices.items())
    ]
    if limits.account_webhook:
        said.append(f"account webhook {limits.account_webhook}")
    return ", ".join(said) or "defaults"
