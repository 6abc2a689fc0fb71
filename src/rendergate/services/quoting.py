"""What a create as described would be charged, and whether the caller's key would be let
make it now (GET /quote). It writes nothing.

The price is worked out by the create's own steps, so the two cannot drift: the preset
applied (with_preset), the app checked to run here, the key's price before the preset's and
the app's (charge_of), each `then` step checked (checked_then) and priced as its task will
be when it is made (workflow/chaining.py). The refusal is the create's quick check: the
admission's counts with these renders added, and the rule's first limit passed (its
message, word for word). As a create does, it counts the renders against the budget, not
the steps: those are charged as they are made."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

from rendergate.domain.chains import ThenStep, parse_then, steps_named
from rendergate.domain.errors import InvalidInput, LimitReached, UnknownApp
from rendergate.domain.limits import Adding, refusal
from rendergate.domain.money import Money
from rendergate.services.account import Accounting, month_of
from rendergate.services.admission import key_limits
from rendergate.services.chains import checked_then
from rendergate.services.create_checks import with_preset
from rendergate.services.creating import Creating, NewTask, charge_of
from rendergate.services.routing import RunsHere


@dataclass(frozen=True, kw_only=True)
class QuoteAsk:
    """The create as described: its app or preset, how many renders (a batch's views times
    its variations), and the steps run on each result."""

    app: str = ""
    preset: str = ""
    renders: int = 1
    then: tuple[ThenStep, ...] = ()


@dataclass(frozen=True)
class StepQuote:
    app: str
    per_result: Money | None  # None: the step's app has no price, so it is not charged
    count: int  # one for each render's result

    @property
    def total(self) -> Money | None:
        return None if self.per_result is None else _times(self.per_result, self.count)


@dataclass(frozen=True)
class Quote:
    currency: str
    app: str  # the app the renders run (a preset's, when none was named)
    renders: int
    per_render: Money | None  # None: not charged
    steps: tuple[StepQuote, ...]
    month_net: Decimal  # charged less refunded this UTC month, before this create
    budget: Decimal | None
    refused: LimitReached | None  # what a create would be answered now; None: it fits

    @property
    def renders_total(self) -> Money | None:
        return None if self.per_render is None else _times(self.per_render, self.renders)

    @property
    def total(self) -> Money | None:
        """Every charge together; None when nothing is priced."""
        parts = [self.renders_total, *(step.total for step in self.steps)]
        priced = [part for part in parts if part is not None]
        return sum(priced[1:], priced[0]) if priced else None

    @property
    def budget_left(self) -> Decimal | None:
        return None if self.budget is None else max(self.budget - self.month_net, Decimal(0))


def _times(each: Money, count: int) -> Money:
    return Money(each.amount * count, each.currency)


async def quote(ask: QuoteAsk, creating: Creating, accounting: Accounting, owner: str) -> Quote:
    """What `owner`'s create of `ask` would be charged, and whether it would be let in now.
    InvalidInput (in the query's words) for what the create would refuse as given."""
    settings = creating.settings
    with _in_query():
        request = await with_preset(NewTask(app=ask.app, preset=ask.preset), creating, owner)
        app = creating.apps.get(request.app)
        if app is None:
            known = ", ".join(sorted(creating.apps))
            raise UnknownApp(f"unknown type {request.app!r}; known types: {known}", field="type")
        here = RunsHere(creating.providers, settings)
        here.first_route(app)
        then = checked_then(ask.then, here, creating.apps)
    limits = await key_limits(owner, creating.keys, settings)
    per_render = charge_of(request, app, settings.currency, limits.prices)
    steps = tuple(
        StepQuote(step.app, _step_price(step, creating, limits.prices), ask.renders)
        for step in then
    )
    adding = Adding(ask.renders, per_render.amount * ask.renders if per_render else Decimal(0))
    refused = None
    if limits.limiting:
        now = creating.clock()
        usage = await creating.admission.measure(
            owner, limits, adding, now=now, currency=settings.currency
        )
        refused = refusal(limits, usage, adding, now=now, currency=settings.currency)
    _, month = await month_of(owner, accounting)
    return Quote(
        settings.currency,
        app.name,
        ask.renders,
        per_render,
        steps,
        month.net,
        limits.monthly_budget,
        refused,
    )


def steps_asked(text: str) -> tuple[ThenStep, ...]:
    """A query's `then`, app names comma-separated as a form gives them ("upscale")."""
    with _in_query():
        return parse_then(steps_named(text))


def _step_price(step: ThenStep, creating: Creating, prices: Mapping[str, Decimal]) -> Money | None:
    """A step's task's charge, as workflow/chaining.py sets it: no preset, the key's price."""
    app = creating.apps[step.app]  # checked_then found it
    return charge_of(NewTask(app=step.app), app, creating.settings.currency, prices)


@contextlib.contextmanager
def _in_query() -> Iterator[None]:
    """A refusal of the described create, placed in the query it was described in."""
    try:
        yield
    except InvalidInput as exc:
        exc.location = "query"
        raise
