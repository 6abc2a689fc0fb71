"""GET /usage over real HTTP, on SQLite and PostgreSQL: tasks run on the local engine and the
fake provider with a price, the failed one refunded; the rollup's figures are the sums of
the tasks' own, grouped by app and by day; bad input is a 422 naming its field."""

from __future__ import annotations

import base64
import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rendergate.client import AsyncClient, Charge, UsageGroup
from rendergate.config.settings import Settings
from support.images import make_png
from support.pg import DATABASES, on_database
from support.refusals import refused
from support.server import RunningServer

B64 = base64.b64encode(make_png(32, 24)).decode()


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def create(server: RunningServer, app: str, **params: Any) -> int:
    body = {"type": app, "image_base64": B64, "params": params}
    async with server.http.post(f"{server.url}/tasks", json=body) as response:
        assert response.status == 201, await response.text()
        task_id: int = (await response.json())["data"]["task_id"]
        return task_id


async def usage(server: RunningServer, **query: str) -> dict[str, Any]:
    async with server.http.get(f"{server.url}/usage", params=query) as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = (await response.json())["data"]
        return body


async def run_mix(server: RunningServer) -> list[dict[str, Any]]:
    """Two local renders, and three at 2.00: one completed, one failed, one canceled while
    its job ran (its charge kept: the provider had started)."""
    ids = [await create(server, "preview") for _ in range(2)]
    ids.append(await create(server, "fake_priced"))
    ids.append(await create(server, "fake_priced", fake={"outcome": "fail", "error": "boom"}))
    hanging = await create(server, "fake_priced", fake={"outcome": "hang"})
    await server.wait_for(hanging, lambda t: t["status"] == "processing")
    async with server.http.post(f"{server.url}/tasks/{hanging}/cancel") as response:
        assert response.status == 200, await response.text()
    return [await server.wait_finished(task_id, 60) for task_id in [*ids, hanging]]


async def test_usage_by_app_is_the_sum_of_the_tasks(server: RunningServer) -> None:
    tasks = await run_mix(server)
    assert [t["status"] for t in tasks] == ["completed"] * 3 + ["failed", "canceled"]
    assert [t["charge"] and t["charge"]["refunded"] for t in tasks] == [None] * 2 + [
        False,
        True,
        False,
    ]
    report = await usage(server, group_by="app")
    today = datetime.now(UTC).date().isoformat()
    assert (report["since"], report["until"]) == (today[:8] + "01", today)
    priced = {
        "group": "fake_priced",
        "currency": "CNY",
        "tasks": 3,
        "completed": 1,
        "failed": 1,
        "canceled": 1,
        "cost": {"spent": "0.00", "unknown": 0},
        "charge": {"charged": "6.00", "refunded": "2.00", "net": "4.00"},
    }
    local = {
        **priced,
        "group": "preview",
        "tasks": 2,
        "completed": 2,
        "failed": 0,
        "canceled": 0,
        "charge": {"charged": "0.00", "refunded": "0.00", "net": "0.00"},
    }
    assert report["groups"] == [priced, local]
    charged = sum(Decimal(t["charge"]["amount"]) for t in tasks if t["charge"])
    refunded = sum(
        Decimal(t["charge"]["amount"]) for t in tasks if t["charge"] and t["charge"]["refunded"]
    )
    spent = sum(Decimal(t["cost"]["amount"]) for t in tasks)
    [total] = report["totals"]
    assert (total["group"], total["tasks"], total["completed"]) == (None, 5, 3)
    assert total["charge"] == {"charged": str(charged), "refunded": str(refunded), "net": "4.00"}
    assert Decimal(total["cost"]["spent"]) == spent == 0
    by_day = await usage(server, group_by="day", since=today, until=today)
    assert [(g["group"], g["tasks"]) for g in by_day["groups"]] == [(today, 5)]
    assert by_day["totals"] == [total]
    money = await money_series(server)
    assert money == {
        ("rendergate_charged_total", "fake", "fake_priced", "CNY"): 6.0,
        ("rendergate_refunded_total", "fake", "fake_priced", "CNY"): 2.0,
    }  # nothing spent: the fake provider and the local engine cost nothing


async def money_series(server: RunningServer) -> dict[tuple[str, str, str, str], float]:
    async with server.http.get(f"{server.url}/metrics") as response:
        text = await response.text()
    names = ("rendergate_spent_total", "rendergate_charged_total", "rendergate_refunded_total")
    return {
        (s.name, s.labels["provider"], s.labels["app"], s.labels["currency"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in names
    }


async def test_the_sdk_reads_usage_and_money_typed(server: RunningServer) -> None:
    failed = await create(server, "fake_priced", fake={"outcome": "fail", "error": "boom"})
    done = await create(server, "fake_priced")
    await server.wait_finished(failed)
    await server.wait_finished(done)
    async with AsyncClient(server.url) as client:
        task = await client.get(failed)
        report = await client.usage(group_by="app", since=datetime.now(UTC).date())
    assert task.charge == Charge(amount=Decimal("2"), currency="CNY", refunded=True)
    assert task.cost is not None
    assert (task.cost.amount, task.cost.currency, task.cost.estimated) == (Decimal(0), "CNY", False)
    [group] = report.groups
    assert group == UsageGroup(
        group="fake_priced",
        currency="CNY",
        tasks=2,
        completed=1,
        failed=1,
        charged=Decimal(4),
        refunded=Decimal(2),
        net=Decimal(2),
    )
    assert report.totals == (dataclasses.replace(group, group=None),)
    assert isinstance(report.totals[0].net, Decimal)


async def test_a_range_without_tasks_has_zero_totals(server: RunningServer) -> None:
    await create(server, "fake_priced")
    report = await usage(server, since="2020-01-01", until="2020-12-31", group_by="preset")
    assert report["groups"] == []
    assert report["totals"] == [
        {
            "group": None,
            "currency": "CNY",
            "tasks": 0,
            "completed": 0,
            "failed": 0,
            "canceled": 0,
            "cost": {"spent": "0.00", "unknown": 0},
            "charge": {"charged": "0.00", "refunded": "0.00", "net": "0.00"},
        }
    ]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        (
            {"since": "2026-13-01"},
            "since",
            "since must be a day such as 2026-12-01, not '2026-13-01'",
        ),
        (
            {"until": "yesterday"},
            "until",
            "until must be a day such as 2026-12-01, not 'yesterday'",
        ),
        (
            {"since": "2026-12-02", "until": "2026-12-01"},
            "until",
            "until (2026-12-01) is before since (2026-12-02)",
        ),
        (
            {"since": "2000-01-01", "until": "2026-12-01"},
            "since",
            "a range spans at most 3660 days",
        ),
        (
            {"group_by": "key"},
            "group_by",
            "group_by takes day, app, preset or provider_key, not 'key'",
        ),
        (
            {"group_by": "day,app"},
            "group_by",
            "group_by takes day, app, preset or provider_key, not 'day,app'",
        ),
    ],
)
async def test_bad_usage_queries_are_422_naming_the_field(
    server: RunningServer, query: dict[str, str], field: str, message: str
) -> None:
    async with server.http.get(f"{server.url}/usage", params=query) as response:
        assert await refused(response, 422, message) == ["query", field]
