"""A webhook receiver on 127.0.0.1 that verifies each delivery with `standardwebhooks`,
as a client's would, and answers as the test scripts it (fail first, hang, recover)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    payload: Any | None  # None: the signature did not verify


@dataclass
class Receiver:
    secrets: list[str]
    answers: list[int] = field(default_factory=list)  # statuses to answer, in turn; then 204
    hang_first: int = 0  # this many first requests never answer
    hold_from: int = 0  # requests from this one on (1 the first) wait for `release`; 0: none
    release: asyncio.Event = field(default_factory=asyncio.Event)
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    url: str = ""

    def verified(self) -> list[Any]:
        return [r.payload for r in self.received if r.payload is not None]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        payload = None
        for secret in self.secrets:
            with contextlib.suppress(WebhookVerificationError):
                payload = Webhook(secret).verify(body, dict(request.headers))
                break
        async with self.arrived:
            self.received.append(Received(dict(request.headers), body, payload))
            self.arrived.notify_all()
            position = len(self.received)
        if position <= self.hang_first:
            await asyncio.sleep(3600)
        if 0 < self.hold_from <= position:
            await self.release.wait()
        status = self.answers.pop(0) if self.answers else 204
        return web.Response(status=status)

    async def until(self, count: int, timeout_s: float = 20.0) -> list[Received]:
        """Waits for `count` requests in all."""
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(lambda: len(self.received) >= count), timeout_s
            )
        return self.received


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver, path: str = "/hook") -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post(path, receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}{path}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
