"""The pooled key each task's row records (tasks.provider_account), for the pool tests."""

from __future__ import annotations

import sqlalchemy as sa

from rendergate.config.settings import Settings
from rendergate.store.sql import create_engine
from rendergate.store.tables import tasks


async def accounts_of(settings: Settings) -> dict[int, str | None]:
    """Each task's recorded key id, from its row."""
    engine = create_engine(settings.task_database_url)
    try:
        async with engine.connect() as connection:
            query = sa.select(tasks.c.task_id, tasks.c.provider_account)
            return {row[0]: row[1] for row in (await connection.execute(query)).all()}
    finally:
        await engine.dispose()
