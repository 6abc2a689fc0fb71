"""rendergate's own logging set up as `rendergate serve` does, written to a buffer."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterable, Iterator

import structlog

from rendergate.runtime.logs import configure_logging


@contextlib.contextmanager
def captured_logs(
    *, json_lines: bool = True, secrets: Iterable[str] = (), level: str = "debug"
) -> Iterator[io.StringIO]:
    """Everything logged inside the block, in the chosen format; logging is put back after."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    configure_logging(level, json_lines=json_lines, secrets=secrets)
    # A logger cached on first use would keep these processors after the block, and a later
    # test's structlog.testing.capture_logs would see nothing from it.
    structlog.configure(cache_logger_on_first_use=False)
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:], level_before = saved
        root.setLevel(level_before)
        structlog.reset_defaults()
