"""Kill the server after a task fell back but before its new route ran: it still finishes.
The local queue's one slot is taken by a job the local engine holds (RENDERGATE_LOCAL_HOLD),
so the fallen-back task waits in that queue however fast the CPU is."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from support.hub import emulator_process
from support.images import make_scene
from support.process import ServeProcess, free_port, http_json, wait_task
from support.waiting import until_sync

pytestmark = pytest.mark.slow
APPS = Path(__file__).parents[1] / "support" / "fallback_apps.toml"


def _create(url: str, app: str) -> int:
    image = base64.b64encode(make_scene(96, 64)).decode()
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
        first = ServeProcess(data, port, log, RENDERGATE_LOCAL_HOLD="true", **env)
        try:
            # A local preview held at 0 % keeps the local queue's only slot...
            held = _create(first.url, "preview")
            wait_task(first.url, held, {"processing"})
            # ...so the task that falls back from RunningHub to local waits in that queue.
            moved = _create(first.url, "rh_or_preview")
            seen: list[Any] = []

            def fell_back() -> Any:
                seen[:] = [wait_task(first.url, moved, {"submitted"})]
                return seen[0] if seen[0]["skipped_providers"] else None

            task = until_sync(fell_back, 30, lambda: f"task {moved} to fall back: {seen}")
            assert task["provider"] == "local" and task["status"] == "submitted"
            assert wait_task(first.url, held, {"processing"})["status"] == "processing"
        finally:
            first.kill()

        second = ServeProcess(data, port, log, **env)
        try:
            status, _ = http_json("POST", f"{second.url}/tasks/{held}/cancel")  # free the slot
            assert status == 200
            done = wait_task(second.url, moved, {"completed", "failed", "canceled"}, 60)
            assert (done["status"], done["provider"]) == ("completed", "local")
            assert [s["provider"] for s in done["skipped_providers"]] == ["runninghub"]
            assert "credentials" in done["skipped_providers"][0]["reason"]
            assert done["attempts"] == 1  # the local job, submitted once
        finally:
            second.stop()
    assert "Traceback" not in log.read_text()
