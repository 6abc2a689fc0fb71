"""`rendergate submit --wait` follows the task's event stream, and polls when there is
none. The server here is a small stand-in for our API at the wire, which records what the
CLI asked for, so the test can tell which way it followed the task."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from support.images import make_png
from support.process import RENDERGATE, child_env
from support.proxy import http_app

pytestmark = pytest.mark.slow  # runs the `rendergate` CLI

TASK_ID = 4503599627370497
PNG = make_png()


def task(status: str, progress: int, image: str = "") -> dict[str, Any]:
    return {
        "task_id": TASK_ID,
        "status": status,
        "progress": progress,
        "error_message": "",
        "image": {"image_base64": image, "image_url": ""},
    }


@contextlib.asynccontextmanager
async def stand_in(*, stream: bool) -> AsyncIterator[tuple[str, list[str]]]:
    asked: list[str] = []
    polls = {"n": 0}

    async def create(request: web.Request) -> web.Response:
        asked.append("POST /tasks")
        await request.read()
        return web.json_response({"code": 0, "data": task("submitted", 0)}, status=201)

    async def events(request: web.Request) -> web.StreamResponse:
        asked.append("GET events")
        if not stream:
            return web.json_response({"code": 404, "msg": "no", "data": None}, status=404)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for version, (status, progress) in enumerate([("processing", 40), ("completed", 100)]):
            data = json.dumps(task(status, progress))
            await response.write(f"id: {version}\nevent: task.{status}\ndata: {data}\n\n".encode())
        return response

    async def read(request: web.Request) -> web.Response:
        light = request.query.get("include_base64") == "false"
        asked.append("GET poll" if light else "GET full")
        polls["n"] += light
        done = not light or polls["n"] >= 2
        image = base64.b64encode(PNG).decode() if not light else ""
        body = task("completed", 100, image) if done else task("processing", 50)
        return web.json_response({"code": 0, "data": body})

    def routes(app: web.Application) -> None:
        app.router.add_post("/tasks", create)
        app.router.add_get(f"/tasks/{TASK_ID}/events", events)
        app.router.add_get(f"/tasks/{TASK_ID}", read)

    async with http_app(routes) as url:
        yield url, asked


def submit_wait(server: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    shot, out = tmp_path / "shot.png", tmp_path / "render.png"
    shot.write_bytes(PNG)
    command = [str(RENDERGATE), "submit", str(shot), "--wait", "-o", str(out), "--server", server]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=child_env(tmp_path)
    )


async def test_wait_follows_the_event_stream(tmp_path: Path) -> None:
    async with stand_in(stream=True) as (server, asked):
        done = await asyncio.to_thread(submit_wait, server, tmp_path)
    assert done.returncode == 0, done.stderr
    assert asked == ["POST /tasks", "GET events", "GET full"]  # no poll at all
    assert (tmp_path / "render.png").read_bytes() == PNG


async def test_wait_polls_when_there_is_no_stream(tmp_path: Path) -> None:
    async with stand_in(stream=False) as (server, asked):
        done = await asyncio.to_thread(submit_wait, server, tmp_path)
    assert done.returncode == 0, done.stderr
    assert asked == ["POST /tasks", "GET events", "GET poll", "GET poll", "GET full"]
    assert (tmp_path / "render.png").read_bytes() == PNG
