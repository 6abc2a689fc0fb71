"""Logging an error costs milliseconds and a bounded number of bytes, and never prints a
frame's local variables or a configured secret, in either format."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import structlog

from rendergate.runtime.logs import MAX_LINE_CHARS
from support.logs import captured_logs

KEY = "0123456789abcdef0123456789abcdef"


def _recurse(depth: int, request: dict[str, Any]) -> None:
    if depth == 0:
        raise ValueError("the upstream said: " + "x" * 200_000)
    _recurse(depth - 1, request)


def _deep_error() -> ValueError:
    request = {"apiKey": KEY, "params": {"huge": "h" * 100_000}}  # a local, never printed
    try:
        _recurse(900, request)
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize("json_lines", [True, False])
def test_an_error_from_deep_recursion_logs_a_short_plain_traceback(json_lines: bool) -> None:
    error = _deep_error()
    with captured_logs(json_lines=json_lines, secrets=[KEY]) as out:
        structlog.get_logger("t").error("unhandled error", exc_info=error, key=KEY)
        logging.getLogger("uvicorn.error").error("Exception in ASGI", exc_info=error)
    text = out.getvalue()
    lines = text.splitlines() if json_lines else [text]
    assert len(text) < 2 * (MAX_LINE_CHARS + 200), len(text)  # two events, each cut
    assert KEY not in text and "[redacted]" in text
    assert "hhhhhhhhhh" not in text and "apiKey" not in text  # no locals
    assert "_recurse" in text and "Previous line repeated" in text  # a folded recursion
    assert "characters cut" in text  # the 200 KB message did not go out whole
    if json_lines:
        events = [json.loads(line) for line in lines]
        assert [e["event"] for e in events] == ["unhandled error", "Exception in ASGI"]
        assert all("ValueError: the upstream said" in e["exception"] for e in events)


def test_foreign_and_plain_records_are_scrubbed_too() -> None:
    with captured_logs(json_lines=False, secrets=[KEY, "hunter2-password"]) as out:
        logging.getLogger("dbos").warning("connect postgresql://u:hunter2-password@h")
        structlog.get_logger("t").info("call", body={"apiKey": KEY})
    text = out.getvalue()
    assert KEY not in text and "hunter2-password" not in text
    assert text.count("[redacted]") == 2
