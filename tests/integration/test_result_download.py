"""Result downloads read the whole body, however large, from a real server on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from rendergate.domain.errors import ProviderRejected
from rendergate.providers.http import call_timeout, fetch_result, read_capped

BODY = os.urandom(3 * 1024 * 1024 + 17)  # far past aiohttp's ~128 KB read buffer
LIMIT = call_timeout(30)


@pytest.fixture
async def files() -> AsyncIterator[str]:
    async def big(_: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked: no Content-Length to rely on
        await response.prepare(_)
        for start in range(0, len(BODY), 100_000):
            await response.write(BODY[start : start + 100_000])
        await response.write_eof()
        return response

    async def sized(_: web.Request) -> web.Response:
        return web.Response(body=BODY)

    async def gone(_: web.Request) -> web.Response:
        return web.Response(status=410)

    app = web.Application()
    app.router.add_get("/big", big)
    app.router.add_get("/sized", sized)
    app.router.add_get("/gone", gone)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_large_result_arrives_whole(files: str) -> None:
    async with aiohttp.ClientSession() as session:
        assert (
            await fetch_result(session, f"{files}/big", provider="test", time_limit=LIMIT) == BODY
        )
        assert (
            await fetch_result(session, f"{files}/sized", provider="test", time_limit=LIMIT) == BODY
        )
        assert (
            await fetch_result(session, f"{files}/gone", provider="test", time_limit=LIMIT) is None
        )


async def test_a_body_past_the_limit_is_refused(files: str) -> None:
    async with aiohttp.ClientSession() as session:
        for path in ("/big", "/sized"):  # streamed, and announced by Content-Length
            async with session.get(files + path) as response:
                with pytest.raises(ProviderRejected, match="over 1 MB"):
                    await read_capped(response, 1024 * 1024)
