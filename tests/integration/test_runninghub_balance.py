"""RunningHub's balance, on the emulator: read as decimals, shown as a gauge and by doctor,
and used up mid-run: the task refused says so in words, the next ones wait (or fall back)
instead of failing one after another, and go on once the balance is topped up."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rendergate.config.settings import Settings
from rendergate.providers.accounts import ProviderAccount, account_id
from rendergate.providers.runninghub import RunningHub
from rendergate.services.balances import Watch
from rendergate.services.doctor import examine
from rendergate.services.metrics import Metrics
from rendergate_emulators.runninghub import RunningHubEmulator
from support.hub import KEY, hub_settings, submit
from support.images import make_scene
from support.logs import captured_logs
from support.server import RunningServer, serve
from support.waiting import until

FALLBACK_APPS = Path(__file__).parents[1] / "support" / "fallback_apps.toml"
RUN = "/task/openapi/ai-app/run"
ACCOUNT = "/uc/openapi/accountStatus"
USED_UP = "runninghub refused the task: the account's balance is used up; top it up on RunningHub"


def adapter(emu: RunningHubEmulator, http: aiohttp.ClientSession, **extra: Any) -> RunningHub:
    return RunningHub(
        api_key=KEY, base_url=str(emu.base_url), http=http, host="www.runninghub.cn", **extra
    )


def gauge(metrics: Metrics, unit: str) -> float | None:
    labels = {"provider": "runninghub", "unit": unit}
    return metrics.registry.get_sample_value("rendergate_provider_balance", labels)


def refusals(emu: RunningHubEmulator, code: int) -> int:
    return emu.stats.codes_by_path[RUN][code]


async def test_the_balance_is_read_as_decimals_and_shown_as_a_gauge(
    emulator: RunningHubEmulator,
) -> None:
    emulator.configure(remain_coins=1234, remain_money="56.78")
    metrics, usable_again = Metrics(), []
    async with aiohttp.ClientSession() as http:
        hub = adapter(emulator, http, balance_low=Decimal(1000))
        balance = await hub.balance()
        assert (balance.coins, balance.money, balance.currency) == (
            Decimal(1234),
            Decimal("56.78"),
            "CNY",
        )
        watch = Watch("runninghub", hub, metrics, usable_again.append)
        with captured_logs() as logs:
            await watch.read()
            emulator.configure(remain_coins=900)  # falls below the low mark: one warning
            await watch.read()
            await watch.read()
            emulator.configure(remain_coins=5000)  # recovers, then falls again: one more
            await watch.read()
            emulator.configure(remain_coins=10)
            await watch.read()
    assert gauge(metrics, "coins") == 10 and gauge(metrics, "CNY") == 56.78
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    warned = [line for line in lines if line["event"] == "provider balance low"]
    assert [w["balance"] for w in warned] == ["900 coins, 56.78 CNY", "10 coins, 56.78 CNY"]
    assert KEY not in logs.getvalue()
    assert usable_again == ["runninghub"] * 5  # it had funds at every read


async def test_doctor_shows_the_balance_and_flags_it_below_the_low_mark(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.configure(remain_coins=1500)
    found = {f.part: f for f in await examine(hub_settings(settings, emulator))}
    assert (found["balance runninghub"].ok, found["balance runninghub"].detail) == (
        True,
        "1500 coins",
    )
    low = hub_settings(settings, emulator, runninghub_balance_low="2000")
    flagged = {f.part: f for f in await examine(low)}["balance runninghub"]
    assert (flagged.ok, flagged.detail) == (
        False,
        "1500 coins: below the low mark of 2000 coins; top it up",
    )
    emulator.configure(remain_coins=0)
    used_up = {f.part: f for f in await examine(hub_settings(settings, emulator))}
    assert used_up["balance runninghub"].detail == "0 coins: used up; top it up"


async def statuses(server: RunningServer, ids: list[int]) -> list[dict[str, Any]]:
    return [await server.get_task(task_id, include_base64="false") for task_id in ids]


@pytest.mark.slow  # serves rendergate, and waits out a task's wait for funds
async def test_the_balance_used_up_mid_run_fails_one_task_and_the_rest_wait_for_a_top_up(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.configure(remain_coins=20, coins_per_task=10)  # two tasks' worth
    configured = hub_settings(
        settings,
        emulator,
        runninghub_concurrency=1,  # one at a time, so the coins run out at a known task
        runninghub_balance_every_s=0,  # only the waiting task reads the balance again
        circuit_open_s=0.3,
    )
    async with serve(configured) as server:
        ids = [await submit(server) for _ in range(5)]
        first = [await server.wait_finished(task_id) for task_id in ids[:3]]
        assert [t["status"] for t in first] == ["completed", "completed", "failed"]
        assert first[2]["error_message"].startswith(USED_UP), first[2]
        assert "(812)" in first[2]["error_message"]
        # The next task waits, reading the balance, not running into 812 again.
        reads = emulator.stats.requests_by_path[ACCOUNT]
        await until(lambda: emulator.stats.requests_by_path[ACCOUNT] >= reads + 2, 10, "reads")
        assert [t["status"] for t in await statuses(server, ids[3:])] == ["submitted"] * 2
        assert refusals(emulator, 812) == 1
        emulator.configure(remain_coins=1000)  # topped up: the waiting ones go on
        rest = [await server.wait_finished(task_id) for task_id in ids[3:]]
    assert [t["status"] for t in rest] == ["completed", "completed"], rest
    assert refusals(emulator, 812) == 1 and emulator.remain_coins == 980


async def create_fallback_task(server: RunningServer) -> dict[str, Any]:
    body = {"type": "rh_or_preview", "image_base64": base64.b64encode(make_scene(64, 48)).decode()}
    async with server.http.post(f"{server.url}/tasks", json=body) as response:
        created = await response.json()
        assert response.status == 201, created
    return await server.wait_finished(created["data"]["task_id"])


@pytest.mark.slow  # serves rendergate
async def test_with_a_fallback_route_tasks_move_on_while_runninghub_is_out_of_funds(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.configure(remain_coins=0, broke_code=416)
    configured = hub_settings(
        settings,
        emulator,
        apps_file=FALLBACK_APPS,
        runninghub_balance_every_s=0.2,  # the scheduled read makes it usable again
        circuit_open_s=600,  # so only that read can
    )
    async with serve(configured) as server:
        refused = await create_fallback_task(server)
        assert (refused["status"], refused["provider"]) == ("completed", "local")
        [skip] = refused["skipped_providers"]
        assert skip["reason"].startswith(
            "runninghub is out of funds: the account's balance is used up"
        )
        assert "(416)" in skip["reason"]
        passed_over = await create_fallback_task(server)  # without asking RunningHub
        assert passed_over["provider"] == "local"
        assert passed_over["skipped_providers"][0]["reason"] == (
            "runninghub is out of funds: its balance is used up"
        )
        assert refusals(emulator, 416) == 1
        emulator.configure(remain_coins=1000)
        reads = emulator.stats.requests_by_path[ACCOUNT]  # each from here on sees the top-up
        await until(lambda: emulator.stats.requests_by_path[ACCOUNT] >= reads + 2, 10, "reads")
        assert gauge(server.services.metrics, "coins") == 1000
        back = await create_fallback_task(server)
    assert (back["status"], back["provider"], back["skipped_providers"]) == (
        "completed",
        "runninghub",
        [],
    )
    assert refusals(emulator, 416) == 1


async def test_pooled_keys_balances_are_read_and_shown_per_key(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    """Each key's balance under its id (a gauge, a doctor line), the provider's the sum; an
    empty key is flagged alone; no key in what is shown."""
    other = "fedcba9876543210fedcba9876543210"
    emulator.configure(remain_coins=1500)
    emulator.add_key(other, remain_coins=0)
    pooled = hub_settings(
        settings, emulator, runninghub_api_key=None, runninghub_api_keys=f"a={KEY},b={other}"
    )
    found = {f.part: f for f in await examine(pooled)}
    assert (found["balance runninghub a"].ok, found["balance runninghub a"].detail) == (
        True,
        "1500 coins",
    )
    assert found["balance runninghub b"].detail == "0 coins: used up; top it up"
    assert "balance runninghub" not in found
    assert not any(KEY in f.detail or other in f.detail for f in found.values())
    metrics = Metrics()
    async with aiohttp.ClientSession() as http:
        hub = RunningHub(
            api_key=KEY,
            accounts=(ProviderAccount("b", other, 1),),
            base_url=str(emulator.base_url),
            http=http,
            host="www.runninghub.cn",
        )
        await Watch("runninghub", hub, metrics, lambda _: None).read()
    assert gauge(metrics, "coins") == 1500
    for account, coins in ((account_id(KEY), 1500), ("b", 0)):
        labels = {"provider": "runninghub", "account": account, "unit": "coins"}
        assert metrics.registry.get_sample_value("rendergate_provider_key_balance", labels) == coins
