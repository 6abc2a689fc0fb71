"""Usage: what a key's tasks came to over a range of UTC days (of their creation), grouped,
with totals. GET /usage asks it for the caller's own key, `rendergate usage` for every key;
both read the usage rollup's sums (store/usage_reads.py), and every figure is the sum of
the tasks counted into it as they were created and as they finished. By provider key (the
pooled key that ran each task, shown as `provider/key-id`, never the key) the same figures
are summed from the task rows, which the rollup does not split by key."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from rendergate.domain.errors import InvalidInput

GROUPS = ("day", "app", "preset", "provider_key")  # what GET /usage groups by
BY = {  # the CLI's --by
    "key": "owner",
    "day": "day",
    "app": "app",
    "preset": "preset",
    "provider_key": "provider_key",
}
MAX_DAYS = 3660  # about ten years: a range's groups stay few enough to answer at once
OPEN_KEY = "(open)"
SUMMED = (
    "tasks",
    "completed",
    "failed",
    "canceled",
    "unknown_cost",
    "spent",
    "charged",
    "refunded",
)  # the name shown for the open mode's caller, who has no key


class UsageSource(Protocol):
    async def sums(
        self, by: Sequence[str], since: date, until: date, *, owner: str | None
    ) -> list[dict[str, Any]]: ...

    async def by_provider_key(
        self, by: Sequence[str], since: date, until: date, *, owner: str | None, currency: str
    ) -> list[dict[str, Any]]: ...


class NoUsage:
    """The in-memory store keeps no rollup: no usage to read."""

    async def sums(
        self, by: Sequence[str], since: date, until: date, *, owner: str | None
    ) -> list[dict[str, Any]]:
        return []

    async def by_provider_key(
        self, by: Sequence[str], since: date, until: date, *, owner: str | None, currency: str
    ) -> list[dict[str, Any]]:
        return []


@dataclass(frozen=True)
class UsageLine:
    """One group's (or a currency's total) counts and money."""

    group: dict[str, str]  # its values of the grouping ("key" by its name); empty: a total
    currency: str
    tasks: int = 0
    completed: int = 0
    failed: int = 0
    canceled: int = 0
    unknown_cost: int = 0  # finished tasks whose cost neither the provider nor a rate tells
    spent: Decimal = Decimal(0)
    charged: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)

    @property
    def net(self) -> Decimal:
        return self.charged - self.refunded

    def __add__(self, other: UsageLine) -> UsageLine:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        added = {name: getattr(self, name) + getattr(other, name) for name in SUMMED}
        return dataclasses.replace(self, **added)


@dataclass(frozen=True)
class UsageReport:
    since: date
    until: date
    by: tuple[str, ...]  # the grouping, in the caller's words ("key", "day", ...)
    lines: list[UsageLine]
    totals: list[UsageLine]  # one per currency, in the server's currency when there is none


def day_range(since: str | None, until: str | None, *, today: date) -> tuple[date, date]:
    """`since` and `until` as inclusive UTC days: by default this month up to today."""
    first = _day(since, "since") if since else today.replace(day=1)
    last = _day(until, "until") if until else today
    if first > last:
        raise InvalidInput(
            f"until ({last}) is before since ({first})", field="until", location="query"
        )
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput(
            f"a range spans at most {MAX_DAYS} days", field="since", location="query"
        )
    return first, last


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip()) if len(text) <= 10 else date.min
    except ValueError:
        pass
    raise InvalidInput(
        f"{field} must be a day such as 2026-12-01, not {text[:40]!r}",
        field=field,
        location="query",
    )


def grouping(
    text: str, *, allowed: Sequence[str], field: str, most: int = len(BY)
) -> tuple[str, ...]:
    """A comma-separated grouping of up to `most` names, each one of `allowed`, none twice."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in allowed]
    if unknown or not 0 < len(names) <= most or len(set(names)) != len(names):
        one = f"{', '.join(allowed[:-1])} or {allowed[-1]}"
        takes = one if most == 1 else f"{', '.join(allowed)} (comma-separated)"
        raise InvalidInput(
            f"{field} takes {takes}, not {text[:60]!r}",
            field=field,
            location="query",
        )
    if "provider_key" in names and "day" in names:  # see _rows
        raise InvalidInput(
            f"{field}: provider_key groups with key, app or preset, not day",
            field=field,
            location="query",
        )
    return names


async def read_usage(
    source: UsageSource,
    *,
    owner: str | None,
    by: tuple[str, ...],
    days: tuple[date, date],
    currency: str,
) -> UsageReport:
    """`owner`'s usage (None: every key's) per group of `by` (names from BY) and per
    currency, with a total per currency (in `currency` when nothing was counted)."""
    rows = await _rows(source, owner=owner, by=by, days=days, currency=currency)
    lines = [_line(row, by) for row in rows]
    totals: dict[str, UsageLine] = {}
    for line in lines:
        start = totals.get(line.currency, UsageLine(group={}, currency=line.currency))
        totals[line.currency] = start + dataclasses.replace(line, group={})
    if not totals:
        totals[currency] = UsageLine(group={}, currency=currency)
    return UsageReport(*days, by, lines, [totals[name] for name in sorted(totals)])


async def _rows(
    source: UsageSource,
    *,
    owner: str | None,
    by: tuple[str, ...],
    days: tuple[date, date],
    currency: str,
) -> list[dict[str, Any]]:
    """The rollup's sums; by provider key, the task rows' (grouped by key, app or preset
    too, not by day: a UTC day of a row's timestamp is a different SQL on each database)."""
    if "provider_key" not in by:
        return await source.sums([BY[name] for name in by], *days, owner=owner)
    others = [BY[name] for name in by if name != "provider_key"]
    return await source.by_provider_key(others, *days, owner=owner, currency=currency)


def _line(row: dict[str, Any], by: tuple[str, ...]) -> UsageLine:
    group = {name: _shown(name, row) for name in by}
    return UsageLine(
        group=group,
        currency=row["currency"],
        tasks=row["created"],
        completed=row["completed"],
        failed=row["failed"],
        canceled=row["canceled"],
        unknown_cost=row["unknown_cost"],
        spent=row["spent"],
        charged=row["charged"],
        refunded=row["refunded"],
    )


def _shown(name: str, row: dict[str, Any]) -> str:
    """A group's value as shown: a key by its name (never its secret), a day as ISO."""
    if name == "key":
        return row.get("key_name") or (row["owner"] or OPEN_KEY)
    if name == "provider_key":  # a provider with one key records none: its name alone
        account = row["provider_account"]
        return str(row["provider"]) + (f"/{account}" if account else "")
    return str(row[BY[name]])
