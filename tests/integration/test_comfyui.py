"""rendergate against a real ComfyUI server running on the CPU: the comfy_demo app end to
end, validation errors, progress from the websocket, cancel of running and pending
prompts, and submit that cannot queue one attempt twice."""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from PIL import Image

from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec, Route
from rendergate.providers.base import InputFile, JobHandle, JobRequest
from rendergate.providers.comfyui import ComfyUI
from support.comfyui import (
    ComfyServer,
    Gate,
    blur_graph,
    comfy_server,
    comfy_settings,
    gate,
    gated_graph,
    provider_job,
    submit,
)
from support.images import make_png
from support.server import RunningServer, serve
from support.waiting import until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def comfy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComfyServer]:
    with comfy_server(tmp_path_factory.mktemp("comfyui")) as server:
        yield server


@pytest.fixture
def idle_comfy(comfy: ComfyServer) -> Iterator[ComfyServer]:
    comfy.wait_idle()
    yield comfy
    comfy.interrupt_all()
    comfy.wait_idle()


@pytest.fixture
def held(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    """A gate the test never opens: prompts behind it run until they are canceled."""
    with gate(tmp_path_factory.mktemp("gate") / "open") as closed:
        yield closed


@pytest.fixture
async def app_server(settings: Settings, idle_comfy: ComfyServer) -> AsyncIterator[RunningServer]:
    async with serve(comfy_settings(settings, idle_comfy.url)) as server:
        yield server


async def result_image(server: RunningServer, task_id: int) -> Image.Image:
    async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
        assert response.status == 200
        return Image.open(io.BytesIO(await response.read()))


async def test_comfy_demo_scales_and_inverts(app_server: RunningServer) -> None:
    task_id = await submit(
        app_server, "comfy_demo", '{"scale": 1.5}', width=40, height=30, color=(200, 10, 60)
    )
    task = await app_server.wait_finished(task_id, timeout_s=60)
    assert task["status"] == "completed", task
    assert task["provider"] == "comfyui" and task["attempts"] == 1
    [output] = task["outputs"]
    assert output["node_id"] == "4" and output["file_type"] == "png"
    image = await result_image(app_server, task_id)
    assert image.size == (60, 45)
    pixel = image.convert("RGB").getpixel((30, 20))
    assert isinstance(pixel, tuple)
    expected = (55, 245, 195)  # 255 - input, give or take ComfyUI's float rounding
    assert all(abs(a - b) <= 1 for a, b in zip(pixel, expected, strict=True)), pixel


async def test_a_task_without_params_runs_with_the_declared_default(
    app_server: RunningServer,
) -> None:
    task_id = await submit(app_server, "comfy_demo", width=20, height=10)
    task = await app_server.wait_finished(task_id, timeout_s=60)
    assert task["status"] == "completed", task
    assert task["params"] == {"scale": 2}  # comfy_demo's form's default, recorded
    assert (await result_image(app_server, task_id)).size == (40, 20)


async def test_a_refused_value_fails_with_comfyuis_reason(app_server: RunningServer) -> None:
    task_id = await submit(app_server, "comfy_unchecked", '{"scale": 100}')  # comfy_demo: 422
    task = await app_server.wait_finished(task_id, timeout_s=60)
    assert task["status"] == "failed"
    message = task["error_message"]
    assert message.startswith("the inputs were refused: ComfyUI refused the workflow"), message
    assert "node 2 (ImageScaleBy) input scale_by" in message
    assert "bigger than max of 8.0" in message


async def test_progress_comes_from_the_websocket_and_cancel_interrupts(
    app_server: RunningServer, idle_comfy: ComfyServer, held: Gate
) -> None:
    task_id = await submit(app_server, "comfy_gated", json.dumps({"gate": str(held.path)}))

    async def midway() -> dict[str, Any] | None:
        task = await app_server.get_task(task_id, include_base64="false")
        return task if 5 < task["progress"] < 95 else None

    task = await until(
        midway, 60, "the task midway"
    )  # node 1 finished; node 2 waits at the gate for ever
    assert task["status"] == "processing"
    prompt_id, _ = await provider_job(app_server, task_id)
    assert idle_comfy.queue()["running"] == [prompt_id]

    async with app_server.http.post(f"{app_server.url}/tasks/{task_id}/cancel") as response:
        assert response.status == 200, await response.text()
    task = await app_server.wait_finished(task_id)
    assert task["status"] == "canceled"
    idle_comfy.wait_idle(timeout_s=30)
    messages = [m[0] for m in idle_comfy.history(prompt_id)["status"]["messages"]]
    assert "execution_interrupted" in messages


async def test_cancel_of_a_pending_prompt_removes_it(
    app_server: RunningServer, idle_comfy: ComfyServer, held: Gate
) -> None:
    blocker = str(uuid.uuid4())
    idle_comfy.prompt(gated_graph(held, "blocker"), blocker)  # runs until the test ends
    idle_comfy.wait_running(blocker)
    task_id = await submit(app_server, "comfy_slow", '{"size": 64}')
    task = await app_server.wait_for(task_id, lambda t: t["queue_position"] == 1, timeout_s=30)
    assert task["status"] == "processing"
    prompt_id, _ = await provider_job(app_server, task_id)
    assert idle_comfy.queue()["pending"] == [prompt_id]

    async with app_server.http.post(f"{app_server.url}/tasks/{task_id}/cancel") as response:
        assert response.status == 200
    assert (await app_server.wait_finished(task_id))["status"] == "canceled"
    assert idle_comfy.queue()["pending"] == []
    assert idle_comfy.history(prompt_id) == {}  # it never ran


async def test_a_repeated_submit_queues_the_prompt_once(
    idle_comfy: ComfyServer, held: Gate, http: aiohttp.ClientSession
) -> None:
    comfy = ComfyUI(http=http, urls=[idle_comfy.url])
    try:
        blocker = str(uuid.uuid4())
        idle_comfy.prompt(gated_graph(held, "blocker"), blocker)  # keeps ours pending
        idle_comfy.wait_running(blocker)
        route = Route(provider="comfyui", options={"workflow": blur_graph(64)})
        app = AppSpec(name="comfy_slow", routes=(route,))
        name = await comfy.upload(
            InputFile(role="image", data=make_png(), content_type="image/png", extension="png")
        )
        request = JobRequest(
            task_id=7, app=app, inputs={"image": name}, attempt=1, idempotency_key="k-1"
        )
        first = await comfy.submit(request)
        again = await comfy.submit(request)  # as after a crash before the handle was stored
        assert again == first
        assert idle_comfy.queue()["pending"] == [first.job_id]
        retry = await comfy.submit(
            JobRequest(task_id=7, app=app, inputs={"image": name}, attempt=2, idempotency_key="k-2")
        )
        assert retry.job_id != first.job_id
        assert idle_comfy.queue()["pending"] == [first.job_id, retry.job_id]
        assert await comfy.cancel(first) and await comfy.cancel(retry)
        assert idle_comfy.queue()["pending"] == []
        assert not await comfy.cancel(JobHandle(job_id="never-queued", data=first.data))
    finally:
        await comfy.aclose()


async def test_a_large_output_is_stored_byte_for_byte(
    app_server: RunningServer, idle_comfy: ComfyServer
) -> None:
    noise = Image.frombytes("RGB", (400, 300), os.urandom(400 * 300 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    form = aiohttp.FormData()
    form.add_field("image", buffer.getvalue(), filename="noise.png", content_type="image/png")
    form.add_field("type", "comfy_demo")
    async with app_server.http.post(f"{app_server.url}/tasks", data=form) as response:
        assert response.status == 201
        task_id = int((await response.json())["data"]["task_id"])
    task = await app_server.wait_finished(task_id, timeout_s=60)
    assert task["status"] == "completed", task
    [output] = task["outputs"]
    assert output["size"] > 1024 * 1024  # far past one ~128 KB network read
    prompt_id, _ = await provider_job(app_server, task_id)
    [saved] = idle_comfy.history(prompt_id)["outputs"]["4"]["images"]
    original = idle_comfy.view(saved["filename"], saved["subfolder"], saved["type"])
    async with app_server.http.get(f"{app_server.url}/tasks/{task_id}/image") as response:
        assert await response.read() == original
