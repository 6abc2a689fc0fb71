"""What a render cost, in money, on the provider emulators: RunningHub's coins times
RENDERGATE_RUNNINGHUB_COIN_PRICE (estimated), RunningHub's own money (billed), Aliyun's
duration times the app's price_per_second (estimated); each counted in GET /usage and in
/metrics' rendergate_spent, beside the app's price charged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rendergate.config.settings import Settings, load_settings
from rendergate_emulators.aliyun import AliyunEmulator
from rendergate_emulators.runninghub import RunningHubEmulator
from support.emulators import ALIYUN_KEY, ALIYUN_SECRET
from support.hub import hub_settings, submit
from support.images import make_reference, make_scene
from support.server import RunningServer, serve

pytestmark = pytest.mark.slow  # RunningHub's pacing: polls seconds apart
TEST_APPS = Path(__file__).parents[1] / "support" / "apps.toml"
PRICED = """
[apps.{name}]
provider = "{provider}"
title = "priced"
reference = "required"
deadline_s = 600
price = "1.50"
{extra}
options = {options}
bindings = [
    {{ source = "image", {node}field = "image" }},
    {{ source = "reference", {ref}field = "{ref_field}" }},
]
"""


def priced_apps(tmp_path: Path, **extra: str) -> Path:
    """The tests' apps, with su_render and aliyun_render priced 1.50 a render (and `extra`)."""
    su = PRICED.format(
        name="su_render",
        provider="runninghub",
        extra="",
        options='{ webapp_id = "1983061233110790146" }',
        node='node_id = "112", ',
        ref='node_id = "158", ',
        ref_field="image",
    )
    ali = PRICED.format(
        name="aliyun_render",
        provider="aliyun",
        extra=extra.get("aliyun", ""),
        options='{ workflow_id = "su_render", alias_id = "main" }',
        node="",
        ref="",
        ref_field="reference",
    )
    path = tmp_path / "apps.toml"
    path.write_text(TEST_APPS.read_text(encoding="utf-8") + su + ali, encoding="utf-8")
    return path


async def finished(server: RunningServer, task_id: int) -> dict[str, Any]:
    task = await server.wait_finished(task_id, 60)
    assert task["status"] == "completed", task
    return task


async def spent_and_usage(server: RunningServer, app: str) -> tuple[float, dict[str, Any]]:
    async with server.http.get(f"{server.url}/metrics") as response:
        text = await response.text()
    spent = sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "rendergate_spent_total" and s.labels["app"] == app
    )
    async with server.http.get(f"{server.url}/usage", params={"group_by": "app"}) as response:
        [group] = (await response.json())["data"]["groups"]
    return spent, group


async def test_runninghub_coins_at_the_coin_price(
    settings: Settings, emulator: RunningHubEmulator, tmp_path: Path
) -> None:
    emulator.knobs.update({"coins_per_task": 12})
    apps = priced_apps(tmp_path)
    configured = hub_settings(settings, emulator, apps_file=apps, runninghub_coin_price="0.025")
    async with serve(configured) as server:
        task = await finished(server, await submit(server))
        assert task["cost"] | {"provider": None} == {
            "amount": "0.30",  # 12 coins x 0.025
            "currency": "CNY",
            "estimated": True,
            "billed": True,
            "provider": None,
        }
        assert task["cost"]["provider"]["consumeCoins"] == "12"
        assert task["charge"] == {"amount": "1.50", "currency": "CNY", "refunded": False}
        spent, group = await spent_and_usage(server, "su_render")
    assert spent == pytest.approx(0.3)
    assert (group["cost"], group["charge"]["net"]) == ({"spent": "0.30", "unknown": 0}, "1.50")


async def test_runninghub_money_is_the_bill(
    settings: Settings, emulator: RunningHubEmulator, tmp_path: Path
) -> None:
    bill = {"consumeMoney": "0.35", "thirdPartyConsumeMoney": "0.02"}
    emulator.knobs.update({"output_fields": json.dumps(bill)})
    apps = priced_apps(tmp_path)
    configured = hub_settings(settings, emulator, apps_file=apps, runninghub_coin_price="0.025")
    async with serve(configured) as server:
        task = await finished(server, await submit(server))
        assert (task["cost"]["amount"], task["cost"]["estimated"]) == ("0.37", False)
        _, group = await spent_and_usage(server, "su_render")
    assert group["cost"] == {"spent": "0.37", "unknown": 0}


async def test_aliyun_duration_at_the_apps_price_per_second(
    settings: Settings, aliyun: AliyunEmulator, tmp_path: Path
) -> None:
    apps = priced_apps(tmp_path, aliyun='price_per_second = "0.004"')
    configured = load_settings(
        data_dir=settings.data_dir,
        apps_file=apps,
        aliyun_app_key=ALIYUN_KEY,
        aliyun_app_secret=ALIYUN_SECRET,
        aliyun_base_url=aliyun.base_url,
    )
    async with serve(configured) as server:
        form = aiohttp.FormData({"type": "aliyun_render"})
        form.add_field("image", make_scene(96, 64), filename="a.png", content_type="image/png")
        form.add_field("reference", make_reference(), filename="r.jpg", content_type="image/jpeg")
        async with server.http.post(f"{server.url}/tasks", data=form) as response:
            assert response.status == 201, await response.text()
            task_id = (await response.json())["data"]["task_id"]
        task = await finished(server, task_id)
        assert task["cost"]["provider"]["taskDuration"] == 300
        assert (task["cost"]["amount"], task["cost"]["estimated"]) == ("0.0012", True)
        spent, group = await spent_and_usage(server, "aliyun_render")
    assert spent == pytest.approx(0.0012)
    assert group["cost"] == {"spent": "0.0012", "unknown": 0}
    assert group["charge"] == {"charged": "1.50", "refunded": "0.00", "net": "1.50"}
