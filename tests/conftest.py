"""Shared fixtures: real settings in a temporary data dir, and a real server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import stamina

from rendergate.config import Settings, load_settings
from support.server import RunningServer, serve

APPS = Path(__file__).parent / "support" / "apps.toml"


@pytest.fixture(autouse=True)
def _fast_retries() -> None:
    stamina.set_testing(True, attempts=3)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(os.environ):
        if name.startswith("RENDERGATE_") and not name.startswith("RENDERGATE_TEST_"):
            monkeypatch.delenv(name)
    return load_settings(data_dir=tmp_path / "data", apps_file=APPS)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    async with serve(settings) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP session for an adapter built by hand (the composition root opens its own)."""
    async with aiohttp.ClientSession() as session:
        yield session
