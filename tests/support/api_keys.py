"""API keys made in the test's process, as `rendergate keys create` stores them."""

from __future__ import annotations

from datetime import UTC, datetime

from rendergate.config.settings import Settings
from rendergate.domain.keys import new_key
from rendergate.store.keys import KeyStore
from rendergate.store.sql import create_engine
from support.server import RunningServer


async def key_headers(server: RunningServer, settings: Settings, name: str) -> dict[str, str]:
    """A new API key's headers, known to the running server at once."""
    token, key = new_key(name, now=datetime.now(UTC))
    engine = create_engine(settings.task_database_url)
    try:
        await KeyStore(engine).add(key)
    finally:
        await engine.dispose()
    server.services.keys.refresh()
    return {"Authorization": f"Bearer {token}"}
