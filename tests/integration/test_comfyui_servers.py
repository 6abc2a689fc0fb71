"""Several real ComfyUI servers: a dead one is skipped, the least loaded one is chosen, and
the tasks of a server that dies mid-job are submitted again to another."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rendergate.config.settings import Settings
from support.comfyui import (
    ComfyServer,
    comfy_server,
    comfy_settings,
    gate,
    gated_graph,
    provider_job,
    submit,
)
from support.process import free_port
from support.server import RunningServer, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    with comfy_server(tmp_path_factory.mktemp("comfyui-a")) as server:
        yield server


@pytest.fixture
def second(tmp_path: Path) -> Iterator[ComfyServer]:
    with comfy_server(tmp_path / "comfyui-b") as server:
        yield server


async def job_server(server: RunningServer, task_id: int) -> str:
    _, data = await provider_job(server, task_id)
    return str(data["server"])


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
    settings: Settings, first: ComfyServer, second: ComfyServer, tmp_path: Path
) -> None:
    first.wait_idle()
    blocker = str(uuid.uuid4())
    # Gates, not durations: the blocker keeps the first server busy, and the task keeps
    # running on the second, until the test releases them (released on the way out anyway).
    with gate(tmp_path / "blocker.open") as held, gate(tmp_path / "task.open") as task_gate:
        first.prompt(gated_graph(held, "blocker"), blocker)
        first.wait_running(blocker)  # queue_remaining 1 from now until `held` is released
        configured = comfy_settings(settings, first.url, second.url, comfyui_dead_after_s=2.0)
        async with serve(configured) as server:
            params = json.dumps({"gate": str(task_gate.path)})
            task_id = await submit(server, "comfy_gated", params)
            task = await server.wait_for(task_id, lambda t: t["status"] == "processing", 60)
            assert await job_server(server, task_id) == second.url
            lost, _ = await provider_job(server, task_id)
            second.wait_running(lost)
            second.kill()  # mid-job (it cannot finish before its gate opens), as when it dies
            held.release()
            task_gate.release()

            task = await server.wait_finished(task_id, timeout_s=120)
            assert task["status"] == "completed", task
            assert task["attempts"] == 2
            assert await job_server(server, task_id) == first.url
            assert first.history(blocker)["status"]["status_str"] == "success"
            new, _ = await provider_job(server, task_id)
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
