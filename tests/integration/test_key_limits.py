"""Each key's own limits, stored with the key, held under concurrency: 50 creates at once
against a limit of 5 leave exactly 5 tasks, on SQLite and on PostgreSQL; a budget counts
a batch's members whole; a key's price list; its account webhook told once a month."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from rendergate.config.settings import Settings
from rendergate.domain.keys import ApiKey, new_key
from rendergate.domain.limits import KeyLimits
from rendergate.services.keys import REFRESH_S
from rendergate.store.keys import KeyStore
from rendergate.store.sql import create_engine
from rendergate.store.tables import account_alerts, deliveries
from support.images import make_scene
from support.pg import DATABASES, on_database
from support.process import create_api_key, rendergate_keys
from support.receiver import Receiver, receiving
from support.server import RunningServer, serve
from support.waiting import until

IMAGE = base64.b64encode(make_scene(32, 24)).decode()
HANG = {"fake": {"outcome": "hang"}}  # stays in flight
ONE = Decimal("1.00")


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings.model_copy(update={"fetch_allow": ["127.0.0.1"]}), request)


async def make_key(settings: Settings, limits: KeyLimits) -> tuple[str, ApiKey]:
    """A key with its own limits, written to the server's database as `keys` writes it."""
    token, key = new_key("shop", now=datetime.now(UTC))
    key = dataclasses.replace(key, limits=limits)
    engine = create_engine(settings.task_database_url)
    try:
        await KeyStore(engine).add(key)
    finally:
        await engine.dispose()
    return token, key


async def rows(settings: Settings, table: sa.Table, **where: str) -> int:
    engine = create_engine(settings.task_database_url)
    try:
        query = sa.select(sa.func.count()).select_from(table)
        query = query.where(*(table.c[name] == value for name, value in where.items()))
        async with engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())
    finally:
        await engine.dispose()


async def call(
    server: RunningServer, token: str, path: str, body: dict[str, Any]
) -> tuple[int, Any, dict[str, str]]:
    """The answer's status, body, and its Retry-After and X-Rendergate-Limit headers."""
    headers = {"Authorization": f"Bearer {token}"}
    async with server.http.post(f"{server.url}{path}", json=body, headers=headers) as answer:
        told = {name: answer.headers[name] for name in REFUSAL_HEADERS if name in answer.headers}
        return answer.status, await answer.json(), told


def task(**fields: Any) -> dict[str, Any]:
    return {"type": "fake", "image_base64": IMAGE, "params": HANG, **fields}


def batch(views: int) -> dict[str, Any]:
    return {"type": "fake", "params": HANG, "views": [{"image_base64": IMAGE}] * views}


async def task_count(server: RunningServer, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with server.http.get(f"{server.url}/tasks?limit=100", headers=headers) as answer:
        return len((await answer.json())["data"]["tasks"])


def stored_inputs(settings: Settings) -> int:
    """The inputs in the blob store (each task's one image)."""
    inputs = settings.data_dir / "blobs" / "inputs"
    return len([path for path in inputs.rglob("*") if path.is_file()])


REFUSAL_HEADERS = ("Retry-After", "X-Rendergate-Limit")
LIMITS = {  # each limit: the key's, its refusal's words, and the name its header gives
    "in flight": (
        KeyLimits(max_in_flight=5),
        "its limit of tasks in flight is 5;",
        "max_in_flight",
    ),
    "daily": (KeyLimits(daily_tasks=5), "its daily limit (UTC days) is 5;", "daily_tasks"),
    "rate": (
        KeyLimits(rate_per_minute=5),
        "over this key's limit of 5 task creates a minute",
        "rate_per_minute",
    ),
    "budget": (
        KeyLimits(monthly_budget=Decimal("5.00"), prices={"fake": ONE}),
        "its monthly budget is 5.00 CNY; this task's 1.00 CNY do not fit",
        "monthly_budget",
    ),
}


@pytest.mark.parametrize("limit", LIMITS)
async def test_fifty_concurrent_creates_against_a_limit_of_five_leave_five(
    settings: Settings, limit: str
) -> None:
    limits, refusal, name = LIMITS[limit]
    async with serve(settings) as server:
        token, _ = await make_key(settings, limits)
        server.services.keys.refresh()
        answers = await asyncio.gather(*(call(server, token, "/tasks", task()) for _ in range(50)))
        statuses = [status for status, _, _ in answers]
        assert statuses.count(201) == 5 and statuses.count(429) == 45, statuses
        for status, body, told in answers:
            if status == 429:
                assert refusal in body["msg"] and int(told["Retry-After"]) > 0, body
                assert told["X-Rendergate-Limit"] == name
            else:
                assert told == {}
        assert await task_count(server, token) == 5
        assert stored_inputs(settings) == 5  # the refused creates' inputs were removed


async def test_a_batch_over_the_budget_is_refused_whole(settings: Settings) -> None:
    limits = KeyLimits(monthly_budget=Decimal("5.00"), prices={"fake": ONE})
    async with serve(settings) as server:
        token, _ = await make_key(settings, limits)
        server.services.keys.refresh()
        status, answer, _ = await call(server, token, "/batches", batch(3))
        assert status == 201, answer
        assert [t["charge"]["amount"] for t in answer["data"]["tasks"]] == ["1.00"] * 3
        status, answer, told = await call(server, token, "/batches", batch(3))
        assert status == 429, answer
        assert answer["msg"].startswith(
            "this key has been charged 3.00 CNY this month, its monthly budget is 5.00 CNY; "
            "these 3 tasks' 3.00 CNY do not fit; it resets on "
        )
        assert int(told["Retry-After"]) > 0 and told["X-Rendergate-Limit"] == "monthly_budget"
        assert await task_count(server, token) == 3
        assert (await call(server, token, "/batches", batch(2)))[0] == 201


async def test_a_key_price_comes_before_the_apps(settings: Settings) -> None:
    async with serve(settings) as server:
        token, _ = await make_key(settings, KeyLimits(prices={"fake": Decimal("1.50")}))
        server.services.keys.refresh()
        status, answer, _ = await call(server, token, "/tasks", task())
        assert status == 201, answer
        assert answer["data"]["charge"] == {"amount": "1.50", "currency": "CNY", "refunded": False}


async def test_a_chained_step_is_charged_at_the_keys_price_too(settings: Settings) -> None:
    """A `then` step's task is charged as its key's own create would be: the key's price for
    the step's app (0.30) before the app's (0.50)."""
    prices = {"fake": Decimal("1.50"), "fake_upscale": Decimal("0.30")}
    async with serve(settings) as server:
        token, _ = await make_key(settings, KeyLimits(prices=prices))
        server.services.keys.refresh()
        then = [{"type": "fake_upscale"}]
        status, answer, _ = await call(server, token, "/tasks", task(params={}, then=then))
        assert status == 201, answer
        headers = {"Authorization": f"Bearer {token}"}
        child = await finished_child(server, answer["data"]["task_id"], headers)
        assert child["charge"] == {"amount": "0.30", "currency": "CNY", "refunded": False}


async def finished_child(
    server: RunningServer, task_id: int, headers: dict[str, str]
) -> dict[str, Any]:
    async def child() -> dict[str, Any] | None:
        async with server.http.get(f"{server.url}/tasks/{task_id}", headers=headers) as got:
            children = (await got.json())["data"]["children"]
        if not children:
            return None
        path = f"{server.url}/tasks/{children[0]}"
        async with server.http.get(path, headers=headers) as got:
            found: dict[str, Any] = (await got.json())["data"]
        return found if found["status"] == "completed" else None

    return await until(child, 30, lambda: f"task {task_id}'s chained step to complete")


async def test_the_account_webhook_is_told_budget_low_and_reached_once_a_month(
    settings: Settings,
) -> None:
    async with receiving(Receiver([])) as hook, serve(settings) as server:
        limits = KeyLimits(
            monthly_budget=Decimal("5.00"), prices={"fake": ONE}, account_webhook=hook.url
        )
        token, key = await make_key(settings, limits)
        hook.secrets.append(key.webhook_secret)
        server.services.keys.refresh()
        statuses = [(await call(server, token, "/tasks", task()))[0] for _ in range(7)]
        assert statuses == [201] * 5 + [429] * 2  # the 4th reached 80 %, the 6th the budget
        received = await hook.until(2, timeout_s=30)
        told = sorted(received_payloads(hook), key=lambda p: p["type"])
        assert [p["type"] for p in told] == ["usage.budget_low", "usage.budget_reached"]
        budget = {"amount": "5.00", "currency": "CNY"}
        assert told[0]["data"] == {
            "key_id": key.key_id,
            "period": f"{datetime.now(UTC):%Y-%m}",
            "monthly_budget": budget,
            "charged": {"amount": "4.00", "currency": "CNY"},  # 80 %: told at the 4th
        }
        assert told[1]["data"]["charged"] == budget  # the 6th refused: reached
        assert len(received) == 2
        for event in ("usage.budget_low", "usage.budget_reached"):  # once: one row each
            assert await rows(settings, deliveries, owner=key.key_id, event=event) == 1
            assert await rows(settings, account_alerts, owner=key.key_id, event=event) == 1


def received_payloads(hook: Receiver) -> list[Any]:
    payloads = hook.verified()
    assert len(payloads) == len(hook.received), "a delivery's signature did not verify"
    return payloads


@pytest.mark.slow  # `rendergate keys` runs as its own process
async def test_keys_limits_round_trip_and_a_running_server_sees_it(settings: Settings) -> None:
    if settings.database_url is not None:
        pytest.skip("the command's own process runs on the data directory's SQLite")
    token = await asyncio.to_thread(create_api_key, settings.data_dir, "shop")
    async with serve(settings) as server:
        assert (await call(server, token, "/tasks", task()))[0] == 201
        done = await asyncio.to_thread(
            rendergate_keys,
            settings.data_dir,
            "limits",
            "shop",
            "--max-in-flight",
            "1",
            "--monthly-budget",
            "50.00",
            "--price",
            "fake=1.50",
            "--account-webhook",
            "https://hooks.example.com/rendergate",
        )
        assert done.returncode == 0, done.stderr
        said = "in flight 1, budget 50.00 CNY/month, fake at 1.50, account webhook "
        assert said in done.stdout
        listed = await asyncio.to_thread(rendergate_keys, settings.data_dir, "list")
        assert "in flight 1" in listed.stdout and "fake at 1.50" in listed.stdout
        started = asyncio.get_running_loop().time()
        while (answer := await call(server, token, "/tasks", task()))[0] == 201:
            assert asyncio.get_running_loop().time() - started < 2 * REFRESH_S + 1, answer
        assert answer[0] == 429 and "its limit of tasks in flight is 1;" in answer[1]["msg"]
        cleared = await asyncio.to_thread(
            rendergate_keys, settings.data_dir, "limits", "shop", "--max-in-flight", "none"
        )
        assert cleared.returncode == 0 and "in flight" not in cleared.stdout, cleared.stdout
        wrong = await asyncio.to_thread(
            rendergate_keys, settings.data_dir, "limits", "shop", "--monthly-budget", "lots"
        )
        assert wrong.returncode == 2 and "monthly budget" in wrong.stderr + wrong.stdout
