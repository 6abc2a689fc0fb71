"""RunningHub under attack: poison values in a node binding, replies that echo our request
or cannot be read, webhooks nested absurdly deep, faults right after the webhook, and a
cancel during the upload. The API key never reaches a log, a stored error or DBOS's
database, and no fault loses a result RunningHub has already made."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dbos import DBOS

from rendergate.config.settings import Settings
from rendergate.domain.task import InputRef, Task
from rendergate_emulators.runninghub import InjectedFault, RunningHubEmulator
from support.hub import KEY, hub_settings
from support.images import make_scene
from support.logs import captured_logs
from support.process import free_port
from support.server import RunningServer, serve
from support.waiting import until

APPS = Path(__file__).parents[1] / "support" / "runninghub_apps.toml"


def configured_for(settings: Settings, emu: RunningHubEmulator, **extra: Any) -> Settings:
    return hub_settings(settings, emu, apps_file=APPS, **extra)


async def submit(server: RunningServer, note: str = "warm light") -> int:
    form = aiohttp.FormData()
    form.add_field("image", make_scene(96, 64), filename="shot.png", content_type="image/png")
    form.add_field("type", "rh_note")
    form.add_field("params", json.dumps({"note": note}))
    async with server.http.post(f"{server.url}/tasks", data=form) as response:
        body = await response.json()
        assert response.status == 201, body
        return int(body["data"]["task_id"])


def assert_key_nowhere(settings: Settings, logs: str, *texts: str) -> None:
    """Not in the log, the given texts, or any file of the data directory (both databases,
    their write-ahead logs, the blobs)."""
    assert KEY not in logs
    assert all(KEY not in text for text in texts)
    for path in settings.data_dir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


async def test_a_poison_value_in_a_binding_fails_the_task_without_leaking_the_key(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    """A row from before params were checked, holding a lone surrogate bound to a node."""
    configured = configured_for(settings, emulator)
    with captured_logs(secrets=configured.secret_values()) as logs:
        async with serve(configured) as server:
            now = datetime.now(UTC)
            key = "inputs/poison/image.png"
            await server.services.blobs.put(key, make_scene(96, 64))
            poison = Task(
                task_id=2**42,
                app="rh_note",
                provider="runninghub",
                params={"note": "\ud800"},
                inputs={"image": InputRef(key=key, content_type="image/png")},
                callback_token="t" * 32,
                created_at=now,
                updated_at=now,
            )
            await server.services.store.add(poison)
            assert server.services.orchestrator is not None
            await server.services.orchestrator.start(poison)
            task = await server.wait_finished(poison.task_id)
    assert task["status"] == "failed", task
    assert task["error_message"] == (
        "the inputs were refused: the request holds text that is not valid Unicode "
        "or nests too deeply"
    )
    assert emulator.tasks == {}  # nothing reached RunningHub's queue
    assert_key_nowhere(configured, logs.getvalue(), task["error_message"])


async def test_a_reply_that_echoes_our_request_is_scrubbed(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.inject(InjectedFault.ECHO, path="/task/openapi/create", code=803)
    configured = configured_for(settings, emulator)
    with captured_logs(secrets=configured.secret_values()) as logs:
        async with serve(configured) as server:
            task = await server.wait_finished(await submit(server))
    assert task["status"] == "failed", task
    assert "bad request" in task["error_message"] and "[redacted]" in task["error_message"]
    assert_key_nowhere(configured, logs.getvalue(), task["error_message"])


async def test_an_unreadable_reply_is_runninghubs_error_not_an_internal_one(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.inject(InjectedFault.MALFORMED, path="/task/openapi/create")
    async with serve(configured_for(settings, emulator)) as server:
        task = await server.wait_finished(await submit(server))
        stored = await server.services.store.get(task["task_id"])
    assert task["status"] == "failed", task
    assert task["error_message"] == (
        "runninghub failed: runninghub sent a reply we could not read (KeyError)"
    )
    assert stored.error_kind == "provider"
    assert emulator.stats.faults_fired["malformed"] == 1  # not sent again: it may have run


@pytest.mark.slow  # waits out RunningHub's polls
async def test_unreadable_status_replies_are_polled_through(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.inject(InjectedFault.MALFORMED, path="/task/openapi/outputs", times=2)
    async with serve(configured_for(settings, emulator)) as server:
        task = await server.wait_finished(await submit(server), timeout_s=30)
    assert task["status"] == "completed", task
    assert emulator.stats.faults_fired["malformed"] == 2


async def test_a_deep_webhook_body_with_the_right_token_is_a_4xx_and_logs_no_token(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.configure(run_s=30)
    port = free_port()
    configured = configured_for(settings, emulator, public_url=f"http://127.0.0.1:{port}")
    with captured_logs(secrets=configured.secret_values()) as logs:
        async with serve(configured, port=port) as server:
            task_id = await submit(server)
            await server.wait_for(task_id, lambda t: t["status"] == "processing")
            token = (await server.services.store.get(task_id)).callback_token
            hook = f"{server.url}/webhooks/runninghub/{task_id}/{token}"
            deep = "[" * 100_000 + "]" * 100_000
            async with server.http.post(hook, data=deep) as response:
                assert response.status == 422, await response.text()
                assert "not a RunningHub webhook" in (await response.json())["detail"][0]["msg"]
            async with server.http.post(f"{server.url}/tasks/{task_id}/cancel") as response:
                assert response.status == 200
    assert token not in logs.getvalue()


@pytest.mark.slow  # waits out RunningHub's polls
async def test_a_result_is_collected_through_faults_after_the_webhook(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    """Result URLs are signed until the job's end plus a TTL (here 15 s). The webhook comes
    at the end; five failed /outputs calls then cost about 5 s of back-off (31 s before the
    back-off was kept short after a webhook), so the first good answer's URL still works."""
    emulator.configure(file_ttl_s=15, resign_on_query=False)
    port = free_port()
    configured = configured_for(settings, emulator, public_url=f"http://127.0.0.1:{port}")
    async with serve(configured, port=port) as server:
        emulator.inject(InjectedFault.HTTP_502, path="/task/openapi/outputs", times=5)
        task = await server.wait_finished(await submit(server), timeout_s=40)
    assert task["status"] == "completed", task
    assert [a.ok for a in emulator.webhook_attempts] == [True]
    assert emulator.stats.faults_fired["http_502"] == 5


async def test_a_cancel_during_the_upload_creates_no_job_upstream(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    stall = emulator.inject(InjectedFault.STALL, path="/task/openapi/upload")  # until released
    async with serve(configured_for(settings, emulator, runninghub_timeout_s=20)) as server:
        task_id = await submit(server)
        await asyncio.wait_for(stall.stalled.wait(), 20)  # the upload is inside the emulator
        async with server.http.post(f"{server.url}/tasks/{task_id}/cancel") as response:
            assert response.status == 200
        stall.release()  # the upload now succeeds, after the cancel
        await server.wait_for(task_id, lambda _: len(emulator.uploads) >= 1, 20)
        await until(lambda: _workflow_ended(f"task-{task_id}"), 20, "its workflow to end")
        task = await server.get_task(task_id, include_base64="false")
    assert task["status"] == "canceled"
    assert emulator.tasks == {}  # the run call never came


async def _workflow_ended(workflow_id: str) -> bool:
    status = await DBOS.get_workflow_status_async(workflow_id)
    return status is not None and status.status in ("SUCCESS", "ERROR", "CANCELLED")


DEEP = json.loads("[" * 900 + "]" * 900)  # parses, but is past what serializers follow


@pytest.mark.parametrize(
    ("fields", "cost"),
    [
        ({"consumeCoins": "9" * 5_000_000}, {"consumeMoney": None}),  # 5 MB of coins
        ({"consumeMoney": DEEP}, {"consumeCoins": "10"}),
        ({"fileType": "../x/png"}, {"consumeCoins": "10", "consumeMoney": None}),
    ],
    ids=["huge-cost", "deep-cost", "path-file-type"],
)
@pytest.mark.slow  # waits out RunningHub's polls
async def test_a_hostile_cost_or_file_type_is_bounded_and_the_task_completes(
    settings: Settings, emulator: RunningHubEmulator, fields: dict[str, Any], cost: dict[str, Any]
) -> None:
    """RunningHub made the result: the task completes whatever the fields beside it hold.
    A cost value that is not a short plain value is dropped; a file type that is not a
    plain extension makes no folder and escapes nothing."""
    emulator.configure(output_fields=json.dumps(fields), run_s=0.1, queue_s=0.1)
    async with serve(configured_for(settings, emulator)) as server:
        task = await server.wait_finished(await submit(server), timeout_s=30)
        async with server.http.get(f"{server.url}/tasks/{task['task_id']}") as response:
            answer = await response.read()
    assert task["status"] == "completed", task
    assert task["cost"]["provider"].items() >= cost.items(), task["cost"]["provider"]
    assert not set(fields) & set(task["cost"]["provider"])  # the hostile field is dropped, not cut
    assert all(not isinstance(v, dict | list) for v in task["cost"]["provider"].values())
    assert len(answer) < 100_000
    stored = [p.relative_to(settings.data_dir) for p in settings.data_dir.rglob("*") if p.is_file()]
    results = [p for p in stored if p.parts[:2] == ("blobs", "results")]
    suffix = ".bin" if "fileType" in fields else ".png"  # a type we cannot tell is octet-stream
    assert results == [Path("blobs", "results", str(task["task_id"]), f"0{suffix}")], stored
    assert not any("x" in p.parts for p in stored), stored
