"""Shared fixtures: real settings in a temporary data dir, and a real server."""

from __future__ import annotations

import faulthandler
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import stamina

from rendergate.config.settings import Settings, load_settings
from support.emulators import aliyun, emulator, hands, stepped
from support.fast import _in_process_unless_slow
from support.pg import fresh_database, pg_url_or_skip
from support.server import RunningServer, serve

APPS = Path(__file__).parent / "support" / "apps.toml"
EXIT_GRACE_S = 120  # what the interpreter may take to exit once every test has run
# the emulator fixtures and the fast set's guard, shared with emulators/tests
__all__ = ["_in_process_unless_slow", "aliyun", "emulator", "hands", "stepped"]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """A thread a test left behind (say, DBOS retrying a write to a database the test has
    dropped) would keep the interpreter from exiting, and the suite would hang with its
    result already printed. Past the grace, every thread's stack is printed and the run
    exits with status 1, so the leak is a failure with a cause, not a silent timeout."""
    faulthandler.dump_traceback_later(EXIT_GRACE_S, exit=True, file=sys.__stderr__)


@pytest.fixture(autouse=True)
def _fast_retries() -> None:
    stamina.set_testing(True, attempts=3)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(os.environ):
        if name.startswith("RENDERGATE_") and not name.startswith("RENDERGATE_TEST_"):
            monkeypatch.delenv(name)
    # Open mode (no key needed until a test makes one), for every settings the test builds
    monkeypatch.setenv("RENDERGATE_OPEN", "true")
    return load_settings(data_dir=tmp_path / "data", apps_file=APPS)


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh database on the suite's PostgreSQL, dropped after the test (skips without)."""
    with fresh_database(pg_url_or_skip()) as url:
        yield url


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    async with serve(settings) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP session for an adapter built by hand (the composition root opens its own)."""
    async with aiohttp.ClientSession() as session:
        yield session
