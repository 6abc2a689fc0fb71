"""Two API processes on one PostgreSQL: a poll answered from the kept answer of an
unfinished task never shows a version older than another process has already answered.

Each API process runs in the test's process with its own connections and NOTIFY listener,
as separate processes would (test_cluster_push.py); the writes go through the first's
store, the polls the kept answers serve go to the second."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from test_read_path import get

from rendergate.config.settings import Settings, load_settings
from rendergate.domain.task import JobHandle, Task
from rendergate.runtime.dbos_setup import migrate_system_database
from rendergate.runtime.pg_rounds import CatchUp
from rendergate.services.creating import new_task_id
from rendergate.store.events import CHANNEL as CHANGES_CHANNEL
from rendergate.store.sql import create_engine
from support.server import RunningServer, serve

pytestmark = pytest.mark.pg


@pytest.fixture
async def pair(settings: Settings, pg_database: str) -> AsyncIterator[tuple[RunningServer, ...]]:
    live = load_settings(
        data_dir=settings.data_dir, apps_file=settings.apps_file, database_url=pg_database
    )
    migrate_system_database(live.system_database_url)
    async with serve(live, worker=False) as first, serve(live, worker=False) as second:
        yield first, second


async def test_a_kept_answer_is_never_older_than_another_process_answered(
    pair: tuple[RunningServer, RunningServer],
) -> None:
    first, second = pair
    store, at = first.services.store, datetime.now(UTC)
    task = Task(task_id=new_task_id(), app="fake", provider="fake", created_at=at, updated_at=at)
    await store.add(task)
    moved = await store.save(task, task.start(now=at, provider_job=JobHandle(job_id="j")))
    assert moved is not None
    task = moved
    await get(second, task.task_id)
    kept = second.app.state.unfinished_bodies
    assert kept.get(task.task_id) is not None  # the second's next poll is the kept answer
    for progress in range(10, 60, 10):
        stored = await store.save(task, task.report(now=datetime.now(UTC), progress=progress))
        assert stored is not None
        task = stored
        # Told by NOTIFY a moment after the commit; once caught up, the old answer is gone
        assert await second.services.changes.caught_up()
        left = kept.get(task.task_id)
        assert left is None or left.version >= task.version, (left, task.version)
        seen, _ = await get(first, task.task_id)  # a client reads the new version here...
        assert seen["progress"] == progress
        assert (await get(second, task.task_id))[0] == seen  # ...and never the older there
        again = kept.get(task.task_id)
        assert again is not None and again.version == task.version  # kept again


@pytest.fixture
async def engine(pg_database: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(pg_database)
    yield made
    await made.dispose()


async def test_a_round_comes_back_after_every_change_committed_before_it(
    engine: AsyncEngine, pg_database: str
) -> None:
    """The listener is the test's here, so it decides when a round is heard: one round
    answers every poll waiting at once, and only after the change committed before it."""
    catch_up = CatchUp(engine)
    dsn = pg_database.replace("postgresql+psycopg://", "postgresql://", 1)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as listener:
        await listener.execute(f"LISTEN {CHANGES_CHANNEL}")
        await listener.execute(f"LISTEN {catch_up.channel}")
        catch_up.connected = True
        async with engine.begin() as connection:  # another process's write, committed
            await connection.execute(sa.select(sa.func.pg_notify(CHANGES_CHANNEL, "42:0")))
        polls = [asyncio.create_task(catch_up.caught_up()) for _ in range(10)]
        change, round_ = await notes(listener, 2)
        assert (change.channel, change.payload) == (CHANGES_CHANNEL, "42:0")  # first
        assert round_.channel == catch_up.channel
        assert not any(poll.done() for poll in polls)  # not before the round is heard
        catch_up.heard(round_.payload)
        assert await asyncio.gather(*polls) == [True] * 10
        lost = asyncio.create_task(catch_up.caught_up())
        [again] = await notes(listener, 1)
        assert again.channel == catch_up.channel  # the next round is out
        catch_up.lost()  # the listener's connection dropped before it came back
        assert await lost is False
        assert await catch_up.caught_up() is False  # until the listener is back


async def notes(listener: psycopg.AsyncConnection[Any], count: int) -> list[psycopg.Notify]:
    """The next `count` notifications, in the order the listener receives them."""
    return [note async for note in listener.notifies(timeout=30, stop_after=count)]
