"""What a task's own values become on RunningHub, through the emulator: the built-in
upscale_runninghub app enlarges a finished preview taken by image_task_id by its `scale`, and
a task's seed reaches the node field its app binds it to."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rendergate.config.settings import Settings
from rendergate_emulators.runninghub import RunningHubEmulator
from support.hub import hub_settings
from support.images import make_scene
from support.process import free_port
from support.server import RunningServer, serve

APPS = Path(__file__).parents[1] / "support" / "runninghub_apps.toml"
B64 = base64.b64encode(make_scene(96, 72)).decode()


@pytest.fixture
async def server(settings: Settings, emulator: RunningHubEmulator) -> AsyncIterator[RunningServer]:
    """With webhooks, so that a finished RunningHub task is fetched at once, not polled for."""
    port = free_port()
    configured = hub_settings(
        settings, emulator, apps_file=APPS, public_url=f"http://127.0.0.1:{port}"
    )
    async with serve(configured, port=port) as running:
        yield running


async def result_size(server: RunningServer, task_id: int) -> tuple[int, int]:
    return Image.open(io.BytesIO(await server.result(task_id))).size


def sent_nodes(emulator: RunningHubEmulator, task: dict[str, Any]) -> list[Any]:
    return emulator.tasks[task["provider_job_id"]].node_info


async def test_a_finished_preview_is_upscaled_on_runninghub_by_its_task_id(
    server: RunningServer, emulator: RunningHubEmulator
) -> None:
    preview = await server.completed({"type": "preview", "image_base64": B64})
    body = {"type": "upscale_runninghub", "image_task_id": preview["task_id"]}
    up = await server.completed({**body, "params": {"scale": 3}})
    assert (up["provider"], up["parent_task_id"]) == ("runninghub", preview["task_id"])
    assert await result_size(server, up["task_id"]) == (96 * 3, 72 * 3)
    image, scale = sent_nodes(emulator, up)
    assert (image["nodeId"], image["fieldName"]) == ("15", "image")
    assert scale == {"nodeId": "22", "fieldName": "upscale_by", "fieldValue": 3}
    default = await server.completed(body)  # the form's default scale, 2
    assert default["params"] == {"scale": 2}
    assert await result_size(server, default["task_id"]) == (96 * 2, 72 * 2)


async def test_a_tasks_seed_reaches_the_node_field_its_app_binds(
    server: RunningServer, emulator: RunningHubEmulator
) -> None:
    given = await server.completed({"type": "rh_seeded", "image_base64": B64, "seed": 2**53 - 1})
    picked = await server.completed({"type": "rh_seeded", "image_base64": B64})
    for task in (given, picked):
        seed = {"nodeId": "3", "fieldName": "seed", "fieldValue": task["seed"]}
        assert sent_nodes(emulator, task)[1] == seed
    assert given["seed"] == 2**53 - 1 and isinstance(picked["seed"], int)
