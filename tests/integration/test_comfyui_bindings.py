"""What a task's own values become on a real ComfyUI on the CPU: the built-in upscale_comfyui
app enlarges a finished preview taken by image_task_id by its `scale`, and a task's seed is
the seed input of the node its app binds (ImageAddNoise, a core node that needs no model
and takes a seed), so one seed gives the same image and another a different one."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest
from PIL import Image

from rendergate.config.settings import Settings
from support.comfyui import ComfyServer, comfy_server, comfy_settings, provider_job
from support.images import make_scene
from support.server import RunningServer, serve

pytestmark = pytest.mark.slow

B64 = base64.b64encode(make_scene(96, 72)).decode()


@pytest.fixture(scope="module")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    with comfy_server(tmp_path_factory.mktemp("comfyui")) as server:
        yield server


@pytest.fixture
async def app_server(settings: Settings, comfy: ComfyServer) -> AsyncIterator[RunningServer]:
    async with serve(comfy_settings(settings, comfy.url)) as server:
        yield server


async def sent_graph(server: RunningServer, comfy: ComfyServer, task_id: int) -> Any:
    """The prompt ComfyUI ran for the task, from its /history record."""
    prompt_id, _ = await provider_job(server, task_id)
    return comfy.history(prompt_id)["prompt"][2]


async def test_a_finished_preview_is_upscaled_on_comfyui_by_its_task_id(
    app_server: RunningServer, comfy: ComfyServer
) -> None:
    preview = await app_server.completed({"type": "preview", "image_base64": B64})
    body = {"type": "upscale_comfyui", "image_task_id": preview["task_id"], "params": {"scale": 3}}
    up = await app_server.completed(body, timeout_s=120)
    assert (up["provider"], up["parent_task_id"]) == ("comfyui", preview["task_id"])
    assert Image.open(io.BytesIO(await app_server.result(up["task_id"]))).size == (288, 216)
    graph = await sent_graph(app_server, comfy, up["task_id"])
    assert graph["2"]["inputs"]["scale_by"] == 3 and graph["3"]["class_type"] == "ImageSharpen"


async def test_a_tasks_seed_is_the_seed_input_of_its_bound_node(
    app_server: RunningServer, comfy: ComfyServer
) -> None:
    tasks = [
        await app_server.completed({"type": "comfy_seeded", "image_base64": B64, "seed": seed})
        for seed in (7, 7, 2**53 - 1)
    ]
    for task in tasks:
        graph = await sent_graph(app_server, comfy, task["task_id"])
        assert graph["2"]["inputs"]["seed"] == task["seed"]
    same, again, other = [await app_server.result(task["task_id"]) for task in tasks]
    assert same == again and same != other


async def test_a_batch_runs_on_comfyui_each_variation_with_its_own_seed(
    app_server: RunningServer, comfy: ComfyServer
) -> None:
    """Two views, two variations each, seed 7: variation k runs with seed 7 + k."""
    other = base64.b64encode(make_scene(96, 72, seed=3)).decode()
    body = {
        "type": "comfy_seeded",
        "views": [{"image_base64": B64, "angle": "front"}, {"image_base64": other}],
        "variations": 2,
        "seed": 7,
    }
    async with app_server.http.post(f"{app_server.url}/batches", json=body) as response:
        answer = await response.json()
        assert response.status == 201, answer
    members = answer["data"]["tasks"]
    done = [await app_server.wait_finished(t["task_id"], timeout_s=120) for t in members]
    assert [t["status"] for t in done] == ["completed"] * 4, done
    for task in done:
        graph = await sent_graph(app_server, comfy, task["task_id"])
        assert graph["2"]["inputs"]["seed"] == 7 + task["variation"]
    results = [await app_server.result(t["task_id"]) for t in done]
    assert results[0] != results[1]  # one view, two seeds
    lone = await app_server.completed({"type": "comfy_seeded", "image_base64": B64, "seed": 8})
    assert await app_server.result(lone["task_id"]) == results[1]  # a set is reproducible


async def test_a_task_on_comfyui_costs_its_execution_time_at_the_gpu_hour_price(
    settings: Settings, comfy: ComfyServer
) -> None:
    """The prompt's own start and end in ComfyUI's /history, times RENDERGATE_COMFYUI_
    GPU_HOUR_PRICE: an estimate, in RENDERGATE_CURRENCY."""
    priced = comfy_settings(settings, comfy.url, comfyui_gpu_hour_price="3600", currency="USD")
    async with serve(priced) as server:
        task = await server.completed({"type": "upscale_comfyui", "image_base64": B64})
        prompt_id, _ = await provider_job(server, task["task_id"])
    messages = dict((kind, data) for kind, data in comfy.history(prompt_id)["status"]["messages"])
    ran_ms = messages["execution_success"]["timestamp"] - messages["execution_start"]["timestamp"]
    cost = task["cost"]
    assert cost["provider"] == {"execution_ms": ran_ms}
    assert Decimal(cost["amount"]) == Decimal(ran_ms) / 1000  # 3600 an hour: 1 a second
    assert (cost["currency"], cost["estimated"], cost["billed"]) == ("USD", True, ran_ms > 0)
