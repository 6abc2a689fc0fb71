"""Pooled Aliyun apps (RENDERGATE_ALIYUN_APP_KEYS) on the emulator, where each app is its own
account: its own tasks (another app's task id is unknown to it) and its own arrears."""

from __future__ import annotations

import json

import pytest

from rendergate.config.settings import Settings
from rendergate.providers.accounts import account_id
from rendergate_emulators.aliyun import AliyunEmulator
from rendergate_emulators.aliyun_model import ARREARAGE, CAN_NOT_FIND_TASK
from support.accounts import accounts_of
from support.aliyun import ali_settings, submit
from support.emulators import ALIYUN_KEY as KEY
from support.emulators import ALIYUN_SECRET as SECRET
from support.emulators import Hands
from support.logs import captured_logs
from support.server import RunningServer, serve

OTHER, OTHER_SECRET = "204918274", "Yx7uVn1KjO9rXsQ3wM5bA0cE2fG4hJ6t"
RESULT = "/scc/comfy_get_result"


def pooled(settings: Settings, emu: AliyunEmulator, apps: str, **extra: object) -> Settings:
    return ali_settings(
        settings, emu, aliyun_app_key=None, aliyun_app_secret=None, aliyun_app_keys=apps, **extra
    )


async def image_of(server: RunningServer, task_id: int) -> bytes:
    async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
        assert response.status == 200, await response.text()
        return await response.read()


async def test_tasks_spread_over_two_apps_by_their_concurrency(
    settings: Settings, stepped: AliyunEmulator, hands: Hands
) -> None:
    """Three tasks at once fill app one (1) and app two (2); the fourth waits for a place.
    Each is followed and downloaded with the app that took it."""
    stepped.add_app(OTHER, OTHER_SECRET)
    configured = pooled(settings, stepped, f"one={KEY}:{SECRET}:1,two={OTHER}:{OTHER_SECRET}:2")
    async with serve(configured) as server:
        ids = [await submit(server) for _ in range(3)]
        for task_id in ids:  # all three running upstream at once, until the clock moves
            await server.wait_for(task_id, lambda t: t["status"] == "processing")
        fourth = await submit(server)
        assert stepped.stats.submits_by_app == {KEY: 1, OTHER: 2}
        assert (await server.get_task(fourth))["status"] == "submitted"  # the cap is 1 + 2
        hands.advance(10)  # the three end; the fourth goes on an app with room
        await server.wait_for(fourth, lambda _: len(stepped.tasks) == 4, timeout_s=30)
        hands.advance(10)
        done = [await server.wait_finished(t, timeout_s=30) for t in [*ids, fourth]]
        images = [await image_of(server, t) for t in [*ids, fourth]]
        rows = await accounts_of(configured)
        async with server.http.get(f"{server.url}/usage?group_by=provider_key") as response:
            usage = (await response.json())["data"]
    assert [t["status"] for t in done] == ["completed"] * 4, done
    assert all(image.startswith(b"\x89PNG") for image in images)
    assert stepped.stats.peak_by_app == {KEY: 1, OTHER: 2}  # never over an app's own cap
    assert sum(stepped.stats.submits_by_app.values()) == 4  # each sent once
    # progress and results asked with the app that took the task: no "unknown task" answer
    assert stepped.stats.service_codes[CAN_NOT_FIND_TASK] == 0
    assert all(task.requests[RESULT] >= 1 for task in stepped.tasks.values())
    owners = {t.task_id: t.owner for t in stepped.tasks.values()}
    names = {KEY: "one", OTHER: "two"}
    for task in done:
        assert rows[int(task["task_id"])] == names[owners[task["provider_job_id"]]]
    ran = {f"aliyun/{name}": list(rows.values()).count(name) for name in ("one", "two")}
    assert {g["group"]: g["completed"] for g in usage["groups"]} == ran  # usage per app
    assert sum(ran.values()) == 4 and KEY not in json.dumps(usage)


@pytest.mark.slow  # follows its tasks one after the other
@pytest.mark.parametrize("refusal", ["arrears", "unknown app", "wrong secret"])
async def test_a_refused_app_is_set_aside_and_its_tasks_run_on_the_other(
    settings: Settings, aliyun: AliyunEmulator, refusal: str
) -> None:
    if refusal == "arrears":
        aliyun.add_app(OTHER, OTHER_SECRET, arrears=True)
    elif refusal == "wrong secret":
        aliyun.add_app(OTHER, "not-" + OTHER_SECRET)
    apps = f"{OTHER}:{OTHER_SECRET}:4,{KEY}:{SECRET}:4"  # the refused app is tried first
    configured = pooled(settings, aliyun, apps, circuit_open_s=600)
    with captured_logs() as logs:
        async with serve(configured) as server:
            first = await server.wait_finished(await submit(server))
            rest = [await server.wait_finished(await submit(server)) for _ in range(2)]
    shown = json.dumps([first, *rest])
    assert [t["status"] for t in [first, *rest]] == ["completed"] * 3, shown
    refused = aliyun.stats.service_codes[ARREARAGE] + sum(aliyun.stats.refusals.values())
    assert refused == 1  # refused once, then not asked again
    assert set(aliyun.stats.submits_by_app) == {KEY}
    assert set((await accounts_of(configured)).values()) == {account_id(f"{KEY}:{SECRET}")}
    said = logs.getvalue()
    assert "provider key set aside" in said and account_id(f"{OTHER}:{OTHER_SECRET}") in said
    for secret in (KEY, SECRET, OTHER, OTHER_SECRET):  # not in a log, a response or a file
        assert secret not in said and secret not in shown
        for path in configured.data_dir.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
