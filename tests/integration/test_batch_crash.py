"""Kill the server mid-batch, start it again: every member completes, each submitted to the
paid provider (the RunningHub emulator, a process of its own) exactly once, one at a time on
a key capped at one, and the batch's end is recorded."""

from __future__ import annotations

import base64
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from support.hub import KEY, emulator_process
from support.images import make_reference, make_scene
from support.process import ServeProcess, free_port, http_json, wait_task
from support.waiting import until_sync

pytestmark = pytest.mark.slow


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def stats(hub: str) -> Any:
    with urllib.request.urlopen(f"{hub}/_emulator/stats", timeout=10) as response:
        return json.loads(response.read())


def test_a_batch_survives_a_crash_with_each_member_submitted_once(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    options = ("--concurrency", "1", "--queue-s", "0.1", "--run-s", "1.5")
    with emulator_process(tmp_path / "emulator.log", *options) as hub:
        port = free_port()
        env = {
            "RENDERGATE_RUNNINGHUB_API_KEY": KEY,
            "RENDERGATE_RUNNINGHUB_BASE_URL": hub,
            "RENDERGATE_RUNNINGHUB_HOST": "www.runninghub.cn",
            "RENDERGATE_RUNNINGHUB_CONCURRENCY": "1",
        }
        body = {
            "type": "su_render",
            "views": [{"image_base64": b64(make_scene(96, 64, seed=i))} for i in range(3)],
            "reference_base64": b64(make_reference()),
        }
        first = ServeProcess(data, port, log, **env)
        try:
            status, answer = http_json("POST", f"{first.url}/batches", body)
            assert status == 201, answer
            batch_id = answer["data"]["batch_id"]
            members = [t["task_id"] for t in answer["data"]["tasks"]]
            wait_task(first.url, members[0], {"processing"})  # at RunningHub, the rest queued
        finally:
            first.kill()

        second = ServeProcess(data, port, log, **env)
        try:
            seen: list[Any] = []

            def ended() -> Any:
                status, answer = http_json("GET", f"{second.url}/batches/{batch_id}")
                assert status == 200, answer
                seen[:] = [answer["data"]]
                return answer["data"] if answer["data"]["finished_at"] else None

            batch = until_sync(ended, 90, lambda: f"batch {batch_id} to end: {seen}")
        finally:
            second.stop()
        upstream = stats(hub)
    assert batch["status"] == "completed" and batch["counts"]["completed"] == 3, batch
    assert [t["task_id"] for t in batch["tasks"]] == members  # none lost, none added
    assert all(t["attempts"] == 1 for t in batch["tasks"]), batch["tasks"]
    assert upstream["tasks_by_status"] == {"SUCCESS": 3}, upstream["tasks_by_status"]
    assert upstream["peak_active"] == 1
    assert "Traceback" not in log.read_text()
