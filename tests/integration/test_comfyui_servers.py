"""Several real ComfyUI servers: a dead one is skipped, the least loaded one is chosen, and
the tasks of a server that dies mid-job are submitted again to another."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rendergate.config import Settings
from support.comfyui import ComfyServer, blur_graph, comfy_server, comfy_settings, submit
from support.process import free_port
from support.server import serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    with comfy_server(tmp_path_factory.mktemp("comfyui-a")) as server:
        yield server


@pytest.fixture
def second(tmp_path: Path) -> Iterator[ComfyServer]:
    with comfy_server(tmp_path / "comfyui-b") as server:
        yield server


async def job_server(server: object, task_id: int) -> str:
    task = await server.services.store.get(task_id)  # type: ignore[attr-defined]
    assert task.provider_job is not None
    return str(task.provider_job["data"]["server"])


async def test_a_server_that_does_not_answer_is_skipped(
    settings: Settings, first: ComfyServer
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with serve(comfy_settings(settings, dead, first.url)) as server:
        for _ in range(2):
            task_id = await submit(server, "comfy_demo", width=16, height=16)
            task = await server.wait_finished(task_id, timeout_s=60)
            assert task["status"] == "completed", task
            assert await job_server(server, task_id) == first.url


async def test_each_task_goes_to_the_least_loaded_server_and_survives_its_death(
    settings: Settings, first: ComfyServer, second: ComfyServer
) -> None:
    first.wait_idle()
    blocker = str(uuid.uuid4())
    first.prompt(blur_graph(1024, "blocker"), blocker)  # the first server is busy for a while
    configured = comfy_settings(settings, first.url, second.url, comfyui_dead_after_s=2.0)
    async with serve(configured) as server:
        task_id = await submit(server, "comfy_slow", '{"size": 1024}')
        task = await server.wait_for(task_id, lambda t: t["status"] == "processing", 60)
        assert await job_server(server, task_id) == second.url
        lost = (await server.services.store.get(task_id)).provider_job["job_id"]  # type: ignore[index]
        second.kill()  # mid-job, as when its machine dies

        task = await server.wait_finished(task_id, timeout_s=120)
        assert task["status"] == "completed", task
        assert task["attempts"] == 2
        assert await job_server(server, task_id) == first.url
        assert first.history(blocker)["status"]["status_str"] == "success"
        new = (await server.services.store.get(task_id)).provider_job["job_id"]  # type: ignore[index]
        assert new != lost and first.history(new)["status"]["status_str"] == "success"


async def test_with_no_server_answering_the_task_falls_back_to_the_next_route(
    settings: Settings,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with serve(comfy_settings(settings, dead)) as server:
        task_id = await submit(server, "comfy_or_local", width=16, height=16)
        task = await server.wait_finished(task_id, timeout_s=60)
        assert task["status"] == "completed", task
        assert task["provider"] == "local"
        [skip] = task["skipped_providers"]
        assert skip == {
            "provider": "comfyui",
            "reason": "comfyui did not answer after 3 attempts: none of the 1 ComfyUI servers "
            "answered",
        }
