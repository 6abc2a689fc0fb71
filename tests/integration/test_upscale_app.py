"""The built-in `upscale` app on the local engine, over real HTTP: a finished render taken by
image_task_id comes back `scale` times larger, and a scale it cannot do is a 422."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rendergate.config.apps_file import load_apps
from rendergate.config.settings import load_settings
from rendergate.domain.errors import ConfigError
from support.images import make_scene
from support.server import RunningServer

B64 = base64.b64encode(make_scene(96, 72)).decode()


async def post(server: RunningServer, body: dict[str, Any]) -> tuple[int, Any]:
    async with server.http.post(f"{server.url}/tasks", json=body) as response:
        return response.status, await response.json()


async def result_size(server: RunningServer, task_id: int) -> tuple[int, int]:
    async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
        assert response.status == 200
        return Image.open(io.BytesIO(await response.read())).size


async def test_a_render_is_upscaled_by_its_task_id(server: RunningServer) -> None:
    status, made = await post(server, {"image_base64": B64, "preset": "dusk"})
    assert status == 201, made
    render = await server.wait_finished(made["data"]["task_id"], timeout_s=60)
    assert render["status"] == "completed", render
    status, up = await post(
        server, {"type": "upscale", "image_task_id": render["task_id"], "params": {"scale": 3}}
    )
    assert status == 201, up
    assert (up["data"]["parent_task_id"], up["data"]["params"]) == (render["task_id"], {"scale": 3})
    done = await server.wait_finished(up["data"]["task_id"], timeout_s=60)
    assert done["status"] == "completed", done
    assert await result_size(server, done["task_id"]) == (96 * 3, 72 * 3)


@pytest.mark.parametrize("scale", [1, 5, 2.5, "2"])
async def test_a_scale_it_cannot_do_is_refused_naming_it(server: RunningServer, scale: Any) -> None:
    status, refused = await post(
        server, {"type": "upscale", "image_base64": B64, "params": {"scale": scale}}
    )
    assert status == 422, refused
    assert refused["detail"][0]["loc"][-1] == "params.scale"


async def test_the_upscaler_takes_no_reference(server: RunningServer) -> None:
    body = {"type": "upscale", "image_base64": B64, "reference_base64": B64}
    status, refused = await post(server, body)
    assert status == 422, refused
    assert refused["detail"][0]["loc"][-1] == "reference"


def test_an_unknown_local_engine_stops_the_start(tmp_path: Path) -> None:
    apps = tmp_path / "apps.toml"
    apps.write_text('[apps.x]\nprovider = "local"\noptions = { engine = "dream" }\n')
    with pytest.raises(ConfigError, match="engine 'dream' is not one of the local engines"):
        load_apps(load_settings(data_dir=tmp_path, apps_file=apps, open=True))
