"""Runs the real app under uvicorn on 127.0.0.1 inside the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import uvicorn
from fastapi import FastAPI

from rendergate.api.app import create_app
from rendergate.api.serving import uvicorn_config
from rendergate.config.settings import Settings
from rendergate.services.context import Services


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
        deadline = time.monotonic() + timeout_s
        while True:
            task = await self.get_task(task_id, include_base64="false")
            if done(task):
                return task
            assert time.monotonic() < deadline, f"task {task_id} stuck: {task}"
            await asyncio.sleep(0.05)

    async def wait_finished(self, task_id: int, timeout_s: float = 20.0) -> dict[str, Any]:
        return await self.wait_for(
            task_id, lambda t: t["status"] in ("completed", "failed", "canceled"), timeout_s
        )


@contextlib.asynccontextmanager
async def serve(
    settings: Settings, *, worker: bool = True, port: int = 0
) -> AsyncIterator[RunningServer]:
    """`port` 0 picks a free one; give one to know the URL in advance (RENDERGATE_PUBLIC_URL)."""
    app = create_app(settings, worker=worker)
    config = uvicorn_config(app, settings, host="127.0.0.1", port=port, lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await _until(lambda: server.started or task.done(), 30.0)
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start-up")
        port = server.servers[0].sockets[0].getsockname()[1]
        async with aiohttp.ClientSession() as http:
            yield RunningServer(url=f"http://127.0.0.1:{port}", app=app, http=http)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30.0)


async def _until(condition: Callable[[], bool | Awaitable[bool]], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)
