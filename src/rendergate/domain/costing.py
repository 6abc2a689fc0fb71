"""What a finished task cost upstream, in money, from its provider's own figures and the
rates the operator set; and whether its charge is refunded. Pure: the store applies it to
every task as it finishes (store/sql.py), so no writer can finish one without it.

- RunningHub bills money (`consumeMoney`, plus `thirdPartyConsumeMoney`) or coins
  (`consumeCoins`, times RENDERGATE_RUNNINGHUB_COIN_PRICE: estimated).
- Aliyun reports the task's duration (`taskDuration`, ms), times the app's price per second
  (estimated).
- Your own ComfyUI: its execution time (`execution_ms`), times the price per GPU-hour
  (estimated).
- The local engine costs nothing.
A task that ended before any job reached its provider cost nothing; one that ended after,
without the provider's figures, cost an unknown amount (None).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rendergate.domain.money import Money, figure, zero
from rendergate.domain.task import Task, TaskStatus

MS_PER_HOUR = Decimal(3_600_000)
FREE = frozenset({"local", "fake"})  # run on the operator's own CPU, or nowhere


@dataclass(frozen=True)
class Rates:
    """The operator's rates, in `currency`; None where none is set."""

    currency: str = "CNY"
    coin_price: Decimal | None = None  # RunningHub: money per coin
    per_second: Mapping[str, Decimal] = field(default_factory=dict)  # app -> price a second
    per_gpu_hour: Decimal | None = None  # your ComfyUI servers


def settle(task: Task, rates: Rates) -> Task:
    """`task`, just finished, with what it cost and whether its charge is refunded: a task
    that failed is not charged (nor is one canceled before its provider started)."""
    spent, estimated = _spent(task, rates)
    started = task.provider_job is not None or task.attempts > 0
    refunded = task.charge is not None and (
        task.status is TaskStatus.FAILED or (task.status is TaskStatus.CANCELED and not started)
    )
    return dataclasses.replace(task, spent=spent, spent_estimated=estimated, refunded=refunded)


def _spent(task: Task, rates: Rates) -> tuple[Money | None, bool]:
    raw = task.cost or {}
    started = task.provider_job is not None or task.attempts > 0
    if task.provider in FREE or (not started and task.status is not TaskStatus.COMPLETED):
        return zero(rates.currency), False
    if task.provider == "runninghub":
        return _runninghub(raw, rates)
    if task.provider == "aliyun":
        return _timed(raw.get("taskDuration"), rates.per_second.get(task.app), 1000, rates)
    if task.provider == "comfyui":
        return _timed(raw.get("execution_ms"), rates.per_gpu_hour, MS_PER_HOUR, rates)
    return None, False


def _runninghub(raw: Mapping[str, Any], rates: Rates) -> tuple[Money | None, bool]:
    money = _decimal(raw.get("consumeMoney"))
    if money is not None:
        third = _decimal(raw.get("thirdPartyConsumeMoney")) or Decimal(0)
        return Money(money + third, rates.currency), False
    coins = _decimal(raw.get("consumeCoins"))
    if coins is not None and rates.coin_price is not None:
        return Money(coins * rates.coin_price, rates.currency), True
    return None, False


def _timed(
    elapsed_ms: Any,
    price: Decimal | None,
    unit_ms: Decimal | int,
    rates: Rates,
) -> tuple[Money | None, bool]:
    """A duration in ms times a price per `unit_ms` (a second, or an hour)."""
    elapsed = _decimal(elapsed_ms)
    if elapsed is None or price is None:
        return None, False
    amount = elapsed * price / Decimal(unit_ms)
    return Money(amount.quantize(Decimal("0.000001")), rates.currency), True


def _decimal(value: Any) -> Decimal | None:
    """A provider's figure, if a non-negative number (money.figure)."""
    number = figure(value)
    return number if number is not None and number >= 0 else None
