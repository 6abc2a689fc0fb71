"""UrlFetcher's test kit: real aiohttp servers on 127.0.0.0/8, and names resolved
through a fake DNS that fetcher() hands to every UrlFetcher a test builds."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from rendergate.domain.errors import InvalidInput
from rendergate.intake.fetch import UrlFetcher

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


PNG = b"\x89PNG\r\n\x1a\n-not-really-an-image"


@dataclass
class Server:
    url: str
    hits: list[str] = field(default_factory=list)


@asynccontextmanager
async def serve(
    routes: dict[str, Handler], release: asyncio.Event, host: str = "127.0.0.1"
) -> AsyncIterator[Server]:
    """Run an aiohttp app on an ephemeral port; `release` unblocks stalled handlers on exit."""
    app = web.Application()
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    server = Server(url="")

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        server.hits.append(request.path)
        return await handler(request)

    app.middlewares.append(record)
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, 0).start()
        server.url = f"http://{host}:{runner.addresses[0][1]}"
        yield server
    finally:
        release.set()
        await runner.cleanup()


class FakeDns(AbstractResolver):
    """Answers from a table so no test sends a real DNS query."""

    def __init__(self) -> None:
        self.table: dict[str, list[str]] = {}
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        flags = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
        return [
            ResolveResult(
                hostname=host,
                host=addr,
                port=port,
                family=socket.AF_INET6 if ":" in addr else socket.AF_INET,
                proto=0,
                flags=flags,
            )
            for addr in self.table[host]
        ]

    async def close(self) -> None:
        pass


_answering: list[FakeDns] = []  # the FakeDns of the test that asked for one: fetcher() uses it


async def png(_: web.Request) -> web.Response:
    return web.Response(body=PNG, content_type="image/png")


async def refused(fetcher: UrlFetcher, url: str, kind: type[InvalidInput] = InvalidInput) -> str:
    with pytest.raises(kind) as info:
        await fetcher.fetch(url, role="image")
    assert info.value.field == "image_url"
    return info.value.message


def fetcher(allow: list[str] | None = None, **kw: float) -> UrlFetcher:
    opts: dict[str, float] = {"max_bytes": 1_000_000, "timeout_s": 5.0} | kw
    return UrlFetcher(
        max_bytes=int(opts["max_bytes"]),
        timeout_s=opts["timeout_s"],
        allow=allow or [],
        max_redirects=int(opts.get("max_redirects", 3)),
        **({"resolver": lambda: _answering[-1]} if _answering else {}),
    )
