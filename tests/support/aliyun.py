"""rendergate settings pointing at the Aliyun emulator, and a task of its aliyun_render app,
for the Aliyun tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from rendergate.config.settings import Settings, load_settings
from rendergate_emulators.aliyun import AliyunEmulator
from support.emulators import ALIYUN_KEY as KEY
from support.emulators import ALIYUN_SECRET as SECRET
from support.images import make_reference, make_scene
from support.server import RunningServer

APPS = Path(__file__).parent / "apps.toml"


def ali_settings(settings: Settings, emu: AliyunEmulator, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "aliyun_app_key": KEY,
        "aliyun_app_secret": SECRET,
        "aliyun_base_url": emu.base_url,
        **extra,
    }
    return load_settings(data_dir=settings.data_dir, apps_file=APPS, **values)


async def submit(server: RunningServer) -> int:
    form = aiohttp.FormData()
    form.add_field("image", make_scene(96, 64), filename="shot.png", content_type="image/png")
    form.add_field("reference", make_reference(), filename="ref.jpg", content_type="image/jpeg")
    form.add_field("type", "aliyun_render")
    async with server.http.post(f"{server.url}/tasks", data=form) as response:
        body = await response.json()
        assert response.status == 201, body
        return int(body["data"]["task_id"])
