"""Usage by provider key, on SQLite and PostgreSQL: the task rows of pooled keys summed per
provider and key id as the rollup sums them (counts, Decimal money, refunds), for one API
key or all; the rollup's own figures agree; a key shows by its id, never its secret."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.config.settings import Settings
from rendergate.domain.errors import InvalidInput
from rendergate.domain.money import Money
from rendergate.domain.task import JobHandle, Task, TaskStatus
from rendergate.services.usage import BY, UsageReport, grouping, read_usage
from rendergate.store.sql import SqlTaskStore, create_engine, migrate
from rendergate.store.usage_reads import SqlUsage
from support.pg import DATABASES, on_database

DAY = date(2026, 12, 6)
T0 = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)  # the day's last minute: still its day
SECRET = "0123456789abcdef0123456789abcdef"


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.task_database_url)
    await migrate(engine)
    yield engine
    await engine.dispose()


async def run(store: SqlTaskStore, task_id: int, account: str | None, **end: Any) -> None:
    """A task of `owner` on RunningHub, its key `account` chosen, finished as `end` says."""
    fields: dict[str, Any] = {"provider": "runninghub", "app": "su_render", "owner": "key-a"}
    fields |= {k: end.pop(k) for k in ("owner", "created_at", "charge") if k in end}
    created = fields.pop("created_at", T0)
    task = Task(task_id=task_id, created_at=created, updated_at=created, **fields)
    await store.add(task)
    if account is not None:
        assert await store.claim_account(task_id, "runninghub", {account: 10}) == account
    job = JobHandle(job_id=f"rh-{task_id}", data={"account": account})
    finished = dataclasses.replace(task, provider_job=job, **end)
    assert await store.save(task, finished) is not None


async def report(engine: AsyncEngine, owner: str | None, *by: str) -> UsageReport:
    return await read_usage(SqlUsage(engine), owner=owner, by=by, days=(DAY, DAY), currency="CNY")


def figures(report: UsageReport) -> list[tuple[Any, ...]]:
    names = ("tasks", "completed", "failed", "canceled", "unknown_cost", "spent", "charged")
    return [
        (*line.group.values(), *(getattr(line, name) for name in names), line.refunded)
        for line in report.lines
    ]


async def test_cost_is_broken_down_by_the_provider_key_that_ran_each_task(
    engine: AsyncEngine,
) -> None:
    store = SqlTaskStore(engine)
    price = Money(Decimal("2.50"), "CNY")
    done = {"status": TaskStatus.COMPLETED}
    await run(store, 1, "one", **done, cost={"consumeMoney": "0.10"}, charge=price)
    await run(store, 2, "one", **done, cost={"consumeMoney": "0.20"}, charge=price)
    await run(store, 3, "k-1a2b3c4d", **done, cost={"consumeMoney": "0.05"})
    await run(store, 4, "k-1a2b3c4d", status=TaskStatus.FAILED, charge=price)  # refunded, no cost
    await run(store, 5, None, **done, cost={"consumeMoney": "1.000001"})  # one key: no id
    await run(store, 6, "one", **done, owner="key-b", cost={"consumeMoney": "0.40"})
    await run(store, 7, "one", **done, created_at=T0 + timedelta(minutes=1))  # the next day
    await run(store, 8, "one", status=TaskStatus.CANCELED, cost={})  # its cost unknown
    d = Decimal
    assert figures(await report(engine, "key-a", "provider_key")) == [
        ("runninghub", 1, 1, 0, 0, 0, d("1.000001"), d(0), d(0)),
        ("runninghub/k-1a2b3c4d", 2, 1, 1, 0, 1, d("0.05"), d("2.5"), d("2.5")),
        ("runninghub/one", 3, 2, 0, 1, 1, d("0.3"), d(5), d(0)),
    ]
    every = await report(engine, None, "provider_key", "key")
    assert [line.group for line in every.lines][-2:] == [
        {"provider_key": "runninghub/one", "key": "key-a"},  # no such API key: its id
        {"provider_key": "runninghub/one", "key": "key-b"},
    ]
    [total] = every.totals
    rollup = (await report(engine, None, "app")).totals
    assert rollup == [total]  # the task rows and the rollup agree on every figure
    assert (total.tasks, total.spent, total.charged, total.net) == (
        7,
        d("1.750001"),
        d("7.5"),
        d(5),
    )
    assert SECRET not in repr(every)


def test_provider_key_does_not_group_with_day() -> None:
    with pytest.raises(InvalidInput) as refused:
        grouping("provider_key,day", allowed=tuple(BY), field="--by")
    assert refused.value.message == "--by: provider_key groups with key, app or preset, not day"
