"""A chain cut short by a crash: the process is SIGKILLed after a task completed and before
its `then` step's task was written, then started again. The step is neither lost nor made
twice: one child, completed.

The kill comes where the step's task stores its image (an S3 stand-in holds that PUT
unanswered, and the test acts when it arrives); nothing here waits a guessed duration."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rendergate.domain.chains import next_step_id
from support.images import make_scene
from support.process import ServeProcess, free_port, http_json, wait_task
from support.s3 import HangingS3, hanging_s3
from support.waiting import until_sync

pytestmark = pytest.mark.slow
NOTHING = "renders/none-yet/"  # held until the parent's own image is stored
HELD_FOR_S = 60.0


@pytest.fixture
async def storage() -> AsyncIterator[HangingS3]:
    async with hanging_s3(hold=NOTHING) as s3:
        yield s3


async def start_serving(data_dir: Path, log: Path, storage: HangingS3) -> ServeProcess:
    """`rendergate serve` as a child process (started in a thread: the stand-in answers
    its storage probe on this loop)."""
    return await asyncio.to_thread(ServeProcess, data_dir, free_port(), log, **storage.env)


async def create_and_kill_before_its_step(storage: HangingS3, data: Path) -> int:
    """A task with one step, created on a process killed as that step's task stores its
    image, after the task completed; its id."""
    first = await start_serving(data, data.with_name("first.log"), storage)
    try:
        image = base64.b64encode(make_scene(40, 30)).decode()
        body: dict[str, Any] = {
            "type": "fake",
            "image_base64": image,
            "params": {"fake": {"polls": 20}},  # its image stored before it can complete
            "then": [{"type": "upscale", "params": {"scale": 2}}],
        }
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{first.url}/tasks", json=body) as response,
        ):
            assert response.status == 201, await response.text()
            parent = (await response.json())["data"]["task_id"]
        storage.hold = "renders/inputs/"  # from here, only the step's task stores an input
        await asyncio.wait_for(storage.held.wait(), HELD_FOR_S)
        status, shown = await asyncio.to_thread(http_json, "GET", f"{first.url}/tasks/{parent}")
        assert (status, shown["data"]["status"]) == (200, "completed"), shown
        await asyncio.to_thread(first.kill)
    finally:
        await asyncio.to_thread(first.stop)
    return int(parent)


def children_of(url: str, task_id: int) -> list[int]:
    """The task's children, once it has any (the restarted process makes its step)."""

    def made() -> list[int]:
        status, body = http_json("GET", f"{url}/tasks/{task_id}?include_base64=false")
        assert status == 200, body
        return list(body["data"]["children"])

    return until_sync(made, 60, f"task {task_id}'s step to be made")


async def test_a_step_cut_short_by_a_crash_is_made_once_after_the_restart(
    storage: HangingS3, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    parent = await create_and_kill_before_its_step(storage, data)
    child = next_step_id(parent)
    storage.release.set()
    second = await start_serving(data, tmp_path / "second.log", storage)
    try:
        made = await asyncio.to_thread(children_of, second.url, parent)
        assert made == [child]
        done = await asyncio.to_thread(wait_task, second.url, child, {"completed"}, 60.0)
        assert (done["parent_task_id"], done["type"], done["params"]) == (
            parent,
            "upscale",
            {"scale": 2},
        )

        def listed() -> list[Any]:
            status, body = http_json("GET", f"{second.url}/tasks")
            assert status == 200, body
            return list(body["data"]["tasks"])

        tasks = await asyncio.to_thread(listed)
        assert sorted(t["task_id"] for t in tasks) == sorted([parent, child])
        shown = {t["task_id"]: t["children"] for t in tasks}
        assert shown == {parent: [child], child: []}
    finally:
        await asyncio.to_thread(second.stop)
