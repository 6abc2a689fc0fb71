"""What `make test-fast` leaves out of the integration tests is marked `slow`: a test that
starts a process (the CLI, a server, a worker, a browser) or waits out real timers for
seconds. With RENDERGATE_TEST_FAST=1 (as `make test-fast` runs), an integration test not so
marked that starts a process fails, naming the mark, so the fast set stays what it says.
(The unit tests all run: the few that start one, say `git`, take a moment.)"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest

FAST = os.environ.get("RENDERGATE_TEST_FAST") == "1"
PROCESS_EVENTS = {"subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec", "os.system"}
_started: list[str] = []  # the test under way, while it may start no process


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _started and event in PROCESS_EVENTS:
        raise RuntimeError(
            f"{_started[0]} starts a process ({event} {args[:2]!r}) and is not marked slow: "
            "`make test-fast` runs only tests that do not; mark it @pytest.mark.slow"
        )


if FAST:
    sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def _in_process_unless_slow(request: pytest.FixtureRequest) -> Iterator[None]:
    if not FAST or request.node.get_closest_marker("slow") or "unit" in request.node.path.parts:
        yield
        return
    _started[:] = [request.node.nodeid]
    try:
        yield
    finally:
        _started.clear()
