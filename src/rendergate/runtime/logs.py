"""structlog through the standard library, so our logs, uvicorn's and DBOS's share one format.

Logging an error must stay cheap whatever the error: tracebacks are plain text (never
rich's, which print every frame's local variables, API keys among them), hold at most
MAX_FRAMES frames per exception, and every line is cut to MAX_LINE_CHARS and scrubbed
of the settings' secrets before it is written, in both formats.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterable
from typing import Any

import structlog

from rendergate.redaction import Redactor

MAX_FRAMES = 30
MAX_LINE_CHARS = 16_000
_HEAD_CHARS = 4_000  # what is kept of a cut line's start; the rest comes from its end


def configure_logging(
    level: str = "info", *, json_lines: bool = False, secrets: Iterable[str] = ()
) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                format_exception,
                SafeRenderer(renderer, Redactor(secrets)),
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "dbos"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # aiosqlite logs every statement with its parameters at debug level: webhook tokens
    logging.getLogger("aiosqlite").setLevel(max(root.level, logging.INFO))


def bounded_traceback(error: BaseException) -> str:
    """The traceback as the interpreter prints it (no locals; a recursion's repeated frames
    folded), keeping only the innermost MAX_FRAMES frames of each exception."""
    lines = traceback.format_exception(type(error), error, error.__traceback__, limit=-MAX_FRAMES)
    return "".join(lines).rstrip()


def format_exception(
    logger: object, name: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Replaces `exc_info` by a bounded plain-text traceback under `exception`."""
    exc_info = event.pop("exc_info", None)
    error = _error_of(exc_info)
    if error is not None:
        event["exception"] = bounded_traceback(error)
    return event


def _error_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1] if isinstance(exc_info[1], BaseException) else None
    if exc_info:
        return sys.exc_info()[1]
    return None


class SafeRenderer:
    """Wraps the renderer: its line is scrubbed of secrets and cut to MAX_LINE_CHARS."""

    def __init__(self, renderer: structlog.types.Processor, redactor: Redactor) -> None:
        self._renderer = renderer
        self._redactor = redactor

    def __call__(self, logger: Any, name: str, event: structlog.types.EventDict) -> str:
        line = str(self._renderer(logger, name, event))
        return self._redactor.scrub(cut(line))


def cut(line: str, limit: int = MAX_LINE_CHARS) -> str:
    if len(line) <= limit:
        return line
    tail = limit - _HEAD_CHARS
    dropped = len(line) - limit
    return f"{line[:_HEAD_CHARS]} … [{dropped:,} characters cut] … {line[-tail:]}"
