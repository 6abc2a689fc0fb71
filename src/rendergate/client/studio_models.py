"""The answers of the calls a page choosing results needs, typed: a quote (GET /quote) and
the key's account (GET /account), with money as Decimals in their currency; a batch's share
links; and what POST /batches/{id}/steps made. Kept apart from models.py so that each stays
short; parsing is as lenient as there (a field left out takes its default)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from rendergate.client.models import Batch, Task, _when
from rendergate.client.money import amount_of


@dataclass(frozen=True)
class StepQuote:
    """A `then` step of a quote: `count` tasks of app `type`, each `per_result` (None: not
    charged)."""

    type: str
    count: int
    per_result: Decimal | None = None
    total: Decimal | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepQuote:
        return cls(
            type=data.get("type") or "",
            count=int(data.get("count") or 0),
            per_result=amount_of(data.get("per_result")),
            total=amount_of(data.get("total")),
        )


@dataclass(frozen=True)
class Quote:
    """What a create of `renders` tasks of app `type` (and its steps) would be charged, in
    `currency`: amounts None when not charged. `month_net` is what the key was charged this
    month so far, `budget` and `budget_left` its monthly budget (None: none). `refusal` is
    the 429 message a create would get now (None: it fits), with `retry_after_s` and
    `refusal_limit`, the limit it names (as RateLimited's `limit`)."""

    currency: str
    type: str
    renders: int
    per_render: Decimal | None = None
    renders_total: Decimal | None = None
    steps: tuple[StepQuote, ...] = ()
    total: Decimal | None = None
    priced: bool = False
    month_net: Decimal = Decimal(0)
    budget: Decimal | None = None
    budget_left: Decimal | None = None
    refusal: str | None = None
    retry_after_s: int | None = None
    refusal_limit: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Quote:
        month = data.get("month") or {}
        return cls(
            currency=data.get("currency") or "",
            type=data.get("type") or "",
            renders=int(data.get("renders") or 0),
            per_render=amount_of(data.get("per_render")),
            renders_total=amount_of(data.get("renders_total")),
            steps=tuple(StepQuote.from_json(s) for s in data.get("steps") or ()),
            total=amount_of(data.get("total")),
            priced=bool(data.get("priced")),
            month_net=amount_of(month.get("charged_net")) or Decimal(0),
            budget=amount_of(month.get("budget")),
            budget_left=amount_of(month.get("left")),
            refusal=data.get("refusal"),
            retry_after_s=data.get("retry_after_s"),
            refusal_limit=data.get("refusal_limit"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class AccountLimits:
    """The key's limits (None: no limit) and their use now."""

    rate_per_minute: int | None = None
    max_in_flight: int | None = None
    daily_tasks: int | None = None
    last_minute: int = 0
    in_flight: int = 0
    today: int = 0


@dataclass(frozen=True)
class Account:
    """The caller's key this UTC month, in `currency`: `key_id` and `key_name` (empty in
    open mode), `renders` created since `since`, what they were `charged`, `refunded` and
    came to (`net`); `budget` monthly (None: none), `budget_left`, `budget_low` at 80 %;
    its `limits`; `prices`, what a render of each priced app is charged to it."""

    currency: str
    since: date
    key_id: str = ""
    key_name: str = ""
    renders: int = 0
    charged: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    net: Decimal = Decimal(0)
    budget: Decimal | None = None
    budget_left: Decimal | None = None
    budget_low: bool = False
    limits: AccountLimits = AccountLimits()
    prices: Mapping[str, Decimal] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Account:
        key, month = data.get("key") or {}, data.get("month") or {}
        budget, limits = data.get("budget") or {}, data.get("limits") or {}
        return cls(
            currency=data.get("currency") or "",
            since=date.fromisoformat(month["since"]),
            key_id=key.get("id") or "",
            key_name=key.get("name") or "",
            renders=int(month.get("renders") or 0),
            charged=amount_of(month.get("charged")) or Decimal(0),
            refunded=amount_of(month.get("refunded")) or Decimal(0),
            net=amount_of(month.get("net")) or Decimal(0),
            budget=amount_of(budget.get("monthly")),
            budget_left=amount_of(budget.get("left")),
            budget_low=bool(budget.get("low")),
            limits=AccountLimits(**{k: v for k, v in limits.items() if k in _LIMITS}),
            prices={app: Decimal(str(price)) for app, price in (data.get("prices") or {}).items()},
            raw=dict(data),
        )


_LIMITS = frozenset(AccountLimits.__dataclass_fields__)


@dataclass(frozen=True)
class Share:
    """A read-only link to a batch: `state` is active, expired or revoked; `url` the link
    itself, only in the answer that made it (None in a list: only its hash is kept)."""

    share_id: int
    batch_id: int
    state: str
    kept_only: bool = True
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    url: str | None = None

    @property
    def token(self) -> str | None:
        """The link's token (what follows /s/), when the answer had its `url`."""
        return self.url.rsplit("/s/", 1)[-1] if self.url else None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Share:
        return cls(
            share_id=int(data["share_id"]),
            batch_id=int(data["batch_id"]),
            state=data["state"],
            kept_only=bool(data.get("kept_only", True)),
            created_at=_when(data.get("created_at")),
            expires_at=_when(data.get("expires_at")),
            revoked_at=_when(data.get("revoked_at")),
            url=data.get("url"),
        )


@dataclass(frozen=True)
class BatchSteps:
    """What POST /batches/{id}/steps answered: `steps` one task per chosen result (made now,
    or found running or done from before), `made` how many it made and charged, `batch` the
    batch with them among its tasks."""

    steps: tuple[Task, ...]
    made: int
    batch: Batch

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchSteps:
        return cls(
            steps=tuple(Task.from_json(t) for t in data.get("steps") or ()),
            made=int(data.get("made") or 0),
            batch=Batch.from_json(data["batch"]),
        )
