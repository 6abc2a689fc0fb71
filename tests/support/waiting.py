"""The one way a test waits for what nothing announces (a row another process writes, a port
opening, a key the server has yet to read): poll a condition until it holds, or fail once its
deadline passes, saying what was awaited. Where an event exists, wait on the event instead."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
EVERY_S = 0.05

# What the test waits for, for the failure message: a phrase, or a function saying it then
# (to show the last value the condition saw).
What = str | Callable[[], object]


async def until(
    condition: Callable[[], T | Awaitable[T]],
    timeout_s: float,
    what: What,
    *,
    every_s: float = EVERY_S,
) -> T:
    """The first truthy value of `condition` (a function, or a coroutine function), asked
    every `every_s`; fails after `timeout_s` naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        assert time.monotonic() < deadline, timed_out(what, timeout_s)
        await asyncio.sleep(every_s)


def until_sync(
    condition: Callable[[], T], timeout_s: float, what: What, *, every_s: float = EVERY_S
) -> T:
    """`until` for a test with no event loop (its server is another process)."""
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, timed_out(what, timeout_s)
        time.sleep(every_s)
    return value


def timed_out(what: What, timeout_s: float) -> str:
    return f"timed out after {timeout_s:g} s waiting for {what() if callable(what) else what}"
