"""GET /usage: the caller's own key's tasks and money over a range of UTC days, grouped by
day, app, preset or provider key, with totals; read from the usage rollup, or by provider
key from the task rows (services/usage.py)."""

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
from rendergate.domain.money import Money
from rendergate.services.usage import (
    GROUPS,
    UsageLine,
    UsageReport,
    day_range,
    grouping,
    read_usage,
)

router = APIRouter(tags=["usage"])


class UsageCost(BaseModel):
    spent: str = Field(description="What the tasks cost upstream: a decimal string.")
    unknown: int = Field(description="Finished tasks whose cost is not known (not in `spent`).")


class UsageCharge(BaseModel):
    charged: str = Field(description="Charged at create: a decimal string.")
    refunded: str = Field(description="Given back for failed or unstarted canceled tasks.")
    net: str = Field(description="charged - refunded.")


class UsageGroupPublic(BaseModel):
    group: str | None = Field(
        None,
        description='The day (YYYY-MM-DD), app or preset ("": none), or the provider key '
        "that ran the tasks as `provider/key-id` (`provider` alone: a provider with one key); "
        "null in totals.",
    )
    currency: str
    tasks: int = Field(description="Tasks created in the range.")
    completed: int
    failed: int
    canceled: int
    cost: UsageCost
    charge: UsageCharge


class UsagePublic(BaseModel):
    since: str
    until: str
    group_by: str
    groups: list[UsageGroupPublic]
    totals: list[UsageGroupPublic] = Field(description="One per currency.")


def _money(line: UsageLine, by: tuple[str, ...]) -> UsageGroupPublic:
    def text(amount: Decimal) -> str:
        return Money(amount, line.currency).text

    return UsageGroupPublic(
        group=line.group[by[0]] if line.group else None,
        currency=line.currency,
        tasks=line.tasks,
        completed=line.completed,
        failed=line.failed,
        canceled=line.canceled,
        cost=UsageCost(spent=text(line.spent), unknown=line.unknown_cost),
        charge=UsageCharge(
            charged=text(line.charged),
            refunded=text(line.refunded),
            net=text(line.net),
        ),
    )


def present_usage(report: UsageReport) -> UsagePublic:
    return UsagePublic(
        since=report.since.isoformat(),
        until=report.until.isoformat(),
        group_by=report.by[0],
        groups=[_money(line, report.by) for line in report.lines],
        totals=[_money(line, report.by) for line in report.totals],
    )


GROUP = {
    "tasks": 12,
    "completed": 10,
    "failed": 1,
    "canceled": 1,
    "cost": {"spent": "1.7", "unknown": 0},
    "charge": {"charged": "24", "refunded": "2", "net": "22"},
}
EXAMPLE = ok(
    {
        "code": 0,
        "msg": "success",
        "data": {
            "since": "2026-12-01",
            "until": "2026-12-31",
            "group_by": "app",
            "groups": [{"group": "preview", "currency": "CNY", **GROUP}],
            "totals": [{"group": None, "currency": "CNY", **GROUP}],
        },
    }
)


@router.get(
    "/usage",
    summary="Your usage",
    response_model=Envelope[UsagePublic],
    responses={200: EXAMPLE, **errors(401, 422)},
    openapi_extra=KEY_OR_OPEN,
)
async def get_usage(
    services: ServicesDep,
    caller: CallerDep,
    since: Annotated[
        str | None,
        Query(
            max_length=40, description="First UTC day, YYYY-MM-DD (default: the 1st of this month)"
        ),
    ] = None,
    until: Annotated[
        str | None, Query(max_length=40, description="Last UTC day, inclusive (default: today)")
    ] = None,
    group_by: Annotated[
        str, Query(max_length=40, description="day, app, preset or provider_key")
    ] = "day",
) -> JSONResponse:
    """The caller's key's tasks created in the range (by their day of creation), how many
    completed, failed or were canceled, what they cost upstream and what they were charged."""
    by = grouping(group_by, allowed=GROUPS, field="group_by", most=1)
    days = day_range(since, until, today=services.clock().date())
    report = await read_usage(
        services.usage, owner=caller or "", by=by, days=days, currency=services.settings.currency
    )
    return envelope(present_usage(report).model_dump(mode="json"))
