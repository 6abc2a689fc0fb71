"""The suite's one wait: the condition's first truthy value, or a failure naming what."""

from __future__ import annotations

import itertools

import pytest

from support.waiting import until, until_sync


async def test_until_returns_the_first_truthy_value_of_a_function_or_a_coroutine() -> None:
    counts = itertools.count()
    assert await until(lambda: next(counts) >= 3 and "third", 5, "a count", every_s=0) == "third"

    async def later() -> int:
        return next(counts)

    assert await until(later, 5, "any count past zero", every_s=0) == 4


async def test_until_fails_after_its_timeout_naming_what_it_waited_for() -> None:
    seen = []
    with pytest.raises(AssertionError, match=r"after 0\.05 s waiting for the sky: \['grey'\]"):
        await until(lambda: seen.append("grey"), 0.05, lambda: f"the sky: {seen[-1:]}")
    assert len(seen) >= 2  # asked again before giving up


def test_until_sync_waits_without_an_event_loop() -> None:
    counts = itertools.count()
    assert until_sync(lambda: next(counts) == 2, 5, "two", every_s=0) is True
    with pytest.raises(AssertionError, match=r"after 0\.01 s waiting for nothing"):
        until_sync(lambda: None, 0.01, "nothing")
