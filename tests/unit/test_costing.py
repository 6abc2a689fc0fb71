"""What a finished task cost, in money, and whether its charge is refunded
(domain/costing.py), from each provider's own figures and the operator's rates."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from rendergate.domain.costing import Rates, settle
from rendergate.domain.errors import InvalidInput
from rendergate.domain.money import Money, parse_amount
from rendergate.domain.task import JobHandle, Task, TaskStatus

NOW = datetime(2026, 12, 6, tzinfo=UTC)
RATES = Rates(
    currency="CNY",
    coin_price=Decimal("0.01"),
    per_second={"aliyun_render": Decimal("0.002")},
    per_gpu_hour=Decimal("3.60"),
)
JOB = JobHandle(job_id="j1")


def finished(provider: str, status: TaskStatus, raw: dict[str, Any] | None, **more: Any) -> Task:
    task = Task(
        task_id=1,
        app=more.pop("app", "su_render"),
        provider=provider,
        status=status,
        cost=raw,
        provider_job=more.pop("job", JOB),
        attempts=more.pop("attempts", 1),
        created_at=NOW,
        updated_at=NOW,
    )
    return dataclasses.replace(task, **more)


@pytest.mark.parametrize(
    ("provider", "raw", "amount", "estimated"),
    [
        ("runninghub", {"consumeMoney": "0.17", "consumeCoins": 17}, "0.17", False),
        ("runninghub", {"consumeMoney": 0.1, "thirdPartyConsumeMoney": "0.05"}, "0.15", False),
        ("runninghub", {"consumeMoney": None, "consumeCoins": "12"}, "0.12", True),
        ("runninghub", {"consumeCoins": None}, None, False),
        ("aliyun", {"taskDuration": 49594}, "0.099188", True),
        ("comfyui", {"execution_ms": 1500}, "0.0015", True),
        ("comfyui", None, None, False),
        ("local", None, "0.00", False),
    ],
)
def test_each_provider_is_priced_from_its_own_figures(
    provider: str, raw: dict[str, Any] | None, amount: str | None, estimated: bool
) -> None:
    app = "aliyun_render" if provider == "aliyun" else "su_render"
    task = settle(finished(provider, TaskStatus.COMPLETED, raw, app=app), RATES)
    assert (task.spent.text if task.spent else None, task.spent_estimated) == (amount, estimated)
    if task.spent is not None:
        assert task.spent.currency == "CNY" and isinstance(task.spent.amount, Decimal)


def test_without_a_rate_an_estimate_is_unknown_not_zero() -> None:
    bare = Rates()
    task = settle(finished("runninghub", TaskStatus.COMPLETED, {"consumeCoins": 5}), bare)
    assert task.spent is None


def test_a_task_that_never_reached_its_provider_cost_nothing_and_is_refunded() -> None:
    charge = Money(Decimal("2.00"), "CNY")
    for status in (TaskStatus.CANCELED, TaskStatus.FAILED):
        task = finished("runninghub", status, None, job=None, attempts=0, charge=charge)
        done = settle(task, RATES)
        assert done.spent == Money(Decimal(0), "CNY") and done.refunded


def test_a_cancel_after_the_job_started_keeps_its_charge_and_its_providers_bill() -> None:
    charge = Money(Decimal("2.00"), "CNY")
    task = finished("runninghub", TaskStatus.CANCELED, {"consumeMoney": "0.05"}, charge=charge)
    done = settle(task, RATES)
    assert (done.spent, done.refunded) == (Money(Decimal("0.05"), "CNY"), False)
    failed = settle(dataclasses.replace(task, status=TaskStatus.FAILED), RATES)
    assert failed.refunded  # a failure is never charged


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (2.0, "not float"),
        ("-1", "from 0"),
        ("1e13", "from 0"),
        ("0.0000001", "decimal places"),
        ("two", "decimal string"),
        (True, "not bool"),
    ],
)
def test_an_amount_is_a_decimal_string_never_a_float(given: object, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        parse_amount(given, field="price")
    assert parse_amount("2.00", field="price") == Decimal("2.00")
    assert [Money(Decimal(a), "CNY").text for a in ("2.5", "2", "0", "0.001500")] == [
        "2.50",
        "2.00",
        "0.00",
        "0.0015",
    ]
