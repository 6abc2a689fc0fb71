"""A batch's waiting members say where they wait, over real HTTP on SQLite and PostgreSQL:
with a worker running one fake task at a time, GET /batches/{id} places each waiting member
in our queue in the order it was queued (by view), behind a task made before the batch, as
GET /tasks/{id} does; when that task is cancelled the batch's event stream says each moved
up (task.queue), as the grid shows it, and the one placed next starts next."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
import pytest
from test_batches import read_frames

from rendergate.config.settings import Settings
from support.images import make_scene
from support.pg import DATABASES, on_database
from support.server import RunningServer, serve
from support.waiting import until

IMAGE = base64.b64encode(make_scene(32, 24)).decode()
HANG = {"fake": {"outcome": "hang"}}


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    one_at_a_time = settings.model_copy(update={"worker_concurrency": 1})
    return on_database(one_at_a_time, request)


async def post(server: RunningServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with server.http.post(f"{server.url}{path}", json=body) as answer:
        made = await answer.json()
        assert answer.status in (200, 201), made
        return made["data"]  # type: ignore[no-any-return]


async def places(server: RunningServer, batch_id: int) -> list[int | None]:
    async with server.http.get(f"{server.url}/batches/{batch_id}") as answer:
        assert answer.status == 200, await answer.text()
        tasks = (await answer.json())["data"]["tasks"]
    in_views = sorted(tasks, key=lambda t: (t["view"], t["variation"]))
    return [t["queue_position"] for t in in_views]  # queued in view order, placed so


async def told(seen: list[tuple[str, Any]], event: str, count: int) -> list[int | None]:
    """The queue positions of the first `count` frames of `event`, once they have come."""

    def positions() -> list[int | None] | None:
        found = [data["queue_position"] for name, data in seen if name == event]
        return found[:count] if len(found) >= count else None

    return await until(positions, 20, lambda: f"{count} {event} frames in {seen}")


async def test_waiting_members_are_placed_and_told_when_they_move_up(settings: Settings) -> None:
    async with serve(settings) as server:
        running = await post(
            server, "/tasks", {"type": "fake", "image_base64": IMAGE, "params": HANG}
        )
        await server.wait_for(running["task_id"], lambda t: t["status"] == "processing")
        ahead = await post(
            server, "/tasks", {"type": "fake", "image_base64": IMAGE, "params": HANG}
        )
        views = [{"image_base64": IMAGE}] * 3
        batch = await post(server, "/batches", {"type": "fake", "params": HANG, "views": views})
        assert await places(server, batch["batch_id"]) == [1, 2, 3]  # behind `ahead`
        in_views = sorted(batch["tasks"], key=lambda t: (t["view"], t["variation"]))
        alone = [(await server.get_task(t["task_id"]))["queue_position"] for t in in_views]
        assert alone == [1, 2, 3]  # GET /tasks/{id} places each as the batch does
        url = f"{server.url}/batches/{batch['batch_id']}/events"
        seen: list[tuple[str, Any]] = []
        async with server.http.get(url, timeout=aiohttp.ClientTimeout(60)) as response:
            reading = asyncio.create_task(read_frames(response, seen))
            try:
                firsts = await told(seen, "task.submitted", 3)
                assert sorted(firsts) == [1, 2, 3]
                await post(server, f"/tasks/{ahead['task_id']}/cancel", {})
                assert sorted(await told(seen, "task.queue", 3)) == [0, 1, 2]
            finally:
                reading.cancel()
        assert await places(server, batch["batch_id"]) == [0, 1, 2]
        await post(server, f"/tasks/{running['task_id']}/cancel", {})  # its room is free
        first = min(batch["tasks"], key=lambda t: (t["view"], t["variation"]))
        await server.wait_for(first["task_id"], lambda t: t["status"] == "processing")
        assert await places(server, batch["batch_id"]) == [None, 0, 1]  # next in line went next
        await post(server, f"/batches/{batch['batch_id']}/cancel", {})
