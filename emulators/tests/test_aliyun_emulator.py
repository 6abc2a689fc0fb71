"""The Aliyun 智作工坊 emulator speaks what the official `speedpix` SDK expects: signing,
upload, submit, polling."""

from __future__ import annotations

import io

import speedpix

from rendergate_emulators.aliyun import AliyunEmulator
from support.emulators import ALIYUN_KEY, ALIYUN_SECRET
from support.images import make_scene


async def test_the_speedpix_sdk_runs_against_the_emulator(aliyun: AliyunEmulator) -> None:
    client = speedpix.Client(app_key=ALIYUN_KEY, app_secret=ALIYUN_SECRET, endpoint=aliyun.base_url)
    try:
        scene = io.BytesIO(make_scene(40, 30))
        uploaded = await client.files.async_create(scene, filename="shot.png")
        output = await client.async_run(
            "su_render",
            {"image": uploaded.access_url, "reference": uploaded.access_url},
            polling_interval=0.05,
        )
    finally:
        await client.aclose()
    assert set(output) == {"poster"}
    assert aliyun.stats.refusals == {} and aliyun.stats.uploads == 1
    [upstream] = aliyun.tasks.values()
    assert upstream.resource_config_id == "default"  # the SDK's default header
