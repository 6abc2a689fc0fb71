"""SIGTERM on a serving process: the requests under way finish, new ones are turned away,
and the process exits cleanly."""

from __future__ import annotations

import asyncio
import signal
import urllib.error
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from support.images import make_scene
from support.process import http_json, serving
from support.waiting import until

pytestmark = pytest.mark.slow  # starts `rendergate serve`

BOUNDARY = "rendergate-test-boundary"


def task_form(image: bytes) -> bytes:
    """A create-task form for the fake app, as multipart bytes (sent in two halves)."""
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="type"\r\n\r\nfake\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


async def test_sigterm_lets_a_request_under_way_finish(tmp_path: Path) -> None:
    body = task_form(make_scene(96, 64))
    half = len(body) // 2
    first_half_sent, go_on = asyncio.Event(), asyncio.Event()

    async def slowly() -> AsyncIterator[bytes]:
        yield body[:half]
        first_half_sent.set()
        await go_on.wait()  # the server is shutting down by now
        yield body[half:]

    log = tmp_path / "serve.log"
    with serving(tmp_path / "data", log, RENDERGATE_LOG_LEVEL="info") as server:
        async with aiohttp.ClientSession() as http:
            headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
            request = asyncio.ensure_future(
                http.post(f"{server.url}/tasks", data=slowly(), headers=headers)
            )
            await asyncio.wait_for(first_half_sent.wait(), 10)
            server.process.send_signal(signal.SIGTERM)
            await until(lambda: "Shutting down" in log.read_text(), 15, "the shutdown to begin")
            with pytest.raises(urllib.error.URLError):  # a new connection is turned away
                http_json("GET", f"{server.url}/healthz")
            go_on.set()
            async with await request as response:
                assert response.status == 201, await response.text()
                created = await response.json()
        # uvicorn shuts down cleanly, then dies of the signal it caught, so that a supervisor
        # sees a SIGTERM exit (systemd counts it a clean stop)
        assert await asyncio.to_thread(server.process.wait, 30) == -signal.SIGTERM
    assert "Application shutdown complete" in log.read_text()
    assert created["data"]["status"] == "submitted" and created["data"]["task_id"]
