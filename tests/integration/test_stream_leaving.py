"""A stream's client leaving while the stream reads the database (services/streams.py).

Starlette ends a stream whose client left by cancelling its anyio cancel scope, which
cancels again at every await. When that cut a read of SQLAlchemy's aiosqlite connection,
the connection's closing task stayed pending forever: asyncio logged "Task was destroyed
but it is pending!" and the loop could not close. The test leaves streams at many points
of their first reads, on a real SQLite file.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.domain.task import Task
from rendergate.services.changes import Changes
from rendergate.services.streams import follow
from rendergate.store.events import SqlEventLog
from rendergate.store.sql import SqlTaskStore, create_engine, migrate

LEAVINGS = 150  # each leaves at a later point of the first reads (about 2 ms of them)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}")
    await migrate(engine)
    yield engine
    await engine.dispose()


async def _read_until_left(stream: AsyncIterator[object]) -> None:
    async for _ in stream:
        pass


async def test_a_client_leaving_mid_read_leaves_no_connection_behind(engine: AsyncEngine) -> None:
    store, log, changes = SqlTaskStore(engine), SqlEventLog(engine), Changes()
    now = datetime.now(UTC)
    task = Task(task_id=1, app="fake", provider="fake", created_at=now, updated_at=now)
    await store.add(task)
    problems: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: problems.append(context))
    try:
        for leaving in range(LEAVINGS):
            stream = follow(task, store=store, changes=changes, log=log)
            async with anyio.create_task_group() as group:
                group.start_soon(_read_until_left, stream)
                await asyncio.sleep(leaving * 2e-3 / LEAVINGS)
                group.cancel_scope.cancel()  # what Starlette does when a client leaves
            await stream.aclose()
        gc.collect()
        assert engine.pool.checkedout() == 0
    finally:
        loop.set_exception_handler(None)
    assert [p["message"] for p in problems] == []
