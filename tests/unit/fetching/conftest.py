"""The fetcher tests' fixtures: the fake DNS, a spy on connection attempts, a release."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import pytest

from support.fetching import FakeDns, _answering


@pytest.fixture
def dns() -> Iterator[FakeDns]:
    """Names resolved from a table, given to every fetcher() of the test (UrlFetcher's
    `resolver`)."""
    fake = FakeDns()
    _answering.append(fake)
    yield fake
    _answering.remove(fake)


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Hosts the connector was asked to connect to: proves a refusal came before any attempt."""
    seen: list[str] = []
    original = aiohttp.BaseConnector.connect

    async def spy(
        self: aiohttp.BaseConnector, req: aiohttp.ClientRequest, *args: object, **kw: object
    ) -> aiohttp.connector.Connection:
        seen.append(str(req.url.host))
        return await original(self, req, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(aiohttp.BaseConnector, "connect", spy)
    return seen


@pytest.fixture
def release() -> asyncio.Event:
    return asyncio.Event()
