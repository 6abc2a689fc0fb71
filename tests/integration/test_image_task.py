"""A create that takes a finished task's result as its image (`image_task_id`, with
`image_task_index`), over real HTTP on SQLite and PostgreSQL: nothing uploaded, the new task
names its parent, and every way the result cannot be had is a 422 that says which, storing
nothing."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

from rendergate.config.settings import Settings
from rendergate.services import retention
from support.images import make_scene
from support.pg import DATABASES, on_database
from support.server import RunningServer
from support.waiting import until

B64 = base64.b64encode(make_scene(96, 72)).decode()
HANG = {"fake": {"outcome": "hang"}}


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def post(server: RunningServer, **options: Any) -> tuple[int, Any]:
    async with server.http.post(f"{server.url}/tasks", **options) as response:
        return response.status, await response.json()


async def completed(server: RunningServer, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = await post(server, json=body)
    assert status == 201, answer
    task = await server.wait_finished(answer["data"]["task_id"], timeout_s=60)
    assert task["status"] == "completed", task
    return task


async def task_ids(server: RunningServer) -> list[int]:
    async with server.http.get(f"{server.url}/tasks") as response:
        return [task["task_id"] for task in (await response.json())["data"]["tasks"]]


async def test_a_finished_tasks_result_is_the_next_tasks_image(server: RunningServer) -> None:
    parent = await completed(server, {"type": "preview", "image_base64": B64})
    async with server.http.get(f"{server.url}/tasks/{parent['task_id']}/image") as response:
        result = await response.read()
    child = await completed(server, {"type": "fake", "image_task_id": parent["task_id"]})
    assert (child["parent_task_id"], child["parent_task_index"]) == (parent["task_id"], 0)
    assert parent["parent_task_id"] is None
    stored = await server.services.blobs.get(f"inputs/{child['task_id']}/image.png")
    assert stored == result  # its own copy: the parent's retention cannot take it away
    form = aiohttp.FormData(default_to_multipart=True)  # no file part: it would be urlencoded
    form.add_field("type", "preview")
    form.add_field("image_task_id", str(child["task_id"]))
    form.add_field("image_task_index", "0")
    status, answer = await post(server, data=form)
    assert status == 201, answer
    assert answer["data"]["parent_task_id"] == child["task_id"]
    grandchild = await server.wait_finished(answer["data"]["task_id"], timeout_s=60)
    assert grandchild["status"] == "completed", grandchild


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"image_task_id": 12345}, "image_task_id", "image_task_id: task 12345 not found"),
        ({"image_task_id": -1}, "image_task_id", "image_task_id must be an integer from 0 to"),
        ({"image_task_id": "7"}, "image_task_id", "from 0 to 9007199254740991, not '7'"),
        ({"image_task_id": True}, "image_task_id", "from 0 to 9007199254740991, not True"),
        ({"image_task_index": 0, "image_base64": B64}, "image_task_index", "needs image_task_id"),
        ({"image_task_id": 1, "image_task_index": 64}, "image_task_index", "from 0 to 63"),
    ],
)
async def test_a_bad_image_task_is_refused_naming_it(
    server: RunningServer, body: dict[str, Any], field: str, says: str
) -> None:
    status, answer = await post(server, json={"type": "fake", **body})
    assert status == 422, answer
    assert answer["detail"][0]["loc"] == ["body", field] and says in answer["detail"][0]["msg"]
    assert await task_ids(server) == []


async def test_a_result_that_cannot_be_had_is_refused_saying_why(server: RunningServer) -> None:
    done = await completed(server, {"type": "fake", "image_base64": B64})
    status, answer = await post(server, json={"type": "fake", "image_base64": B64, "params": HANG})
    assert status == 201, answer
    running = answer["data"]["task_id"]
    refusals = [
        ({"image_task_id": running}, "image_task_id", f"task {running} has no result (it is"),
        (
            {"image_task_id": done["task_id"], "image_task_index": 1},
            "image_task_index",
            f"task {done['task_id']} has 1 result (index 0), none at index 1",
        ),
        (
            {"image_task_id": done["task_id"], "image_base64": B64},
            "image_task_id",
            "give an image or image_task_id, not both",
        ),
    ]
    for body, field, says in refusals:
        status, answer = await post(server, json={"type": "fake", **body})
        assert status == 422 and answer["detail"][0]["loc"] == ["body", field], answer
        assert says in answer["detail"][0]["msg"], answer
    pruning = server.services.unpack(retention.Pruning, retention_days=1e-9)
    await until(lambda: retention.prune(pruning), 10, "the task's files to expire", every_s=0.01)
    status, answer = await post(server, json={"type": "fake", "image_task_id": done["task_id"]})
    assert status == 422 and answer["detail"][0]["loc"] == ["body", "image_task_id"], answer
    expired = f"the inputs and results of task {done['task_id']} were removed on"
    assert expired in answer["detail"][0]["msg"]
    assert sorted(await task_ids(server)) == sorted([done["task_id"], running])
