"""GET /quote: what a create as described would be charged, and whether the caller's key
would be let make it now; GET /account: the caller's key's month, budget, limits and prices.
Both read only the caller's own key (services/quoting.py, services/account.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from rendergate.api.deps import CallerDep, ServicesDep
from rendergate.api.examples import KEY_OR_OPEN, errors, ok
from rendergate.api.present import envelope
from rendergate.api.schemas import Envelope
from rendergate.domain.batches import MAX_VARIATIONS, MAX_VIEWS
from rendergate.domain.money import Money
from rendergate.services.account import Account, Accounting, read_account
from rendergate.services.creating import Creating
from rendergate.services.quoting import Quote, QuoteAsk, StepQuote, quote, steps_asked

router = APIRouter(tags=["account"])
MAX_RENDERS = MAX_VIEWS * MAX_VARIATIONS
AMOUNT = "A decimal string in `currency`"


class StepQuotePublic(BaseModel):
    type: str = Field(description="The step's app.")
    per_result: str | None = Field(description=f"{AMOUNT}; null: the app is not charged.")
    count: int = Field(description="How many of its tasks: one for each render.")
    total: str | None


class QuoteMonth(BaseModel):
    charged_net: str = Field(description="Charged less refunded this UTC month, so far.")
    budget: str | None = Field(description="The key's monthly budget; null: none.")
    left: str | None = Field(description="What the budget still takes; null: no budget.")


class QuotePublic(BaseModel):
    currency: str
    type: str = Field(description="The app the renders run (a preset's when none is named).")
    renders: int
    per_render: str | None = Field(description=f"{AMOUNT}; null: the app is not charged.")
    renders_total: str | None
    steps: list[StepQuotePublic] = Field(description="The `then` steps, in order.")
    total: str | None = Field(description="Everything together; null: nothing is charged.")
    priced: bool = Field(description="Whether anything is charged.")
    month: QuoteMonth
    refusal: str | None = Field(
        description="What a create would be answered now (429), word for word; null: it fits."
    )
    retry_after_s: int | None = Field(description="With a refusal: the create's Retry-After.")
    refusal_limit: str | None = Field(
        description="With a refusal: the limit it names, as a create's X-Rendergate-Limit "
        "header does (rate_per_minute, max_in_flight, daily_tasks, monthly_budget)."
    )


class AccountKey(BaseModel):
    id: str
    name: str


class AccountMonth(BaseModel):
    since: str = Field(description="The month's first day, YYYY-MM-DD (UTC).")
    renders: int = Field(description="Tasks created this month.")
    charged: str
    refunded: str
    net: str


class AccountBudget(BaseModel):
    monthly: str | None = Field(description="The monthly budget; null: none.")
    left: str | None
    low: bool = Field(description="80 % of the budget is charged.")


class AccountLimits(BaseModel):
    rate_per_minute: int | None = Field(description="Task creates a minute; null: no limit.")
    max_in_flight: int | None
    daily_tasks: int | None
    last_minute: int = Field(description="Tasks created in the last minute.")
    in_flight: int = Field(description="Unfinished tasks now.")
    today: int = Field(description="Tasks created today (UTC).")


class AccountPublic(BaseModel):
    key: AccountKey | None = Field(description="The caller's key; null in open mode.")
    currency: str
    month: AccountMonth
    budget: AccountBudget
    limits: AccountLimits
    prices: dict[str, str] = Field(
        description="What a render of each app is charged to this key (its own price, else "
        "the app's); an app not listed is not charged."
    )


def _text(money: Money | None) -> str | None:
    return None if money is None else money.text


def present_quote(found: Quote) -> QuotePublic:
    def amount(value: Decimal | None) -> str | None:
        return None if value is None else Money(value, found.currency).text

    def step(one: StepQuote) -> StepQuotePublic:
        return StepQuotePublic(
            type=one.app, per_result=_text(one.per_result), count=one.count, total=_text(one.total)
        )

    refused = found.refused
    return QuotePublic(
        currency=found.currency,
        type=found.app,
        renders=found.renders,
        per_render=_text(found.per_render),
        renders_total=_text(found.renders_total),
        steps=[step(one) for one in found.steps],
        total=_text(found.total),
        priced=found.total is not None,
        month=QuoteMonth(
            charged_net=Money(found.month_net, found.currency).text,
            budget=amount(found.budget),
            left=amount(found.budget_left),
        ),
        refusal=None if refused is None else str(refused),
        retry_after_s=None if refused is None else refused.retry_after_s,
        refusal_limit=None if refused is None else refused.limit,
    )


def present_account(account: Account) -> AccountPublic:
    currency, month, limits = account.month.currency, account.month, account.limits

    def amount(value: Decimal | None) -> str | None:
        return None if value is None else Money(value, currency).text

    key = account.key
    return AccountPublic(
        key=None if key is None else AccountKey(id=key.key_id, name=key.name),
        currency=currency,
        month=AccountMonth(
            since=account.since.isoformat(),
            renders=month.tasks,
            charged=Money(month.charged, currency).text,
            refunded=Money(month.refunded, currency).text,
            net=Money(month.net, currency).text,
        ),
        budget=AccountBudget(
            monthly=amount(limits.monthly_budget),
            left=amount(account.budget_left),
            low=account.budget_low,
        ),
        limits=AccountLimits(
            rate_per_minute=limits.rate_per_minute or None,  # 0 is no limit too
            max_in_flight=limits.max_in_flight or None,
            daily_tasks=limits.daily_tasks or None,
            last_minute=account.counts.last_minute,
            in_flight=account.counts.in_flight,
            today=account.counts.today,
        ),
        prices={app: Money(price, currency).text for app, price in account.prices.items()},
    )


QUOTE_EXAMPLE = {
    "code": 0,
    "msg": "success",
    "data": {
        "currency": "CNY",
        "type": "preview",
        "renders": 8,
        "per_render": "2.00",
        "renders_total": "16.00",
        "steps": [{"type": "upscale", "per_result": "0.50", "count": 8, "total": "4.00"}],
        "total": "20.00",
        "priced": True,
        "month": {"charged_net": "22.00", "budget": "100.00", "left": "78.00"},
        "refusal": None,
        "retry_after_s": None,
        "refusal_limit": None,
    },
}
ACCOUNT_EXAMPLE = {
    "code": 0,
    "msg": "success",
    "data": {
        "key": {"id": "3f9a2b7c1d", "name": "studio"},
        "currency": "CNY",
        "month": {
            "since": "2026-12-01",
            "renders": 11,
            "charged": "24.00",
            "refunded": "2.00",
            "net": "22.00",
        },
        "budget": {"monthly": "100.00", "left": "78.00", "low": False},
        "limits": {
            "rate_per_minute": 60,
            "max_in_flight": 20,
            "daily_tasks": None,
            "last_minute": 0,
            "in_flight": 2,
            "today": 5,
        },
        "prices": {"preview": "2.00", "upscale": "0.50"},
    },
}


@router.get(
    "/quote",
    summary="What a create would be charged",
    response_model=Envelope[QuotePublic],
    responses={200: ok(QUOTE_EXAMPLE), **errors(401, 422)},
    openapi_extra=KEY_OR_OPEN,
)
async def get_quote(
    services: ServicesDep,
    caller: CallerDep,
    type: Annotated[str, Query(max_length=64, description="The app, as a create's `type`")] = "",
    preset: Annotated[str, Query(max_length=64, description="A preset, as a create's")] = "",
    renders: Annotated[
        int, Query(ge=1, le=MAX_RENDERS, description="How many: a batch's views times variations")
    ] = 1,
    then: Annotated[
        str, Query(max_length=200, description="Steps on each result: app names, comma-separated")
    ] = "",
) -> JSONResponse:
    """What the caller's key would be charged for a create of `renders` tasks of this app or
    preset, each with these `then` steps, exactly as the create charges it (the key's own
    prices first); and whether its limits and budget let it in now, with the refusal a
    create would get. Steps are charged as they are made, so only the renders count against
    the budget here, as at create. Writes nothing."""
    ask = QuoteAsk(app=type, preset=preset, renders=renders, then=steps_asked(then))
    creating, accounting = services.unpack(Creating), services.unpack(Accounting)
    found = await quote(ask, creating, accounting, caller or "")
    return envelope(present_quote(found).model_dump(mode="json"))


@router.get(
    "/account",
    summary="Your key's month",
    response_model=Envelope[AccountPublic],
    responses={200: ok(ACCOUNT_EXAMPLE), **errors(401)},
    openapi_extra=KEY_OR_OPEN,
)
async def get_account(services: ServicesDep, caller: CallerDep) -> JSONResponse:
    """The caller's key (null in open mode), what it has created and been charged this UTC
    month, its budget and what is left of it, its limits and their use now, and what a
    render of each app is charged to it."""
    account = await read_account(caller or "", services.unpack(Accounting))
    return envelope(present_account(account).model_dump(mode="json"))
