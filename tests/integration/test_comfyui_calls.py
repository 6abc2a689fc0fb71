"""The ComfyUI adapter's calls to one server (providers/comfyui_calls.py), against a stand-in
on 127.0.0.1 that records what it is sent: cancel deletes a pending prompt and interrupts a
running one, download reads `/view`, and an input no longer held is looked for on the server
before the task is sent back for its inputs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rendergate.domain.apps import AppSpec, Route
from rendergate.domain.errors import InputsGone, JobLost
from rendergate.providers.base import JobHandle, JobRequest, OutputRef
from rendergate.providers.comfyui import ComfyUI
from support.proxy import http_app

GRAPH = {"1": {"class_type": "SaveImage", "inputs": {}}}
APP = AppSpec(name="demo", routes=(Route(provider="comfyui", options={"workflow": GRAPH}),))


@dataclass
class StandIn:
    running: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (type, name) -> bytes
    posted: list[tuple[str, Any]] = field(default_factory=list)  # (path, JSON or file name)

    def routes(self, app: web.Application) -> None:
        async def queue(_: web.Request) -> web.Response:
            return web.json_response(
                {
                    "queue_running": [[0, pid, {}, {}, []] for pid in self.running],
                    "queue_pending": [[n, pid, {}, {}, []] for n, pid in enumerate(self.pending)],
                }
            )

        async def posted(request: web.Request) -> web.Response:
            body = await request.json()
            self.posted.append((request.path, body))
            if request.path == "/prompt":
                self.pending.append(body["prompt_id"])
                return web.json_response({"prompt_id": body["prompt_id"], "node_errors": {}})
            return web.json_response({})

        async def upload(request: web.Request) -> web.Response:
            name = (await request.post())["image"].filename  # type: ignore[union-attr]
            self.posted.append((request.path, name))
            return web.json_response({"name": name, "subfolder": "", "type": "input"})

        async def view(request: web.Request) -> web.Response:
            data = self.files.get((request.query["type"], request.query["filename"]))
            return web.Response(body=data) if data is not None else web.Response(status=404)

        async def load(_: web.Request) -> web.Response:
            return web.json_response({"exec_info": {"queue_remaining": len(self.pending)}})

        async def history(_: web.Request) -> web.Response:
            return web.json_response({})

        app.router.add_get("/queue", queue)
        app.router.add_get("/view", view)
        app.router.add_get("/prompt", load)
        app.router.add_get("/history/{id}", history)
        for path in ("/queue", "/interrupt", "/prompt"):
            app.router.add_post(path, posted)
        app.router.add_post("/upload/image", upload)


@pytest.fixture
async def served(http: aiohttp.ClientSession) -> AsyncIterator[tuple[StandIn, ComfyUI, str]]:
    stand_in = StandIn()
    async with http_app(stand_in.routes) as url:
        comfy = ComfyUI(http=http, urls=[url], timeout_s=5)
        try:
            yield stand_in, comfy, url
        finally:
            await comfy.aclose()


async def test_cancel_deletes_a_pending_prompt_interrupts_a_running_one_and_leaves_an_ended_one(
    served: tuple[StandIn, ComfyUI, str],
) -> None:
    stand_in, comfy, url = served
    stand_in.running, stand_in.pending = ["run"], ["wait"]
    assert await comfy.cancel(JobHandle(job_id="wait", data={"server": url}))
    assert stand_in.posted == [("/queue", {"delete": ["wait"]})]
    assert await comfy.cancel(JobHandle(job_id="run", data={"server": url}))
    assert stand_in.posted[1:] == [("/interrupt", {"prompt_id": "run"})]
    assert not await comfy.cancel(JobHandle(job_id="ended", data={"server": url}))
    assert len(stand_in.posted) == 2  # nothing sent for a prompt that has ended


async def test_download_reads_the_view_and_a_missing_output_is_lost(
    served: tuple[StandIn, ComfyUI, str],
) -> None:
    stand_in, comfy, url = served
    stand_in.files[("output", "a.png")] = b"the image"
    job = JobHandle(job_id="p", data={"server": url})
    assert await comfy.download(job, OutputRef(locator="filename=a.png&type=output")) == (
        b"the image"
    )
    with pytest.raises(JobLost, match="no longer has the output"):
        await comfy.download(job, OutputRef(locator="filename=b.png&type=output"))


async def test_an_input_no_longer_held_is_used_where_the_server_has_it(
    served: tuple[StandIn, ComfyUI, str],
) -> None:
    stand_in, comfy, _ = served
    stand_in.files[("input", "kept.png")] = b"uploaded before"
    request = JobRequest(task_id=1, app=APP, inputs={"image": "kept.png"}, idempotency_key="k1")
    job = await comfy.submit(request)
    assert [path for path, _ in stand_in.posted] == ["/prompt"]  # not uploaded again
    assert stand_in.pending == [job.job_id]
    gone = JobRequest(task_id=2, app=APP, inputs={"image": "gone.png"}, idempotency_key="k2")
    with pytest.raises(InputsGone, match="no longer held here"):
        await comfy.submit(gone)
    assert stand_in.pending == [job.job_id]  # nothing queued without its input
