"""Kill the serving process mid-task, start it again: every task still completes, once."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from support.images import make_scene
from support.process import ServeProcess, free_port, http_json, wait_task

pytestmark = pytest.mark.slow


def _create(url: str, size: tuple[int, int] = (96, 64), **fields: object) -> int:
    image = base64.b64encode(make_scene(*size)).decode()
    status, body = http_json("POST", f"{url}/tasks", {"image_base64": image, **fields})
    assert status == 201, body
    return int(body["data"]["task_id"])


def test_processing_and_queued_tasks_resume_after_a_crash(tmp_path: Path) -> None:
    data, log, port = tmp_path / "data", tmp_path / "serve.log", free_port()
    first = ServeProcess(data, port, log, RENDERGATE_LOCAL_CONCURRENCY="1")
    try:
        # A job that runs until the process dies (its first attempt never ends); the fake
        # provider forgets it, so the next process must submit it again, and that one ends.
        running = _create(first.url, type="fake", params={"fake": {"hang_attempts": 1}})
        wait_task(first.url, running, {"processing"})
        # Slow local previews, one at a time: the later ones still wait in our queue.
        queued = [_create(first.url, (1600, 1200), type="preview") for _ in range(3)]
        status, body = http_json("GET", f"{first.url}/tasks?status=submitted")
        assert status == 200 and len(body["data"]["tasks"]) >= 1, "nothing left queued to resume"
    finally:
        first.kill()

    second = ServeProcess(data, port, log, RENDERGATE_LOCAL_CONCURRENCY="1")
    try:
        task = wait_task(second.url, running, {"completed", "failed", "canceled"}, 60)
        assert task["status"] == "completed", task
        assert task["attempts"] == 2  # the lost job was submitted again, once
        for task_id in queued:
            done = wait_task(second.url, task_id, {"completed", "failed", "canceled"}, 60)
            assert done["status"] == "completed", done
            assert done["progress"] == 100
        status, body = http_json("GET", f"{second.url}/tasks?limit=100")
        assert status == 200
        assert sorted(t["task_id"] for t in body["data"]["tasks"]) == sorted([running, *queued])
    finally:
        second.stop()
    assert "Traceback" not in log.read_text()
