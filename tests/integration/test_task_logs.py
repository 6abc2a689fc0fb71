"""Log lines over a real RunningHub task (the emulator): each line about the task names it,
its provider and, once submitted, RunningHub's own job id; the request's lines carry the
request id the response returns; no provider key or API key appears anywhere."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rendergate.config.settings import Settings
from rendergate_emulators.runninghub import RunningHubEmulator
from support.hub import KEY, hub_settings, su_form
from support.logs import captured_logs
from support.server import serve

pytestmark = pytest.mark.slow  # waits out RunningHub's polls


async def test_task_lines_name_the_task_its_provider_and_job(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    with captured_logs(json_lines=True, level="debug") as logs:
        async with serve(hub_settings(settings, emulator)) as server:
            async with server.http.post(
                f"{server.url}/tasks", data=su_form(), headers={"X-Request-ID": "req-42"}
            ) as response:
                body = await response.json()
                assert response.status == 201, body
                assert response.headers["X-Request-ID"] == "req-42"
            task_id = body["data"]["task_id"]
            assert (await server.wait_finished(task_id))["status"] == "completed"
            [upstream] = emulator.tasks.values()
            async with server.http.get(f"{server.url}/tasks/1") as response:
                generated = response.headers["X-Request-ID"]  # none sent: one made up
                assert response.status == 404 and len(generated) == 32
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    ours: list[dict[str, Any]] = [line for line in lines if line.get("task_id") == task_id]
    created = next(line for line in ours if line["event"] == "task created")
    assert created["request_id"] == "req-42"
    after_submit = ours[[line["event"] for line in ours].index("task submitted") + 1 :]
    assert after_submit, ours
    for line in after_submit:
        assert line["provider"] == "runninghub", line
        assert line["provider_job_id"] == upstream.task_id, line
    assert KEY not in logs.getvalue()
