"""The test harness's server (support/server.py): a start-up that fails is an error pytest
reports, not the SystemExit uvicorn leaves with, which took down the xdist worker that ran
it (a fresh-clone run lost its report that way)."""

from __future__ import annotations

import socket

import pytest

from rendergate.config.settings import Settings
from support.server import serve


async def test_a_server_that_cannot_start_is_an_error_not_an_exit(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=r"the server did not start \(uvicorn exit 3\)"):
            async with serve(settings, port=port):
                pass  # pragma: no cover - it never starts
