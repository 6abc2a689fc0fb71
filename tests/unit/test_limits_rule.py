"""The rule admitting a create against its key's limits (domain/limits.py): counts that
include the create's own tasks, the first limit passed named with its value and reset."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from rendergate.domain.errors import BudgetReached, InvalidInput
from rendergate.domain.limits import (
    Adding,
    KeyLimits,
    Usage,
    budget_low,
    next_month,
    parse_count,
    refusal,
    with_price,
)

NOW = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


def test_a_key_s_own_limits_come_before_the_defaults() -> None:
    defaults = KeyLimits(rate_per_minute=60, max_in_flight=10, daily_tasks=100)
    own = KeyLimits(max_in_flight=0, monthly_budget=Decimal(50)).over(defaults)
    assert (own.rate_per_minute, own.max_in_flight, own.daily_tasks) == (60, 0, 100)
    assert own.monthly_budget == Decimal(50) and own.limiting


def test_counts_up_to_the_limit_fit_and_one_more_does_not() -> None:
    limits = KeyLimits(max_in_flight=5)
    assert refusal(limits, Usage(5, 0, 0), Adding(1), now=NOW, currency="CNY") is None
    refused = refusal(limits, Usage(6, 0, 0), Adding(1), now=NOW, currency="CNY")
    assert refused is not None and "5 unfinished tasks, its limit of tasks in flight is 5" in str(
        refused
    )


def test_the_budget_counts_net_charges_and_resets_next_month() -> None:
    limits = KeyLimits(monthly_budget=Decimal("5.00"))
    usage = Usage(0, 0, 0, month_net=Decimal("6.00"))
    refused = refusal(limits, usage, Adding(2, Decimal(2)), now=NOW, currency="CNY")
    assert isinstance(refused, BudgetReached)
    assert str(refused) == (
        "this key has been charged 4.00 CNY this month, its monthly budget is 5.00 CNY; these 2 "
        "tasks' 2.00 CNY do not fit; it resets on 2027-01-01 UTC"
    )
    assert refused.retry_after_s == 3600
    assert next_month(NOW) == datetime(2027, 1, 1, tzinfo=UTC)
    assert budget_low(limits, Usage(0, 0, 0, month_net=Decimal(4)))
    assert not budget_low(limits, Usage(0, 0, 0, month_net=Decimal("3.99")))


def test_command_line_values_are_checked() -> None:
    assert parse_count("none", field="--max-in-flight") is None
    assert parse_count("0", field="--max-in-flight") == 0
    with pytest.raises(InvalidInput, match="whole number"):
        parse_count("-1", field="--max-in-flight")
    prices = with_price({}, "preview=1.50")
    assert prices == {"preview": Decimal("1.50")} and with_price(prices, "preview=none") == {}
    with pytest.raises(InvalidInput, match="APP=AMOUNT"):
        with_price({}, "1.50")
