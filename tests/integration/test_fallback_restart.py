"""Kill the server after a task fell back but before its new route ran: it still finishes."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import pytest

from support.hub import emulator_process
from support.images import make_scene
from support.process import ServeProcess, free_port, http_json, wait_task

pytestmark = pytest.mark.slow
APPS = Path(__file__).parents[1] / "support" / "fallback_apps.toml"


def _create(url: str, size: tuple[int, int], app: str) -> int:
    image = base64.b64encode(make_scene(*size)).decode()
    status, body = http_json("POST", f"{url}/tasks", {"image_base64": image, "type": app})
    assert status == 201, body
    return int(body["data"]["task_id"])


def test_a_task_queued_on_its_fallback_survives_a_crash(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "serve.log"
    with emulator_process(tmp_path / "emulator.log") as hub:
        port = free_port()  # once the emulator holds its own: two in a row may be the same
        env = {
            "RENDERGATE_APPS_FILE": str(APPS),
            "RENDERGATE_LOCAL_CONCURRENCY": "1",
            "RENDERGATE_RUNNINGHUB_API_KEY": "f" * 32,  # refused: the task falls back at once
            "RENDERGATE_RUNNINGHUB_BASE_URL": hub,
            "RENDERGATE_RUNNINGHUB_HOST": "www.runninghub.cn",
        }
        first = ServeProcess(data, port, log, **env)
        try:
            # A slow local preview holds the local queue's only slot...
            slow = _create(first.url, (3200, 2400), "preview")
            wait_task(first.url, slow, {"processing"})
            # ...so the task that falls back from RunningHub to local waits in that queue.
            moved = _create(first.url, (96, 64), "rh_or_preview")
            deadline = time.monotonic() + 30
            while not (task := wait_task(first.url, moved, {"submitted"}))["skipped_providers"]:
                assert time.monotonic() < deadline, f"task {moved} never fell back: {task}"
                time.sleep(0.05)
            assert task["provider"] == "local" and task["status"] == "submitted"
            assert wait_task(first.url, slow, {"processing"})["status"] == "processing"
        finally:
            first.kill()

        second = ServeProcess(data, port, log, **env)
        try:
            status, _ = http_json("POST", f"{second.url}/tasks/{slow}/cancel")  # free the slot
            assert status == 200
            done = wait_task(second.url, moved, {"completed", "failed", "canceled"}, 60)
            assert (done["status"], done["provider"]) == ("completed", "local")
            assert [s["provider"] for s in done["skipped_providers"]] == ["runninghub"]
            assert "credentials" in done["skipped_providers"][0]["reason"]
            assert done["attempts"] == 1  # the local job, submitted once
        finally:
            second.stop()
    assert "Traceback" not in log.read_text()
