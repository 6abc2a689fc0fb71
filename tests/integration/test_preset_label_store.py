"""A preset's label in the presets table, on SQLite and PostgreSQL: stored and read back by
version, and presets stored before migration 0022 read back with none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.config.settings import Settings
from rendergate.domain.presets import Preset
from rendergate.store.presets import SqlPresetStore
from rendergate.store.sql import MIGRATIONS, create_engine, migrate
from support.pg import DATABASES, on_database

AT = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)


@pytest.fixture(params=DATABASES)
async def engine(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    settings = on_database(settings, request)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.task_database_url)
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()


def _downgrade(connection: sa.Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def preset(version: int, label: str) -> Preset:
    return Preset(name="facade", version=version, app="preview", label=label, created_at=AT)


async def test_a_label_is_stored_with_each_version(engine: AsyncEngine) -> None:
    store = SqlPresetStore(engine)
    await store.add(preset(1, "Façade, blue hour"))
    await store.add(preset(2, ""))
    first = await store.version("", "facade", 1)
    assert first is not None and first.label == "Façade, blue hour"
    latest = await store.latest("", "facade")
    assert latest is not None and latest.label == ""
    assert [p.label for p in await store.all("")] == [""]


async def test_presets_stored_before_labels_read_back_with_none(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_downgrade, "0021")
        await connection.execute(
            sa.text(
                "INSERT INTO presets (owner, name, version, app, params, description, created_at)"
                " VALUES ('', 'old', 1, 'preview', '{}', 'from before', :at)"
            ),
            {"at": AT},
        )
    await migrate(engine)
    old = await SqlPresetStore(engine).latest("", "old")
    assert old is not None and (old.label, old.description) == ("", "from before")
