"""Slow and idle clients against the real server: their connections are closed, in bounded time.

Each test opens raw TCP connections and waits on reads with a deadline many times the
server's limit, so a server that never closes fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rendergate.api.serving import RESERVED_AT_ONCE, BodyTimeout, Reserved
from rendergate.config.settings import Settings
from support.images import make_scene
from support.server import RunningServer, serve

pytestmark = pytest.mark.slow  # waits out the connection timeouts it tests

HEADER_S = 0.5
KEEP_ALIVE_S = 1
BODY_IDLE_S = 0.5
BODY_TOTAL_S = 2.0
DEADLINE_S = 10 * BODY_TOTAL_S
BOUNDARY = "slowclientboundary"


@pytest.fixture
def slow_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "header_timeout_s": HEADER_S,
            "keep_alive_s": KEEP_ALIVE_S,
            "body_idle_timeout_s": BODY_IDLE_S,
            "body_timeout_s": BODY_TOTAL_S,
        }
    )


@pytest.fixture
async def slow(slow_settings: Settings) -> AsyncIterator[RunningServer]:
    async with serve(slow_settings) as running:
        yield running


async def _connect(server: RunningServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = int(server.url.rsplit(":", 1)[1])
    return await asyncio.open_connection("127.0.0.1", port)


async def _until_closed(reader: asyncio.StreamReader, deadline_s: float = DEADLINE_S) -> bytes:
    """Everything the server sends until it closes; fails if it has not closed in time."""
    chunks: list[bytes] = []

    async def drain() -> None:
        while chunk := await reader.read(65536):
            chunks.append(chunk)

    await asyncio.wait_for(drain(), deadline_s)
    return b"".join(chunks)


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One response with a Content-Length, read within the deadline."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE_S)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines if line)
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), DEADLINE_S)
    return int(status_line.split()[1]), headers, body


def _parse(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


async def _trickle(writer: asyncio.StreamWriter, data: bytes, every_s: float) -> int:
    """Sends `data` a few bytes at a time until the server closes; returns the bytes sent."""
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < len(data):
            writer.write(data[sent : sent + 10])
            await writer.drain()
            sent += 10
            await asyncio.sleep(every_s)
    return sent


def _multipart_head(content_length: int) -> bytes:
    return (
        f"POST /tasks HTTP/1.1\r\nHost: test\r\nContent-Length: {content_length}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()


async def test_a_connection_that_sends_nothing_is_closed(slow: RunningServer) -> None:
    reader, writer = await _connect(slow)
    started = time.monotonic()
    assert await _until_closed(reader) == b""
    assert time.monotonic() - started >= HEADER_S * 0.8
    writer.close()


async def test_headers_sent_slowly_are_cut_off(slow: RunningServer) -> None:
    reader, writer = await _connect(slow)
    request = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 10_000
    trickle = asyncio.create_task(_trickle(writer, request, every_s=0.05))
    started = time.monotonic()
    assert await _until_closed(reader) == b""
    assert time.monotonic() - started < HEADER_S * 4
    assert 0 < await trickle < len(request)  # still sending when the server hung up
    writer.close()


async def test_slow_headers_after_a_keep_alive_response_are_cut_off(slow: RunningServer) -> None:
    """uvicorn's keep-alive timer stops at the first byte; the header clock does not."""
    reader, writer = await _connect(slow)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    assert (await _response(reader))[0] == 200
    answered = time.monotonic()
    request = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 10_000
    trickle = asyncio.create_task(_trickle(writer, request, every_s=0.05))
    assert await _until_closed(reader) == b""
    assert time.monotonic() - answered < max(HEADER_S, KEEP_ALIVE_S) * 3
    assert 0 < await trickle < len(request)
    writer.close()


async def test_oversized_headers_are_answered_431(slow: RunningServer) -> None:
    reader, writer = await _connect(slow)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 70_000)
    raw = await _until_closed(reader)
    status, body = _parse(raw)
    assert status == 431
    assert body["code"] == 431 and body["data"] is None
    assert b"\r\nx-content-type-options: nosniff\r\n" in raw.split(b"\r\n\r\n")[0] + b"\r\n"
    writer.close()


@pytest.mark.parametrize("size", [70 * 1024, 80 * 1024, 100 * 1024])
async def test_oversized_headers_in_one_write_are_answered_431(
    slow: RunningServer, size: int
) -> None:
    """Whole headers in one packet: parsed to their end before any count could stop them."""
    reader, writer = await _connect(slow)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
    status, body = _parse(await _until_closed(reader))
    assert status == 431 and body["msg"] == "request headers are over 64 KiB"
    writer.close()


async def test_headers_just_under_the_limit_are_served(slow: RunningServer) -> None:
    reader, writer = await _connect(slow)
    head = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: "
    writer.write(head + b"a" * (64 * 1024 - len(head) - 4) + b"\r\n\r\n")
    assert (await _response(reader))[0] == 200
    writer.close()


async def test_a_stalled_body_is_answered_408(slow: RunningServer) -> None:
    reader, writer = await _connect(slow)
    writer.write(_multipart_head(100_000) + b"\x89PNG" + b"x" * 1_000)
    started = time.monotonic()
    status, body = _parse(await _until_closed(reader))
    assert status == 408
    assert body["code"] == 408 and body["msg"] and body["data"] is None
    assert BODY_IDLE_S * 0.8 <= time.monotonic() - started < BODY_TOTAL_S
    async with slow.http.get(f"{slow.url}/tasks") as response:
        assert (await response.json())["data"]["tasks"] == []  # nothing was stored
    writer.close()


async def test_a_body_trickled_past_the_total_limit_is_answered_408(slow: RunningServer) -> None:
    reader, writer = await _connect(slow)
    writer.write(_multipart_head(100_000))
    # 10 bytes every 0.1 s: never idle for BODY_IDLE_S, but 100 s to send it all
    trickle = asyncio.create_task(_trickle(writer, b"x" * 100_000, every_s=0.1))
    started = time.monotonic()
    status, body = _parse(await _until_closed(reader))
    assert status == 408 and body["code"] == 408
    assert BODY_TOTAL_S * 0.8 <= time.monotonic() - started < BODY_TOTAL_S * 4
    # the server read on after its answer (a staged close), but not for as long as we send
    assert await asyncio.wait_for(trickle, DEADLINE_S) < 100_000
    writer.close()


async def test_a_body_under_the_rate_floor_is_answered_408(slow_settings: Settings) -> None:
    """Never idle for long and far from the total limit, but 200 bytes/s against a floor of
    10,000: cut off soon after the grace, long before the 100 KB could all arrive (500 s)."""
    floored = slow_settings.model_copy(
        update={
            "body_idle_timeout_s": 5.0,
            "body_timeout_s": 60.0,
            "body_min_bytes_per_s": 10_000,
            "body_rate_grace_s": 0.5,
        }
    )
    async with serve(floored) as server:
        reader, writer = await _connect(server)
        writer.write(_multipart_head(100_000))
        trickle = asyncio.create_task(_trickle(writer, b"x" * 100_000, every_s=0.05))
        started = time.monotonic()
        status, body = _parse(await _until_closed(reader))
        assert status == 408
        assert body["msg"] == "request body too slow: under 10000 bytes/s on average"
        assert 0.4 <= time.monotonic() - started < 5.0  # the grace, but not the idle limit
        assert await asyncio.wait_for(trickle, DEADLINE_S) < 100_000
        writer.close()


async def test_a_client_still_sending_reads_the_refusal_before_the_close(
    slow: RunningServer,
) -> None:
    """A close with the client's bytes unread would reset the connection (RFC 9112 §9.6)."""
    reader, writer = await _connect(slow)
    writer.write(_multipart_head(10**10) + b"x" * 4_000_000)  # refused on its Content-Length
    status, body = _parse(await _until_closed(reader))
    assert status == 413 and "the limit is" in body["msg"]
    writer.close()


async def test_normal_requests_and_keep_alive_still_work(slow: RunningServer) -> None:
    reader, writer = await _connect(slow)
    image = make_scene(64, 48)
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    head = _multipart_head(0)
    preamble = head[head.index(b"\r\n\r\n") + 4 :]
    length = len(preamble) + len(image) + len(tail)
    writer.write(_multipart_head(length) + image + tail)
    status, _, body = await _response(reader)
    assert status == 201, body
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")  # same connection
    status, headers, _ = await _response(reader)
    assert status == 200 and headers.get("connection") != "close"
    started = time.monotonic()
    assert await _until_closed(reader) == b""  # then the idle connection is let go
    assert time.monotonic() - started >= KEEP_ALIVE_S * 0.8
    writer.close()


async def test_many_idle_connections_are_closed_and_bounded(slow_settings: Settings) -> None:
    bounded = slow_settings.model_copy(update={"header_timeout_s": 2.0, "max_connections": 20})
    async with serve(bounded) as server:
        idle = [await _connect(server) for _ in range(50)]
        reader, writer = await _connect(server)
        writer.write(b"GET /apps HTTP/1.1\r\nHost: test\r\n\r\n")
        assert (await _until_closed(reader)).startswith(b"HTTP/1.1 503 ")  # over the bound
        closed = await asyncio.gather(*(_until_closed(r, 20.0) for r, _ in idle))
        assert closed == [b""] * 50
        async with server.http.get(f"{server.url}/healthz") as response:
            assert response.status == 200
        for _, w in [*idle, (reader, writer)]:
            w.close()


async def _stalled_receive() -> dict[str, Any]:
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def test_a_body_never_read_is_not_timed(slow_settings: Settings) -> None:
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(BODY_TOTAL_S * 1.5)  # longer than any body limit, never reading
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def record(message: Any) -> None:
        sent.append(message)

    await BodyTimeout(app, settings=slow_settings)({"type": "http"}, _stalled_receive, record)
    assert [m.get("status") for m in sent] == [200, None]


async def test_a_body_stalling_after_the_response_started_sends_no_408(
    slow_settings: Settings,
) -> None:
    """Nothing can be answered then; uvicorn closes the connection of an unfinished response."""
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        received.append(await receive())
        await send({"type": "http.response.body", "body": b"late"})

    async def record(message: Any) -> None:
        sent.append(message)

    middleware = BodyTimeout(app, settings=slow_settings)
    await asyncio.wait_for(middleware({"type": "http"}, _stalled_receive, record), DEADLINE_S)
    assert received == []  # the app was unwound from its receive, and returned nothing
    assert [m["type"] for m in sent] == ["http.response.start"]


async def test_health_and_metrics_answer_when_streams_hold_every_connection(
    slow_settings: Settings,
) -> None:
    """uvicorn serves max_connections - 1 connections (the one asking counts itself)."""
    capped = slow_settings.model_copy(update={"max_connections": 4, "header_timeout_s": 10.0})
    async with serve(capped) as server, contextlib.AsyncExitStack() as streams:
        image = base64.b64encode(make_scene(32, 24)).decode()
        body = {"type": "fake", "image_base64": image, "params": {"fake": {"outcome": "hang"}}}
        async with server.http.post(f"{server.url}/tasks", json=body) as response:
            task_id = (await response.json())["data"]["task_id"]
        events = f"{server.url}/tasks/{task_id}/events"
        for _ in range(3):
            stream = await streams.enter_async_context(server.http.get(events))
            assert stream.status == 200
        async with server.http.get(events) as refused:
            assert refused.status == 503  # every connection is taken
        async with server.http.get(f"{server.url}/healthz") as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["data"]["database"] == "ok"
        async with server.http.get(f"{server.url}/metrics") as response:
            assert response.status == 200
            assert "rendergate_" in await response.text()


async def test_health_and_metrics_past_the_cap_have_a_bound_of_their_own() -> None:
    """Outside max_connections, RESERVED_AT_ONCE of them at a time; the next is a 503."""
    inside, done = asyncio.Event(), asyncio.Event()
    entered = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal entered
        entered += 1
        if entered == RESERVED_AT_ONCE:
            inside.set()
        await done.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sent: list[dict[str, Any]] = []

    async def record(message: Any) -> None:
        sent.append(message)

    reserved = Reserved(app)
    scope = {"type": "http", "method": "GET", "path": "/healthz", "headers": []}
    held = [
        asyncio.create_task(reserved(scope, _stalled_receive, record))
        for _ in range(RESERVED_AT_ONCE)
    ]
    await asyncio.wait_for(inside.wait(), DEADLINE_S)
    await reserved(scope, _stalled_receive, record)
    assert sent[0]["status"] == 503 and b"health and metrics requests" in sent[1]["body"]
    done.set()
    await asyncio.wait_for(asyncio.gather(*held), DEADLINE_S)
    await reserved(scope, _stalled_receive, record)  # served again once they end
    assert [m.get("status") for m in sent[2:] if "status" in m] == [200] * (RESERVED_AT_ONCE + 1)
