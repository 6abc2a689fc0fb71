"""Seeds and re-runs over real HTTP, on SQLite and PostgreSQL: every task records its seed
(the one given, or the server's pick), the local engine renders a seed the same way twice,
and a re-run makes a new task from the stored inputs of one of the caller's own."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from rendergate.config.settings import Settings
from support.images import make_reference, make_scene
from support.pg import DATABASES, on_database
from support.server import RunningServer

SCENE = make_scene(96, 72)
B64 = base64.b64encode(SCENE).decode()
REFERENCE = base64.b64encode(make_reference()).decode()


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def post(
    server: RunningServer, path: str, headers: dict[str, str] | None = None, **options: Any
) -> tuple[int, Any]:
    async with server.http.post(f"{server.url}{path}", headers=headers, **options) as response:
        return response.status, await response.json()


async def created(server: RunningServer, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = await post(server, "/tasks", json=body)
    assert status == 201, answer
    return answer["data"]  # type: ignore[no-any-return]


async def result(server: RunningServer, task_id: int) -> bytes:
    task = await server.wait_finished(task_id, timeout_s=60)
    assert task["status"] == "completed", task
    async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
        assert response.status == 200
        return await response.read()


async def test_a_task_keeps_the_seed_it_was_given_or_the_one_the_server_picked(
    server: RunningServer,
) -> None:
    given = await created(server, {"type": "fake", "image_base64": B64, "seed": 2**53 - 1})
    assert given["seed"] == 2**53 - 1 and given["rerun_of"] is None
    form = aiohttp.FormData()
    form.add_field("image", SCENE, filename="shot.png", content_type="image/png")
    form.add_field("type", "fake")
    form.add_field("seed", "0")
    status, by_form = await post(server, "/tasks", data=form)
    assert status == 201 and by_form["data"]["seed"] == 0, by_form
    picked = [await created(server, {"type": "fake", "image_base64": B64}) for _ in range(3)]
    seeds = [task["seed"] for task in picked]
    assert all(isinstance(seed, int) and 0 <= seed < 2**32 for seed in seeds), seeds
    assert len(set(seeds)) == 3  # drawn at random, not a constant
    for task in (given, by_form["data"], *picked):
        assert (await server.get_task(task["task_id"]))["seed"] == task["seed"]


async def test_the_local_engine_renders_a_seed_the_same_way_and_another_seed_otherwise(
    server: RunningServer,
) -> None:
    body = {"type": "preview", "image_base64": B64, "reference_base64": REFERENCE}
    tasks = [await created(server, {**body, "seed": seed}) for seed in (11, 11, 12)]
    first, again, other = [await result(server, task["task_id"]) for task in tasks]
    assert first == again
    assert other != first
