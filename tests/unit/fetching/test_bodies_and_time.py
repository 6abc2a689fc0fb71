"""UrlFetcher bounds what it reads and how long it waits, and names each failure."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from rendergate.domain.errors import InputTooLarge
from support.fetching import PNG, FakeDns, fetcher, png, refused, serve


async def test_not_found_names_the_status(release: asyncio.Event) -> None:
    async with serve({"/": png}, release) as srv, fetcher(["127.0.0.1"]) as f:
        msg = await refused(f, srv.url + "/missing.png")
    assert msg == "127.0.0.1 answered HTTP 404"


async def test_compressed_body_is_refused(release: asyncio.Event) -> None:
    async def gz(_: web.Request) -> web.Response:
        return web.Response(body=b"\x1f\x8b", headers={"Content-Encoding": "gzip"})

    async with serve({"/": gz}, release) as srv, fetcher(["127.0.0.1"]) as f:
        msg = await refused(f, srv.url + "/")
    assert msg == "127.0.0.1 sent compressed content; only uncompressed files are accepted"


async def test_content_length_over_limit_is_refused_before_reading(release: asyncio.Event) -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.content_length = 10**9
        await resp.prepare(request)
        await resp.write(b"x" * 10)
        await release.wait()  # never sends the rest: only an early refusal ends the fetch
        return resp

    async with serve({"/": huge}, release) as srv, fetcher(["127.0.0.1"], max_bytes=1000) as f:
        msg = await refused(f, srv.url + "/", InputTooLarge)
    assert msg == "the file at 127.0.0.1 is 1000000000 bytes, over the 1000-byte limit"


async def test_body_at_the_limit_is_accepted(release: asyncio.Event) -> None:
    async def exact(_: web.Request) -> web.Response:
        return web.Response(body=b"y" * 1000)

    async with serve({"/": exact}, release) as srv, fetcher(["127.0.0.1"], max_bytes=1000) as f:
        body, ctype = await f.fetch(srv.url + "/", role="image")
    assert (body, ctype) == (b"y" * 1000, "application/octet-stream")


async def test_chunked_stream_over_limit_stops_early(release: asyncio.Event) -> None:
    total, chunk = 32 * 1024 * 1024, b"z" * 65536
    state: dict[str, int | bool] = {"sent": 0, "disconnected": False}
    done = asyncio.Event()

    async def stream(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()  # no Content-Length: chunked
        await resp.prepare(request)
        try:
            while int(state["sent"]) < total:
                await resp.write(chunk)
                state["sent"] = int(state["sent"]) + len(chunk)
        except ConnectionError:
            state["disconnected"] = True
        finally:
            done.set()
        return resp

    async with serve({"/": stream}, release) as srv:
        async with fetcher(["127.0.0.1"], max_bytes=100_000) as f:
            msg = await refused(f, srv.url + "/", InputTooLarge)
        assert msg == "the file at 127.0.0.1 is over the 100000-byte limit"
        await asyncio.wait_for(done.wait(), timeout=10)
    assert state["disconnected"] is True
    assert int(state["sent"]) < total


async def test_stalled_server_times_out(release: asyncio.Event) -> None:
    entered = asyncio.Event()

    async def stall(_: web.Request) -> web.Response:
        entered.set()
        await release.wait()
        return web.Response(body=PNG)

    loop = asyncio.get_running_loop()
    async with serve({"/": stall}, release) as srv, fetcher(["127.0.0.1"], timeout_s=0.5) as f:
        start = loop.time()
        msg = await refused(f, srv.url + "/")
        elapsed = loop.time() - start
    assert entered.is_set()
    assert msg == "timed out after 0.5 s fetching 127.0.0.1"
    assert 0.4 <= elapsed < 3.0


async def test_body_that_stalls_midway_times_out(release: asyncio.Event) -> None:
    async def trickle(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b"partial")
        await release.wait()
        return resp

    async with serve({"/": trickle}, release) as srv, fetcher(["127.0.0.1"], timeout_s=0.5) as f:
        msg = await refused(f, srv.url + "/")
    assert msg == "timed out after 0.5 s fetching 127.0.0.1"


async def test_timeout_covers_the_whole_redirect_chain(release: asyncio.Event) -> None:
    async def slow_hop(request: web.Request) -> web.StreamResponse:
        left = int(request.match_info["n"])
        await asyncio.sleep(0.3)  # the server is slow; each hop alone is within the limit
        if left == 0:
            return await png(request)
        raise web.HTTPFound(f"/slow/{left - 1}")

    async with serve({"/slow/{n}": slow_hop}, release) as srv:
        async with fetcher(["127.0.0.1"], timeout_s=0.5, max_redirects=5) as f:
            msg = await refused(f, srv.url + "/slow/4")
        assert msg == "timed out after 0.5 s fetching 127.0.0.1"
        # cut off in the second hop (in the first on a slow machine); a third starts >= 0.6 s
        assert srv.hits in (["/slow/4"], ["/slow/4", "/slow/3"])


async def test_connection_refused_is_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the fetch: nobody listens
    async with fetcher(["127.0.0.1"]) as f:
        msg = await refused(f, f"http://127.0.0.1:{port}/")
    assert msg == "could not fetch 127.0.0.1: connection refused"


async def test_unknown_name_is_reported(dns: FakeDns) -> None:
    async with fetcher() as f:
        msg = await refused(f, "https://nowhere.test/a.png")
    assert msg == "could not fetch nowhere.test: its host name could not be resolved"


async def test_fetch_needs_an_open_fetcher() -> None:
    with pytest.raises(RuntimeError):
        await fetcher().fetch("http://example.test/", role="image")
