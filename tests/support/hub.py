"""The RunningHub emulator (in the test's process, or as its own) and rendergate settings
pointing at it, for the RunningHub tests."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp

from rendergate.config.settings import Settings, load_settings
from rendergate_emulators.runninghub import RunningHubEmulator
from support.images import make_reference, make_scene
from support.process import free_port, wait_answering
from support.server import RunningServer

KEY = "0123456789abcdef0123456789abcdef"
APPS = Path(__file__).parent / "apps.toml"


@contextlib.asynccontextmanager
async def running_emulator(**knobs: Any) -> AsyncIterator[RunningHubEmulator]:
    """Quick jobs (50 ms queued, 300 ms running) and room for two at once, unless told."""
    emu = RunningHubEmulator(KEY, **{"queue_s": 0.05, "run_s": 0.3, "concurrency": 2, **knobs})
    async with emu.serve():
        yield emu


@contextlib.contextmanager
def emulator_process(log: Path, *options: str) -> Iterator[str]:
    """The emulator as its own process, with the command line's `options`; its URL. For tests
    whose rendergate is a process too, so that the emulator outlives neither them nor it."""
    port = free_port()
    command = [sys.executable, "-m", "rendergate_emulators.runninghub", "--port", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*command, "--api-key", KEY, *options], stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_answering(process, f"{url}/_emulator/stats?tasks=0", 30, log)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def hub_settings(
    settings: Settings, emu: RunningHubEmulator, *, apps_file: Path = APPS, **extra: Any
) -> Settings:
    chosen = {
        "runninghub_api_key": KEY,
        "runninghub_concurrency": 2,
        "runninghub_balance_every_s": 0,  # no balance reads among the requests tests count
        **extra,
    }
    return load_settings(
        data_dir=settings.data_dir,
        apps_file=apps_file,
        runninghub_base_url=emu.base_url,
        runninghub_host="www.runninghub.cn",
        **chosen,
    )


async def submit(server: RunningServer, *, reference: bool = True) -> int:
    """Creates an su_render task from a multipart form; returns its id."""
    async with server.http.post(f"{server.url}/tasks", data=su_form(reference)) as response:
        body = await response.json()
        assert response.status == 201, body
        return int(body["data"]["task_id"])


def su_form(reference: bool = True) -> aiohttp.FormData:
    """An su_render task's multipart form: a screenshot, and a reference unless told."""
    form = aiohttp.FormData()
    form.add_field("image", make_scene(96, 64), filename="shot.png", content_type="image/png")
    if reference:
        form.add_field("reference", make_reference(), filename="ref.jpg", content_type="image/jpeg")
    form.add_field("type", "su_render")
    return form
