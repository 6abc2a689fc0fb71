"""Picks over real HTTP, on SQLite and PostgreSQL: a completed task kept (PUT) and no longer
(DELETE) shows so at once on GET, though its answer was cached; a task not completed is a
409 and another key's a 404, neither marked; a batch's zip of its picks holds its kept
members and the steps made from them, nothing else."""

from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

import pytest
from test_presets import add_key

from rendergate.config.settings import Settings
from support.images import make_scene
from support.pg import DATABASES, on_database
from support.server import RunningServer
from support.waiting import until

IMAGE = base64.b64encode(make_scene(32, 24)).decode()
HANG = {"fake": {"outcome": "hang"}}


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def call(
    server: RunningServer, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[int, Any]:
    async with server.http.request(method, f"{server.url}{path}", headers=headers, **kw) as got:
        return got.status, await got.json()


async def polled(server: RunningServer, task_id: int) -> dict[str, Any]:
    """The task as a light poll sees it: the answer the finished-task cache serves."""
    status, body = await call(server, "GET", f"/tasks/{task_id}?include_base64=false")
    assert status == 200, body
    return dict(body["data"])


async def test_a_kept_mark_shows_at_once_though_the_answer_was_cached(
    server: RunningServer,
) -> None:
    task = await server.completed({"type": "fake", "image_base64": IMAGE})
    first = await polled(server, task["task_id"])
    assert (first["kept"], first["kept_at"]) == (False, None)
    assert await polled(server, task["task_id"]) == first
    assert server.services.finished.get(task["task_id"]) is not None  # answered from cache
    assert len(server.app.state.finished_bodies) == 1
    status, kept = await call(server, "PUT", f"/tasks/{task['task_id']}/kept")
    assert status == 200 and kept["data"]["kept"] is True, kept
    seen = await polled(server, task["task_id"])
    assert (seen["kept"], seen["kept_at"]) == (True, kept["data"]["kept_at"])
    again = (await call(server, "PUT", f"/tasks/{task['task_id']}/kept"))[1]["data"]
    assert again["kept_at"] == seen["kept_at"]  # keeping twice: the first mark stands
    status, unkept = await call(server, "DELETE", f"/tasks/{task['task_id']}/kept")
    assert status == 200 and unkept["data"]["kept"] is False, unkept
    assert (await polled(server, task["task_id"]))["kept"] is False


async def test_an_unfinished_task_is_not_kept_and_another_keys_is_not_found(
    settings: Settings, server: RunningServer
) -> None:
    status, made = await call(
        server, "POST", "/tasks", json={"type": "fake", "image_base64": IMAGE, "params": HANG}
    )
    assert status == 201, made
    hanging = made["data"]["task_id"]
    status, refused = await call(server, "PUT", f"/tasks/{hanging}/kept")
    assert status == 409, refused
    assert refused["msg"] == f"task {hanging} is submitted: only a completed task can be kept"
    mine = await add_key(settings, server, "mine")
    other = await add_key(settings, server, "other")
    body = {"type": "fake", "image_base64": IMAGE}
    status, made = await call(server, "POST", "/tasks", headers=mine, json=body)
    assert status == 201, made
    task_id = made["data"]["task_id"]
    await until(lambda: done(server, task_id, mine), 30, f"task {task_id} to complete")
    for method in ("PUT", "DELETE"):
        status, answer = await call(server, method, f"/tasks/{task_id}/kept", headers=other)
        assert status == 404, answer
    status, answer = await call(server, "GET", f"/tasks/{task_id}", headers=mine)
    assert answer["data"]["kept"] is False


async def done(server: RunningServer, task_id: int, headers: dict[str, str]) -> bool:
    status, answer = await call(server, "GET", f"/tasks/{task_id}", headers=headers)
    return status == 200 and answer["data"]["status"] == "completed"


async def test_a_batchs_picks_zip_holds_its_kept_members_and_their_steps(
    server: RunningServer,
) -> None:
    body = {
        "type": "fake",
        "views": [{"image_base64": IMAGE, "angle": "front"}, {"image_base64": IMAGE}],
        "then": [{"type": "fake_upscale"}],
    }
    status, made = await call(server, "POST", "/batches", json=body)
    assert status == 201, made
    batch_id = made["data"]["batch_id"]
    front = next(t["task_id"] for t in made["data"]["tasks"] if t["view"] == 0)

    async def ended() -> dict[str, Any] | None:
        found = (await call(server, "GET", f"/batches/{batch_id}"))[1]["data"]
        return found if found["status"] == "completed" and len(found["tasks"]) == 4 else None

    await until(ended, 60, f"batch {batch_id} and its steps to complete")
    async with server.http.get(f"{server.url}/batches/{batch_id}/archive?kept=true") as got:
        assert got.status == 404 and "has no kept result" in (await got.json())["msg"]
    assert (await call(server, "PUT", f"/tasks/{front}/kept"))[0] == 200
    async with server.http.get(f"{server.url}/batches/{batch_id}/archive?kept=true") as got:
        assert got.status == 200
        names = zipfile.ZipFile(io.BytesIO(await got.read())).namelist()
    assert sorted(names) == ["view01_front_v1.png", "view01_front_v1_fake_upscale.png"]
    async with server.http.get(f"{server.url}/batches/{batch_id}/archive") as got:
        assert len(zipfile.ZipFile(io.BytesIO(await got.read())).namelist()) == 4
    batch = (await call(server, "GET", f"/batches/{batch_id}"))[1]["data"]
    assert [t["task_id"] for t in batch["tasks"] if t["kept"]] == [front]
