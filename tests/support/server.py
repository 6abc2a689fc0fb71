"""Runs the real app under uvicorn on 127.0.0.1 inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import uvicorn
from fastapi import FastAPI

from rendergate.api.app import create_app
from rendergate.api.serving import uvicorn_config
from rendergate.config.settings import Settings
from rendergate.services.context import Services
from support.waiting import until


@dataclass
class RunningServer:
    url: str
    app: FastAPI
    http: aiohttp.ClientSession

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    async def get_task(self, task_id: int, **query: str) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/tasks/{task_id}", params=query) as response:
            assert response.status == 200, await response.text()
            body: dict[str, Any] = await response.json()
            return body["data"]  # type: ignore[no-any-return]

    async def wait_for(
        self, task_id: int, done: Callable[[dict[str, Any]], bool], timeout_s: float = 20.0
    ) -> dict[str, Any]:
        """Polls the task until `done` holds; fails after `timeout_s`."""
        last: list[dict[str, Any]] = []

        async def reached() -> dict[str, Any] | None:
            last[:] = [await self.get_task(task_id, include_base64="false")]
            return last[0] if done(last[0]) else None

        return await until(reached, timeout_s, lambda: f"task {task_id} to move on: {last}")

    async def wait_finished(self, task_id: int, timeout_s: float = 20.0) -> dict[str, Any]:
        return await self.wait_for(
            task_id, lambda t: t["status"] in ("completed", "failed", "canceled"), timeout_s
        )

    async def completed(self, body: dict[str, Any], timeout_s: float = 60.0) -> dict[str, Any]:
        """Creates a task from a JSON body and waits until it has completed."""
        async with self.http.post(f"{self.url}/tasks", json=body) as response:
            answer = await response.json()
            assert response.status == 201, answer
        task = await self.wait_finished(answer["data"]["task_id"], timeout_s)
        assert task["status"] == "completed", task
        return task

    async def result(self, task_id: int) -> bytes:
        """The task's first result file."""
        async with self.http.get(f"{self.url}/tasks/{task_id}/image") as response:
            assert response.status == 200, await response.text()
            return await response.read()


def _connector(settings: Settings) -> aiohttp.TCPConnector:
    """The test client's connections, dropped when idle for half the server's keep-alive:
    aiohttp keeps one 15 s by default, and a request sent on one the server closes after
    its 5 s in that very instant fails with ServerDisconnectedError (it did, after a test
    waited on two `rendergate keys` commands)."""
    return aiohttp.TCPConnector(keepalive_timeout=settings.keep_alive_s / 2)


async def _serving(server: uvicorn.Server) -> None:
    """The server's run. uvicorn leaves with SystemExit when its start-up fails (the app's
    lifespan raised, or the port was taken): as an error instead, pytest reports the test
    with the log that says why, where a SystemExit out of a fixture's finalizer took down
    the xdist worker running it."""
    try:
        await server.serve()
    except SystemExit as exit:
        raise RuntimeError(f"the server did not start (uvicorn exit {exit.code})") from None


@contextlib.asynccontextmanager
async def serve(
    settings: Settings, *, worker: bool = True, port: int = 0
) -> AsyncIterator[RunningServer]:
    """`port` 0 picks a free one; give one to know the URL in advance (RENDERGATE_PUBLIC_URL)."""
    app = create_app(settings, worker=worker)
    config = uvicorn_config(app, settings, host="127.0.0.1", port=port, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(_serving(server))
    try:
        await until(lambda: server.started or task.done(), 30, "the server to start", every_s=0.02)
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start-up")
        port = server.servers[0].sockets[0].getsockname()[1]
        async with aiohttp.ClientSession(connector=_connector(settings)) as http:
            yield RunningServer(url=f"http://127.0.0.1:{port}", app=app, http=http)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30.0)
