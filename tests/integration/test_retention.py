"""Retention over the real command and server: `rendergate prune --dry-run` lists a
finished task past its retention, `prune` removes its files, and the restarted server says
so: no image in GET, and 410 from the image route. A running server says so at once, its
caches warm: after the worker's round in its own process, and after `prune` beside it on
PostgreSQL; on SQLite a prune beside a server is refused."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rendergate.config.settings import Settings, load_settings
from rendergate.services import retention
from support.images import make_scene
from support.process import RENDERGATE, child_env, http_json, serving, wait_task
from support.server import RunningServer, serve
from support.waiting import until, until_sync

DAYS = 0.00002  # 1.7 s: a task finished this long ago is due
DUE_AT_ONCE = 1e-9  # 86 µs: every finished task is due


def prune(
    data_dir: Path, *args: str, days: float = DAYS, **env: str
) -> subprocess.CompletedProcess[str]:
    env = child_env(data_dir, RENDERGATE_RETENTION_DAYS=str(days), **env)
    command = [str(RENDERGATE), "prune", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.slow  # runs `rendergate prune`
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

    def past_retention() -> subprocess.CompletedProcess[str] | None:
        listed = prune(settings.data_dir, "--dry-run")
        assert listed.returncode == 0, listed.stderr
        return listed if str(task_id) in listed.stdout else None

    listed = until_sync(past_retention, 30, "the task to be older than its retention", every_s=0.2)
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


def stored_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "blobs").rglob("*") if p.is_file())


@pytest.mark.slow  # runs `rendergate prune`
def test_prune_beside_a_running_serve_on_sqlite_is_refused_in_one_line(
    settings: Settings, tmp_path: Path
) -> None:
    """SQLite allows one rendergate process: a prune beside `serve` would change rows behind
    the server's caches, so it is refused as a second `serve` is, and removes nothing."""
    image = base64.b64encode(make_scene(32, 24)).decode()
    with serving(settings.data_dir, tmp_path / "serve.log") as server:
        status, created = http_json(
            "POST", f"{server.url}/tasks", {"type": "fake", "image_base64": image}
        )
        assert status == 201, created
        task_id = created["data"]["task_id"]
        wait_task(server.url, task_id, {"completed"})
        kept = stored_files(settings.data_dir)
        for args in ((), ("--dry-run",)):
            refused = prune(settings.data_dir, *args, days=DUE_AT_ONCE)
            assert refused.returncode == 2, refused.stderr
            said, line = refused.stderr.strip().splitlines()  # which database; the refusal
            assert said.startswith("database "), said
            assert line.startswith("refused: another rendergate process") and (
                f"(pid {server.process.pid})" in line and "stop it" in line
            ), line
        assert stored_files(settings.data_dir) == kept
        status, body = http_json("GET", f"{server.url}/tasks/{task_id}")
        assert status == 200 and body["data"]["image"]["image_base64"], body
    done = prune(settings.data_dir, days=DUE_AT_ONCE)  # with the server gone, it may
    assert done.returncode == 0 and "removed the files of 1 tasks" in done.stderr, done.stderr


async def completed_task(server: RunningServer) -> int:
    image = base64.b64encode(make_scene(32, 24)).decode()
    body = {"type": "fake", "image_base64": image}
    async with server.http.post(f"{server.url}/tasks", json=body) as response:
        assert response.status == 201, await response.text()
        task_id: int = (await response.json())["data"]["task_id"]
    assert (await server.wait_finished(task_id))["status"] == "completed"
    return task_id


async def warm_caches(server: RunningServer, task_id: int) -> None:
    """Reads the task every way a client does, so every cache of this process holds it."""
    assert (await server.get_task(task_id))["image"]["image_base64"]
    for _ in range(2):  # the second light poll is answered from the rendered body
        assert (await server.get_task(task_id, include_base64="false"))["image"]["image_url"]
    async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
        assert response.status == 200


async def answers(server: RunningServer, url: str, **query: str) -> tuple[int, Any]:
    async with server.http.get(url, params=query) as response:
        return response.status, await response.json()


async def assert_expired_everywhere(server: RunningServer, task_id: int) -> None:
    """Every way of reading the task says its files expired (polled: a change made by
    another process arrives a moment after it commits); none answers a 500."""
    url, seen = f"{server.url}/tasks/{task_id}", []

    async def expired() -> list[Any] | None:
        views = [await answers(server, url), await answers(server, url, include_base64="false")]
        assert [status for status, _ in views] == [200, 200], views
        seen[:] = [body["data"] for _, body in views]
        return seen if all(task["files_expired_at"] for task in seen) else None

    tasks = await until(expired, 10, lambda: f"the prune to be served: {seen}")
    for task in tasks:
        assert task["image"] == {"image_base64": "", "image_url": ""}
        assert [output["url"] for output in task["outputs"]] == [""]
    status, body = await answers(server, f"{url}/image")
    assert status == 410 and "were removed on" in body["msg"], body


async def test_a_workers_round_reaches_its_own_processes_caches(settings: Settings) -> None:
    """The hourly round runs in the serving process on SQLite: what it expires is answered
    as expired at once, not from the copies kept before it."""
    live = load_settings(
        data_dir=settings.data_dir, apps_file=settings.apps_file, retention_days=DUE_AT_ONCE
    )
    async with serve(live) as server:
        task_id = await completed_task(server)
        await warm_caches(server, task_id)
        days = server.services.settings.retention_days
        pruning = server.services.unpack(retention.Pruning, retention_days=days)
        pruned = await retention.prune(pruning)  # what the hourly loop calls
        assert [task.task_id for task in pruned.tasks] == [task_id]
        await assert_expired_everywhere(server, task_id)


@pytest.mark.pg
async def test_prune_on_postgres_reaches_a_running_servers_caches(
    settings: Settings, pg_database: str
) -> None:
    """On PostgreSQL prune may run beside servers: they hear of each task it expires."""
    live = load_settings(
        data_dir=settings.data_dir, apps_file=settings.apps_file, database_url=pg_database
    )
    async with serve(live) as server:
        task_id = await completed_task(server)
        await warm_caches(server, task_id)
        done = await asyncio.to_thread(
            prune, settings.data_dir, days=DUE_AT_ONCE, RENDERGATE_DATABASE_URL=pg_database
        )
        assert done.returncode == 0 and "removed the files of 1 tasks" in done.stderr, done.stderr
        await assert_expired_everywhere(server, task_id)
