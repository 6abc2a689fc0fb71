"""Small aiohttp servers on loopback for client tests: any routes (`http_app`), and a proxy
in front of a real server that records each request it passes on and can lose the reply
of the first create, as a network or a proxy may."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

HOP = {"host", "content-length", "transfer-encoding", "connection"}


@contextlib.asynccontextmanager
async def http_app(routes: Callable[[web.Application], object]) -> AsyncIterator[str]:
    """An aiohttp server with the routes `routes` adds: its base URL."""
    app = web.Application()
    routes(app)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class Passed:
    method: str
    path_qs: str
    idempotency_key: str
    replayed: str  # the upstream's Idempotent-Replayed header


@dataclass
class Proxy:
    upstream: str
    lose_first_create: bool = False
    passed: list[Passed] = field(default_factory=list)
    url: str = ""

    def creates(self) -> list[Passed]:
        return [p for p in self.passed if (p.method, p.path_qs) == ("POST", "/tasks")]

    async def forward(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                request.method, self.upstream + request.path_qs, headers=headers, data=body
            ) as answer,
        ):
            data = await answer.read()
            self.passed.append(
                Passed(
                    request.method,
                    request.path_qs,
                    request.headers.get("Idempotency-Key", ""),
                    answer.headers.get("Idempotent-Replayed", ""),
                )
            )
        first_create = (request.method, request.path) == ("POST", "/tasks") and len(
            self.creates()
        ) == 1
        if self.lose_first_create and first_create:
            return web.json_response({"code": 503, "msg": "lost", "data": None}, status=503)
        return web.Response(body=data, status=answer.status, content_type=answer.content_type)


@contextlib.asynccontextmanager
async def proxying(proxy: Proxy) -> AsyncIterator[Proxy]:
    async with http_app(lambda app: app.router.add_route("*", "/{tail:.*}", proxy.forward)) as url:
        proxy.url = url
        yield proxy
