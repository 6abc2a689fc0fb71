"""The unit tests' world of use cases (support/world.py); test_fallback_steps.py has a
world of its own, with a scripted first provider."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from rendergate.config.settings import Settings
from support.world import World, open_world


@pytest.fixture
async def world(settings: Settings) -> AsyncIterator[World]:
    async with open_world(settings) as opened:
        yield opened
