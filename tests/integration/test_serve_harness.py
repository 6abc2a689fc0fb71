"""Starting servers in one test process (support/server.py): a start-up that fails is an
error pytest reports, not the SystemExit uvicorn leaves with (which took down the xdist
worker that ran it), and it leaves the process to the next worker."""

from __future__ import annotations

import base64
import functools
import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rendergate.config.settings import Settings
from support.images import make_scene
from support.process import free_port, listens_on, wait_answering
from support.server import serve

IMAGE = base64.b64encode(make_scene(32, 24)).decode()


async def test_a_server_that_cannot_start_is_an_error_not_an_exit(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=r"the server did not start \(uvicorn exit 3\)"):
            async with serve(settings, port=port):
                pass  # pragma: no cover - it never starts


async def test_a_worker_that_fails_to_launch_leaves_the_process_to_the_next(
    settings: Settings, tmp_path: Path
) -> None:
    """DBOS refusing to launch (its system database is a directory, not a SQLite file) must
    undo the runner the worker installed: left behind, it refused every later worker in the
    process ("a DBOS worker is already running"), which failed 136 tests of a fresh-clone
    run after one such start."""
    broken = settings.model_copy(update={"dbos_database_url": f"sqlite:///{tmp_path}"})
    with pytest.raises(RuntimeError, match="the server did not start"):
        async with serve(broken):
            pass  # pragma: no cover - it never starts
    async with serve(settings) as server:  # the next worker in this process runs
        task = await server.completed({"type": "fake", "image_base64": IMAGE})
        assert task["status"] == "completed"


@pytest.mark.slow  # starts processes
def test_a_port_is_ours_only_once_our_process_listens_on_it(tmp_path: Path) -> None:
    """A neighbour that took the port answers 200 there, but waiting for our process goes
    on until ours listens (here: never, so the wait times out); one that binds it is seen."""
    (tmp_path / "ok.json").write_text('{"ok": true}')
    files = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), files) as neighbour:
        threading.Thread(target=neighbour.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{neighbour.server_address[1]}/ok.json"
        idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            with pytest.raises(AssertionError, match="timed out after 2 s"):
                wait_answering(idle, url, 2.0)  # the neighbour's 200 is not our process's
        finally:
            idle.kill()
            idle.wait(10)
            neighbour.shutdown()
    port = free_port()
    server = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "-d", tmp_path, str(port)]
    serving = subprocess.Popen(server, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_answering(serving, f"http://127.0.0.1:{port}/ok.json", 20.0) == {"ok": True}
        assert listens_on(serving.pid, port) and not listens_on(os.getpid(), port)
    finally:
        serving.kill()
        serving.wait(10)
