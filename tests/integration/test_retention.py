"""Retention over the real command and server: `rendergate prune --dry-run` lists a
finished task past its retention, `prune` removes its files, and the restarted server says
so: no image in GET, and 410 from the image route."""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path

from rendergate.config import Settings, load_settings
from support.images import make_scene
from support.process import RENDERGATE, child_env
from support.server import serve

DAYS = 0.00002  # 1.7 s: a task finished this long ago is due


def prune(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = child_env(data_dir, RENDERGATE_RETENTION_DAYS=str(DAYS))
    command = [str(RENDERGATE), "prune", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


async def test_prune_removes_the_files_and_get_says_so(settings: Settings) -> None:
    live = load_settings(data_dir=settings.data_dir, apps_file=settings.apps_file)
    image = base64.b64encode(make_scene(32, 24)).decode()
    async with serve(live) as server:
        async with server.http.post(
            f"{server.url}/tasks", json={"type": "fake", "image_base64": image}
        ) as response:
            task_id = (await response.json())["data"]["task_id"]
        assert (await server.wait_finished(task_id))["status"] == "completed"
    blobs = sorted(p.name for p in (settings.data_dir / "blobs").rglob("*") if p.is_file())
    assert blobs, "the task's files should be stored"
    deadline = time.monotonic() + 30
    while True:  # until the task is older than its retention
        listed = prune(settings.data_dir, "--dry-run")
        assert listed.returncode == 0, listed.stderr
        if str(task_id) in listed.stdout:
            break
        assert time.monotonic() < deadline, listed.stderr
        time.sleep(0.2)
    assert "would remove the files of 1 tasks" in listed.stderr
    assert sorted(p.name for p in (settings.data_dir / "blobs").rglob("*") if p.is_file()) == blobs
    done = prune(settings.data_dir)
    assert done.returncode == 0 and "removed the files of 1 tasks" in done.stderr, done.stderr
    assert not [p for p in (settings.data_dir / "blobs").rglob("*") if p.is_file()]
    async with serve(live) as server:
        task = await server.get_task(task_id)
        assert task["status"] == "completed" and task["files_expired_at"]
        assert task["image"] == {"image_base64": "", "image_url": ""}
        assert [output["url"] for output in task["outputs"]] == [""]  # no link to a 410
        async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
            body = await response.json()
            assert response.status == 410
            assert f"the inputs and results of task {task_id} were removed on" in body["msg"]
