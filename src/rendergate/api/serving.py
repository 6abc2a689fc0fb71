"""How rendergate is served: uvicorn, with limits on slow and oversized requests.

uvicorn bounds only the idle time between requests and the number of connections; a client
that sends its headers or its body slowly holds its connection for ever. The protocol below
bounds the headers, the middleware the body; `uvicorn_config` switches both on, for
`rendergate serve` and the tests alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any, ClassVar

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from rendergate.api.errors import envelope_error
from rendergate.api.lingering import StagedCloseTransport
from rendergate.config.settings import Settings

MAX_HEADER_BYTES = 64 * 1024  # nginx's default is 4 x 8 KiB; httptools itself has no limit
RESERVED_PATHS = frozenset({"/healthz", "/metrics"})  # served past max_connections
RESERVED_AT_ONCE = 8  # requests to them in progress at once


# Answered by the protocol itself, before there is a request to give the app: raw bytes.
_TOO_LARGE = json.dumps(
    {"code": 431, "msg": f"request headers are over {MAX_HEADER_BYTES // 1024} KiB", "data": None},
    separators=(",", ":"),
).encode()
HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"x-content-type-options: nosniff\r\n"  # as every answer (api/headers.py)
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_TOO_LARGE), _TOO_LARGE)
)


class SlowClientProtocol(HttpToolsProtocol):
    """Closes a connection whose request headers take too long or grow too large.

    The header clock starts when the connection opens and when a response ends. uvicorn's
    keep-alive timer, started then too, closes an idle connection but stops at any byte;
    ours runs for the longer of the two, so it neither shortens keep-alive nor adds to it.
    A close while the client is still sending is staged (see `lingering`).

    Past max_connections a request is answered 503, except on RESERVED_PATHS: a monitor
    still reaches a server whose clients hold every connection (`Reserved` bounds those).
    """

    header_timeout_s: ClassVar[float] = 10.0
    max_connections: ClassVar[int | None] = None
    _header_timer: TimerHandle | None = None
    _header_bytes: int | None = None  # counted while the header clock runs
    _header_tail = b""  # the last bytes counted, for an end of headers split across reads

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._staged = StagedCloseTransport(transport, self.loop, self._client_still_sending)
        super().connection_made(self._staged)
        self._arm(self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._staged.forget_timers()
        self._disarm()

    def _client_still_sending(self) -> bool:
        """Headers begun but not ended, or a request body not yet all received."""
        if self._header_bytes:
            return True
        return self.cycle is not None and self.cycle.more_body

    def data_received(self, data: bytes) -> None:
        if self._staged.lingering:
            self._staged.discard(data)
            return
        if self._header_bytes is not None and self._headers_overflow(self._header_bytes, data):
            if not self.transport.is_closing():
                if self.cycle is None or self.cycle.response_complete:  # else mid-response
                    self.transport.write(HEADERS_TOO_LARGE)
                self.transport.close()
            return
        super().data_received(data)

    def _headers_overflow(self, seen: int, data: bytes) -> bool:
        """Whether the headers pass MAX_HEADER_BYTES with `data`, `seen` bytes of them read
        before. Checked before the parser sees it: given whole headers in one read, the
        parser reads them to their end."""
        room = MAX_HEADER_BYTES - seen
        window = self._header_tail + data[: max(room, 0)]
        self._header_bytes = seen + len(data)
        self._header_tail = window[-2:]
        if len(data) <= room:
            return False
        return b"\n\r\n" not in window and b"\n\n" not in window  # the headers' end in time

    def on_headers_complete(self) -> None:
        self._disarm()
        self._header_bytes = None
        # uvicorn reads its cap here, for each request: a monitoring path is outside it
        reserved = self.url.partition(b"?")[0].decode("latin-1") in RESERVED_PATHS
        self.limit_concurrency = None if reserved else self.max_connections
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # uvicorn now waits for a next request
            self._arm(max(self.header_timeout_s, self.timeout_keep_alive))

    def _arm(self, delay: float) -> None:
        self._disarm()
        self._header_bytes, self._header_tail = 0, b""
        self._header_timer = self.loop.call_later(delay, self.transport.close)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None


class BodyTimedOut(BaseException):
    """Unwinds the app from a timed-out `receive`; a BaseException, like CancelledError, so
    that no `except Exception` on the way (body parsers, the catch-all 500) answers or logs it."""


class BodyTimeout:
    """Answers 408 and closes the connection when a request body stalls, drags on, or
    arrives slower on average than the floor (body_min_bytes_per_s, after a grace).

    Only `receive` is timed, from the app's first call to the body's end: a body never read
    is unaffected, and the floor counts only the time spent waiting for the client, not the
    app's own between reads. Once a response has started nothing is sent; uvicorn closes a
    connection whose app returns with its response unfinished.
    """

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.limits = BodyPace(
            idle_s=settings.body_idle_timeout_s,
            total_s=settings.body_timeout_s,
            min_bytes_per_s=settings.body_min_bytes_per_s,
            grace_s=settings.body_rate_grace_s,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _TimedBody(scope, receive, send, self.limits)
        with contextlib.suppress(BodyTimedOut):
            await self.app(scope, body.receive, body.send)


@dataclass(frozen=True)
class BodyPace:
    """How slowly a request body may arrive."""

    idle_s: float  # at most this long without data
    total_s: float  # all in within this long
    min_bytes_per_s: int  # on average, once grace_s has been spent waiting; 0: no floor
    grace_s: float

    def floor_left_s(self, received: int, waited_s: float) -> float:
        """How much longer a body may keep us waiting before its average is under the floor."""
        if not self.min_bytes_per_s:
            return math.inf
        return max(self.grace_s, received / self.min_bytes_per_s) - waited_s


class _TimedBody:
    def __init__(self, scope: Scope, receive: Receive, send: Send, pace: BodyPace) -> None:
        self._scope, self._receive, self._send = scope, receive, send
        self.pace = pace
        self.deadline: float | None = None
        self.received, self.waited_s = 0, 0.0
        self.body_done = self.started = False

    async def receive(self) -> Message:
        if self.body_done:
            return await self._receive()  # e.g. a response waiting for a disconnect
        now = asyncio.get_running_loop().time()
        if self.deadline is None:
            self.deadline = now + self.pace.total_s
        limits = {
            f"{self.pace.idle_s:g} s without data": self.pace.idle_s,
            f"{self.pace.total_s:g} s in all": self.deadline - now,
            f"under {self.pace.min_bytes_per_s} bytes/s on average": self.pace.floor_left_s(
                self.received, self.waited_s
            ),
        }
        reason = min(limits, key=limits.__getitem__)
        try:
            async with asyncio.timeout(limits[reason]):
                message = await self._receive()
        except TimeoutError:
            if not self.started:
                await self._answer_408(reason)
            raise BodyTimedOut from None
        self.waited_s += asyncio.get_running_loop().time() - now
        self.received += len(message.get("body", b""))
        self.body_done = message["type"] != "http.request" or not message.get("more_body")
        return message

    async def send(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)

    async def _answer_408(self, reason: str) -> None:
        response = envelope_error(408, f"request body too slow: {reason}", {"Connection": "close"})
        await response(self._scope, self._receive, self.send)


class Reserved:
    """Bounds the requests to RESERVED_PATHS in progress at once: being outside
    max_connections, they need a bound of their own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.in_progress = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in RESERVED_PATHS:
            await self.app(scope, receive, send)
            return
        if self.in_progress >= RESERVED_AT_ONCE:
            message = f"over {RESERVED_AT_ONCE} health and metrics requests at once"
            await envelope_error(503, message, {"Retry-After": "1"})(scope, receive, send)
            return
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1


def uvicorn_config(
    app: ASGIApp, settings: Settings, *, host: str, port: int, **options: Any
) -> uvicorn.Config:
    """uvicorn's configuration with the slow-client limits of `settings`; `options` add more."""

    class Protocol(SlowClientProtocol):
        header_timeout_s = settings.header_timeout_s
        max_connections = settings.max_connections

    return uvicorn.Config(
        Reserved(app),
        host=host,
        port=port,
        http=Protocol,
        ws="none",  # no route is a websocket; an upgrade request is served as plain HTTP
        timeout_keep_alive=settings.keep_alive_s,
        limit_concurrency=settings.max_connections,  # the protocol sets it for each request
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
        **options,
    )
