"""`rendergate usage` as the operator runs it, on SQLite and PostgreSQL: tasks of two keys
and the open caller written through the real store (which keeps the rollup), then read
across keys by the command, as a table and as CSV; keys named by name, never a secret."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from rendergate.config.settings import Settings
from rendergate.domain.costing import Rates
from rendergate.domain.keys import new_key
from rendergate.domain.money import Money
from rendergate.domain.task import JobHandle, Task, TaskStatus
from rendergate.store.keys import KeyStore
from rendergate.store.sql import SqlTaskStore, create_engine, migrate
from support.pg import DATABASES, on_database
from support.process import child_env, run_cli

pytestmark = pytest.mark.slow
DEC1, DEC2 = (datetime(2026, 12, day, 9, tzinfo=UTC) for day in (1, 2))
PRICE = Money(Decimal("2.00"), "CNY")


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


def task(task_id: int, owner: str, when: datetime, **fields: object) -> Task:
    made = {"app": "su_render", "provider": "runninghub", "charge": PRICE}
    return Task(task_id=task_id, owner=owner, created_at=when, updated_at=when, **made | fields)  # type: ignore[arg-type]


async def finish(store: SqlTaskStore, new: Task, status: TaskStatus, coins: int | None) -> None:
    """`new` added, then finished by the store's own write (which prices it)."""
    await store.add(new)
    job = JobHandle(job_id=f"rh-{new.task_id}", data={})
    cost = {"consumeCoins": coins} if coins is not None else None
    ended = dataclasses.replace(new, status=status, provider_job=job, attempts=1, cost=cost)
    assert await store.save(new, ended) is not None


async def fill(settings: Settings) -> tuple[str, str]:
    """Key "acme" (3 tasks on Dec 1: 17 and 4 coins, one failed without figures: its cost
    unknown), "zenith" (1 on Dec 2, still running) and
    the open caller (1 local render on Dec 2); returns the keys' secrets."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.task_database_url)
    try:
        await migrate(engine)
        keys = KeyStore(engine)
        acme_secret, acme = new_key("acme", now=DEC1)
        zenith_secret, zenith = new_key("zenith", now=DEC1)
        await keys.add(acme)
        await keys.add(zenith)
        store = SqlTaskStore(engine, rates=Rates(coin_price=Decimal("0.01")))
        await finish(store, task(2**41 + 1, acme.key_id, DEC1), TaskStatus.COMPLETED, 17)
        await finish(store, task(2**41 + 2, acme.key_id, DEC1), TaskStatus.COMPLETED, 4)
        await finish(store, task(2**41 + 3, acme.key_id, DEC1), TaskStatus.FAILED, None)
        await store.add(task(2**41 + 4, zenith.key_id, DEC2))
        local = task(2**41 + 5, "", DEC2, app="preview", provider="local", charge=None)
        await finish(store, local, TaskStatus.COMPLETED, None)
        return acme_secret, zenith_secret
    finally:
        await engine.dispose()


def usage(settings: Settings, tmp_path: Path, *args: str) -> str:
    extra = (
        {} if settings.database_url is None else {"RENDERGATE_DATABASE_URL": settings.database_url}
    )
    env = child_env(settings.data_dir, COLUMNS="200", **extra)  # rich: the table on one line
    done = run_cli("usage", *args, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_usage_csv_across_keys_by_key_app_and_day(settings: Settings, tmp_path: Path) -> None:
    secrets = asyncio.run(fill(settings))
    text = usage(
        settings,
        tmp_path,
        "--by",
        "key,app,day",
        "--since",
        "2026-12-01",
        "--until",
        "2026-12-31",
        "--csv",
    )
    assert list(csv.reader(io.StringIO(text))) == [
        [
            "key",
            "app",
            "day",
            "currency",
            "tasks",
            "completed",
            "failed",
            "canceled",
            "unknown_cost",
            "spent",
            "charged",
            "refunded",
            "net",
        ],
        [
            "(open)",
            "preview",
            "2026-12-02",
            "CNY",
            "1",
            "1",
            "0",
            "0",
            "0",
            "0.00",
            "0.00",
            "0.00",
            "0.00",
        ],
        [
            "acme",
            "su_render",
            "2026-12-01",
            "CNY",
            "3",
            "2",
            "1",
            "0",
            "1",
            "0.21",
            "6.00",
            "2.00",
            "4.00",
        ],
        [
            "zenith",
            "su_render",
            "2026-12-02",
            "CNY",
            "1",
            "0",
            "0",
            "0",
            "0",
            "0.00",
            "2.00",
            "0.00",
            "2.00",
        ],
    ]
    assert not any(secret in text for secret in secrets)
    only_dec1 = usage(settings, tmp_path, "--since", "2026-12-01", "--until", "2026-12-01", "--csv")
    assert only_dec1.splitlines()[1:] == ["acme,CNY,3,2,1,0,1,0.21,6.00,2.00,4.00"]


def test_usage_table_ends_with_totals(settings: Settings, tmp_path: Path) -> None:
    asyncio.run(fill(settings))
    table = usage(
        settings, tmp_path, "--by", "app", "--since", "2026-12-01", "--until", "2026-12-02"
    )
    rows = [line.split("│")[1:-1] for line in table.splitlines() if line.startswith("│")]
    cells = [[cell.strip() for cell in row] for row in rows]
    assert cells == [
        ["preview", "CNY", "1", "1", "0", "0", "0", "0.00", "0.00", "0.00", "0.00"],
        ["su_render", "CNY", "4", "2", "1", "0", "1", "0.21", "8.00", "2.00", "6.00"],
        ["total", "CNY", "5", "3", "1", "0", "1", "0.21", "8.00", "2.00", "6.00"],
    ]


def test_a_bad_option_is_told_in_one_line(settings: Settings, tmp_path: Path) -> None:
    env = child_env(settings.data_dir)
    done = run_cli("usage", "--by", "key,owner", cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert (
        "--by takes key, day, app, preset, provider_key (comma-separated), not 'key,owner'"
        in done.stderr
    )
    mixed = run_cli("usage", "--by", "provider_key,day", cwd=tmp_path, env=env)
    assert mixed.returncode == 2
    assert "--by: provider_key groups with key, app or preset, not day" in mixed.stderr
