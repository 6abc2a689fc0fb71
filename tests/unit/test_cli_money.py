"""`rendergate status`'s money line, from the SDK's typed cost and charge."""

from __future__ import annotations

from decimal import Decimal

from rendergate.cli.client import money_said
from rendergate.client import Charge, Cost, Task

FINISHED = {
    "task_id": 1,
    "status": "failed",
    "cost": {
        "amount": "0.3",
        "currency": "CNY",
        "estimated": True,
        "billed": True,
        "provider": {"consumeCoins": "12"},
    },
    "charge": {"amount": "1.5", "currency": "CNY", "refunded": True},
}


def test_the_sdk_types_cost_and_charge_as_decimals() -> None:
    task = Task.from_json(FINISHED)
    assert task.cost == Cost(Decimal("0.3"), "CNY", True, True, {"consumeCoins": "12"})
    assert task.charge == Charge(Decimal("1.5"), "CNY", refunded=True)


def test_status_says_cost_and_charge_in_money() -> None:
    assert money_said(Task.from_json(FINISHED)) == (
        "cost 0.3 CNY (estimated), charged 1.5 CNY (refunded)"
    )
    unknown = FINISHED | {"cost": {"amount": None, "currency": "CNY"}, "charge": None}
    assert money_said(Task.from_json(unknown)) == "cost unknown"
    assert money_said(Task.from_json({"task_id": 1, "status": "processing"})) == ""
