"""A submit whose reply never came must not queue the same attempt on a second server.

Two small ComfyUI stand-ins on 127.0.0.1 speak the routes submit uses; the first queues
the prompt and then holds its answer until the test ends, as a real server behind a stalled
network does (so the client's timeout always comes first, however slow the machine).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from rendergate.domain.apps import AppSpec, Route
from rendergate.domain.errors import ProviderUnavailable
from rendergate.providers.base import InputFile, JobRequest
from rendergate.providers.comfyui import ComfyUI
from support.images import make_png

GRAPH = {"1": {"class_type": "SaveImage", "inputs": {}}}
APP = AppSpec(name="demo", routes=(Route(provider="comfyui", options={"workflow": GRAPH}),))


@dataclass
class StandIn:
    hold_reply: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)
    queued: list[str] = field(default_factory=list)
    url: str = ""

    def app(self) -> web.Application:
        async def load(_: web.Request) -> web.Response:
            return web.json_response({"exec_info": {"queue_remaining": len(self.queued)}})

        async def queue(_: web.Request) -> web.Response:
            pending = [[n, pid, {}, {}, []] for n, pid in enumerate(self.queued)]
            return web.json_response({"queue_running": [], "queue_pending": pending})

        async def history(_: web.Request) -> web.Response:
            return web.json_response({})

        async def upload(request: web.Request) -> web.Response:
            form = await request.post()
            name = form["image"].filename  # type: ignore[union-attr]
            return web.json_response({"name": name, "subfolder": "", "type": "input"})

        async def prompt(request: web.Request) -> web.Response:
            body = await request.json()
            self.queued.append(body["prompt_id"])
            if self.hold_reply:
                await self.released.wait()
            return web.json_response({"prompt_id": body["prompt_id"], "node_errors": {}})

        app = web.Application()
        app.router.add_get("/prompt", load)
        app.router.add_get("/queue", queue)
        app.router.add_get("/history/{id}", history)
        app.router.add_post("/upload/image", upload)
        app.router.add_post("/prompt", prompt)
        return app


@pytest.fixture
async def servers() -> AsyncIterator[tuple[StandIn, StandIn, list[web.AppRunner]]]:
    slow, spare = StandIn(hold_reply=True), StandIn()
    runners = []
    for stand_in in (slow, spare):
        runner = web.AppRunner(stand_in.app(), shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        stand_in.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        runners.append(runner)
    yield slow, spare, runners
    slow.released.set()
    for runner in runners:
        await runner.cleanup()


async def request_for(comfy: ComfyUI) -> JobRequest:
    data = make_png()
    name = await comfy.upload(
        InputFile(role="image", data=data, content_type="image/png", extension="png")
    )
    return JobRequest(task_id=1, app=APP, inputs={"image": name}, idempotency_key="k")


async def test_the_retry_finds_the_prompt_where_the_reply_was_lost(
    servers: tuple[StandIn, StandIn, list[web.AppRunner]],
    http: aiohttp.ClientSession,
) -> None:
    slow, spare, _ = servers
    comfy = ComfyUI(http=http, urls=[slow.url, spare.url], timeout_s=0.5)
    try:
        request = await request_for(comfy)
        with pytest.raises(ProviderUnavailable, match="did not answer"):
            await comfy.submit(request)  # queued on the first, but the reply timed out
        assert len(slow.queued) == 1
        job = await comfy.submit(request)  # the first now cools down; it is asked anyway
        assert job.job_id == slow.queued[0] and job.data["server"] == slow.url
        assert spare.queued == []
    finally:
        await comfy.aclose()


async def test_the_retry_waits_while_that_server_is_silent(
    servers: tuple[StandIn, StandIn, list[web.AppRunner]],
    http: aiohttp.ClientSession,
) -> None:
    slow, spare, runners = servers
    comfy = ComfyUI(http=http, urls=[slow.url, spare.url], timeout_s=0.5, dead_after_s=3600)
    try:
        request = await request_for(comfy)
        with pytest.raises(ProviderUnavailable):
            await comfy.submit(request)
        await runners[0].cleanup()  # the first server goes silent
        with pytest.raises(ProviderUnavailable, match="did not answer"):
            await comfy.submit(request)  # it may hold the prompt: not sent elsewhere
        assert spare.queued == []
    finally:
        await comfy.aclose()
