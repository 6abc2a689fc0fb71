"""Fixtures of the web page's browser tests (test_web*.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser

from support.browser import VIEWPORTS, chromium


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, one per test (its contexts are the test's visits)."""
    async with chromium() as launched:
        yield launched


@pytest.fixture(params=sorted(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    """Each flow at a desktop's 1280x800 and a phone's 390x844."""
    return str(request.param)
