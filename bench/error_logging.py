"""What logging one unexpected error costs: time and bytes, in both log formats.

    python bench/error_logging.py [--repeat 5] [--with-before]

The error is the one a hostile request once caused: raised 900 frames deep, with a 4 KB
request and a 200 KB message in scope. Each format is measured as rendergate configures it
(runtime/logs.py), against two baselines from the same run: one plain info line, and
with `--with-before`, structlog's default console renderer (rich tracebacks with local
variables, what rendergate used before; it takes minutes). Prints the median time and the
bytes written per error. Exits 0.
"""

from __future__ import annotations

import argparse
import io
import logging
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import structlog

from _children import machine_info
from rendergate.runtime.logs import configure_logging


def _recurse(depth: int, request: dict[str, Any]) -> None:
    if depth == 0:
        raise ValueError("the upstream said: " + "x" * 200_000)
    _recurse(depth - 1, request)


def deep_error() -> ValueError:
    request = {"apiKey": "k" * 32, "params": {"deep": "[" * 2000}}
    try:
        _recurse(900, request)
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


def timed(emit: Callable[[], None], out: io.StringIO, repeat: int) -> tuple[float, int]:
    """Median seconds of one emit, and the bytes it wrote."""
    times, sizes = [], []
    for _ in range(repeat):
        out.seek(0)
        out.truncate()
        started = time.perf_counter()
        emit()
        times.append(time.perf_counter() - started)
        sizes.append(len(out.getvalue().encode()))
    return statistics.median(times), statistics.median(sizes)


def route_to(out: io.StringIO) -> None:
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)


def measure_format(
    fmt: str, error: Exception, out: io.StringIO, repeat: int
) -> list[tuple[str, float, int]]:
    log = structlog.get_logger("bench")
    return [
        (f"{fmt}: one info line", *timed(lambda: log.info("ok"), out, repeat)),
        (
            f"{fmt}: the deep error",
            *timed(lambda: log.error("unhandled error", exc_info=error), out, repeat),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--with-before", action="store_true", help="also the old renderer")
    args = parser.parse_args()
    error, out = deep_error(), io.StringIO()
    rows: list[tuple[str, float, int]] = []
    for json_lines in (False, True):
        configure_logging("info", json_lines=json_lines)
        route_to(out)
        rows += measure_format("json" if json_lines else "console", error, out, args.repeat)
    if args.with_before:  # structlog's default: ConsoleRenderer, rich tracebacks with locals
        structlog.reset_defaults()
        structlog.configure(logger_factory=structlog.PrintLoggerFactory(out))
        before = structlog.get_logger("bench")
        emit = lambda: before.error("unhandled error", exc_info=error)  # noqa: E731
        rows.append(("before: rich traceback with locals", *timed(emit, out, 1)))
    print(machine_info())
    print(f"{'what is logged':<40} {'ms':>9} {'bytes':>11}")
    for name, seconds, size in rows:
        print(f"{name:<40} {seconds * 1000:9.2f} {size:11,}")


if __name__ == "__main__":
    sys.setrecursionlimit(5000)
    main()
