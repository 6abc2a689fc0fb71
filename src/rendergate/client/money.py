"""Money as the API answers it, typed: a task's cost upstream and its charge, and a key's
usage (GET /usage). Amounts are Decimals parsed from the decimal strings the server sends,
never floats; each comes with its currency."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Cost:
    """What a finished task cost upstream. `amount` None: not known (the provider's figures
    and the server's rates cannot tell); `estimated` from a rate the operator set (coins,
    seconds, GPU-hours) rather than the provider's bill; `billed` whether the provider
    billed anything (None: not known); `provider` the provider's own figures."""

    amount: Decimal | None
    currency: str = ""
    estimated: bool = False
    billed: bool | None = None
    provider: Mapping[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cost:
        return cls(
            amount=amount_of(data.get("amount")),
            currency=data.get("currency") or "",
            estimated=bool(data.get("estimated")),
            billed=data.get("billed"),
            provider=data.get("provider"),
        )


@dataclass(frozen=True)
class Charge:
    """What the task's key was charged at create; `refunded` when it was given back (the
    task failed, or was canceled before its provider started)."""

    amount: Decimal
    currency: str
    refunded: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Charge:
        return cls(
            amount=Decimal(str(data["amount"])),
            currency=data["currency"],
            refunded=bool(data.get("refunded")),
        )


@dataclass(frozen=True)
class UsageGroup:
    """One group's figures (a day, app or preset: `group`; None in totals), in `currency`:
    tasks created, how they ended, what they cost (`spent`, without the `unknown_cost`
    ones) and what they were charged, refunded and came to (`net`)."""

    group: str | None
    currency: str
    tasks: int = 0
    completed: int = 0
    failed: int = 0
    canceled: int = 0
    unknown_cost: int = 0
    spent: Decimal = Decimal(0)
    charged: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    net: Decimal = Decimal(0)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UsageGroup:
        cost, charge = data.get("cost") or {}, data.get("charge") or {}
        return cls(
            group=data.get("group"),
            currency=data.get("currency") or "",
            tasks=int(data.get("tasks") or 0),
            completed=int(data.get("completed") or 0),
            failed=int(data.get("failed") or 0),
            canceled=int(data.get("canceled") or 0),
            unknown_cost=int(cost.get("unknown") or 0),
            spent=amount_of(cost.get("spent")) or Decimal(0),
            charged=amount_of(charge.get("charged")) or Decimal(0),
            refunded=amount_of(charge.get("refunded")) or Decimal(0),
            net=amount_of(charge.get("net")) or Decimal(0),
        )


@dataclass(frozen=True)
class Usage:
    """A key's usage over UTC days `since` to `until` (inclusive), per `group_by` (day, app
    or preset), with `totals` one per currency."""

    since: date
    until: date
    group_by: str
    groups: tuple[UsageGroup, ...] = ()
    totals: tuple[UsageGroup, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Usage:
        return cls(
            since=date.fromisoformat(data["since"]),
            until=date.fromisoformat(data["until"]),
            group_by=data.get("group_by") or "",
            groups=tuple(UsageGroup.from_json(g) for g in data.get("groups") or ()),
            totals=tuple(UsageGroup.from_json(t) for t in data.get("totals") or ()),
            raw=dict(data),
        )


def amount_of(value: Any) -> Decimal | None:
    """A decimal string (or an integer) as a Decimal; None for null."""
    return None if value is None else Decimal(str(value))
