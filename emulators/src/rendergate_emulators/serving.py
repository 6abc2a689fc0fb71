"""Serving an emulator's aiohttp application on 127.0.0.1 (or `host`), shared by every emulator."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def serve_app(app: web.Application, host: str, port: int) -> AsyncIterator[str]:
    """Serves `app` until the block ends and yields its base URL; port 0 picks a free port.

    No signal handlers and no access log; at the end, handlers still running get 2 s.
    """
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield f"http://{host}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
