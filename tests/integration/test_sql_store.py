"""SqlTaskStore on real databases: SQLite always, PostgreSQL when RENDERGATE_TEST_PG_URL is set."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.domain.errors import TaskNotFound
from rendergate.domain.events import Attempt, DeliveryState, EventType
from rendergate.domain.task import (
    ErrorKind,
    InputRef,
    JobHandle,
    ResultFile,
    Skip,
    Task,
    TaskStatus,
)
from rendergate.store.base import Claim, ClaimLost, Page, TaskIdTaken
from rendergate.store.codec import to_row
from rendergate.store.deliveries import SqlDeliveries
from rendergate.store.events import SqlEventLog
from rendergate.store.idempotency import SqlIdempotency
from rendergate.store.sql import MIGRATIONS, SqlTaskStore, create_engine, migrate
from rendergate.store.tables import tasks

PG_URL = os.environ.get("RENDERGATE_TEST_PG_URL")
T0 = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
ID = 2**52 + 12345  # beyond 32 bits, as real ids are


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "pg",
            marks=[
                pytest.mark.pg,
                pytest.mark.skipif(PG_URL is None, reason="RENDERGATE_TEST_PG_URL is not set"),
            ],
        ),
    ]
)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'tasks.db'}")
        await migrate(engine)
        yield engine
        await engine.dispose()
        return
    assert PG_URL is not None
    name = f"rg_test_{uuid.uuid4().hex[:12]}"  # a fresh database per test
    admin = create_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(make_url(PG_URL).set(database=name).render_as_string(False))
    try:
        await migrate(engine)
        yield engine
    finally:
        await engine.dispose()
        async with admin.connect() as connection:
            await connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture
def store(engine: AsyncEngine) -> SqlTaskStore:
    return SqlTaskStore(engine)


def make(task_id: int, created_at: datetime = T0, **changes: Any) -> Task:
    fields: dict[str, Any] = {"task_id": task_id, "app": "fake", "provider": "fake"}
    fields |= {"created_at": created_at, "updated_at": created_at} | changes
    return Task(**fields)


def full_task() -> Task:
    plus8 = timezone(timedelta(hours=8))
    return make(
        ID,
        created_at=T0.astimezone(plus8),  # any zone in, UTC out
        app="su_render",
        provider="runninghub",
        angle="front",
        params={"fake": {"polls": 2, "outcome": None}, "strength": 0.25, "tags": ["a", "日本"]},
        inputs={
            "image": InputRef(key=f"inputs/{ID}/image.png", content_type="image/png"),
            "reference": InputRef(key=f"inputs/{ID}/reference.jpg", content_type="image/jpeg"),
        },
        status=TaskStatus.COMPLETED,
        progress=100,
        queue_position=3,
        provider_job=JobHandle(job_id="rh-42", data={"attempt": 2, "nested": {"ok": True}}),
        outputs=(
            ResultFile(key=f"results/{ID}/0.png", content_type="image/png", size=1234),
            ResultFile(
                key=f"results/{ID}/1.jpg",
                content_type="image/jpeg",
                size=99,
                node_id="9",
                file_type="jpg",
            ),
        ),
        cost={"consumeCoins": 12, "taskCostTime": 3.5},
        error_message="a note with 'quotes' and ünïcode",
        error_kind=ErrorKind.PROVIDER,
        attempts=2,
        skipped=(
            Skip(provider="runninghub", reason="runninghub is at its limit: 'busy' (421)"),
            Skip(provider="aliyun", reason="provider 'aliyun' is not configured: ünïcode"),
        ),
        version=7,
        updated_at=T0 + timedelta(seconds=30),
        finished_at=T0 + timedelta(seconds=31, microseconds=1),
    )


async def test_a_full_task_round_trips(store: SqlTaskStore) -> None:
    task = full_task()
    await store.add(task)
    got = await store.get(ID)
    assert got == task
    for moment in (got.created_at, got.updated_at, got.finished_at):
        assert moment is not None and moment.utcoffset() == timedelta(0)
    assert got.created_at == T0 and got.created_at.microsecond == 123456
    assert isinstance(got.outputs, tuple) and all(isinstance(o, ResultFile) for o in got.outputs)
    assert got.status is TaskStatus.COMPLETED
    assert got.params["tags"] == ["a", "日本"] and got.params["fake"]["outcome"] is None
    assert isinstance(got.skipped, tuple) and got.skipped[1].provider == "aliyun"


async def test_a_minimal_task_round_trips_with_its_nulls(store: SqlTaskStore) -> None:
    task = make(7)
    await store.add(task)
    got = await store.get(7)
    assert got == task
    assert (got.provider_job, got.cost, got.finished_at, got.queue_position) == (None,) * 4
    assert (got.outputs, dict(got.params), dict(got.inputs), got.skipped) == ((), {}, {}, ())


async def test_add_refuses_a_taken_id_and_get_a_missing_one(store: SqlTaskStore) -> None:
    await store.add(make(ID))
    with pytest.raises(TaskIdTaken):
        await store.add(make(ID, app="other"))
    assert (await store.get(ID)).app == "fake"
    with pytest.raises(TaskNotFound) as missing:
        await store.get(ID + 1)
    assert missing.value.task_id == ID + 1


async def test_save_is_optimistic(store: SqlTaskStore) -> None:
    task = make(ID)
    await store.add(task)
    later = T0 + timedelta(seconds=5)
    first = await store.save(task, task.start(now=later, provider_job=JobHandle(job_id="j")))
    assert first is not None and first.version == 1
    assert await store.get(ID) == first
    assert await store.save(task, task.cancel(now=later)) is None  # stale version: refused
    assert await store.get(ID) == first
    second = await store.save(first, first.report(now=later, progress=40))
    assert second is not None and (second.version, second.progress) == (2, 40)
    assert await store.get(ID) == second
    assert await store.save(make(ID + 1), make(ID + 1, progress=5)) is None  # never added
    with pytest.raises(TaskNotFound):
        await store.get(ID + 1)


async def test_save_never_moves_created_at(store: SqlTaskStore) -> None:
    task = make(ID)
    await store.add(task)
    moved = make(ID, created_at=T0 + timedelta(days=1), progress=3)
    stored = await store.save(task, moved)
    assert stored is not None
    got = await store.get(ID)
    assert (got.created_at, got.progress, got.version) == (T0, 3, 1)


async def seed(store: SqlTaskStore) -> list[Task]:
    """Nine tasks, three sharing each created_at, with mixed statuses, apps and providers."""
    tasks = [
        make(
            ID + i * 7919 % 9,  # ids not in creation order
            created_at=T0 + timedelta(seconds=i // 3),
            app="fake_short" if i % 4 == 0 else "fake",
            provider="local" if i == 5 else "fake",
            status=TaskStatus.SUBMITTED if i % 3 else TaskStatus.PROCESSING,
        )
        for i in range(9)
    ]
    for task in tasks:
        await store.add(task)
    return tasks


def newest_first(tasks: list[Task]) -> list[int]:
    return [t.task_id for t in sorted(tasks, key=lambda t: (t.created_at, t.task_id), reverse=True)]


async def test_find_orders_newest_first_and_breaks_ties_by_id(store: SqlTaskStore) -> None:
    tasks = await seed(store)
    assert [t.task_id for t in await store.find(limit=100)] == newest_first(tasks)
    assert [t.task_id for t in await store.find(limit=4)] == newest_first(tasks)[:4]
    assert await store.find(limit=100) == sorted(
        tasks, key=lambda t: (t.created_at, t.task_id), reverse=True
    )


async def test_find_pages_through_ties_without_gaps_or_repeats(store: SqlTaskStore) -> None:
    tasks = await seed(store)
    seen: list[int] = []
    after: Page | None = None
    while page := await store.find(after=after, limit=2):
        seen += [t.task_id for t in page]
        after = Page(created_at=page[-1].created_at, task_id=page[-1].task_id)
    assert seen == newest_first(tasks)


async def test_find_filters_by_status_and_app(store: SqlTaskStore) -> None:
    tasks = await seed(store)
    done = tasks[4].fail(now=T0, message="x")
    assert await store.save(tasks[4], done) is not None
    tasks[4] = done

    async def ids(**filters: Any) -> list[int]:
        return [t.task_id for t in await store.find(limit=100, **filters)]

    def expect(keep: Any) -> list[int]:
        return newest_first([t for t in tasks if keep(t)])

    assert await ids(status=TaskStatus.FAILED) == [done.task_id]
    assert await ids(status=TaskStatus.SUBMITTED) == expect(lambda t: t.status == "submitted")
    assert await ids(app="fake_short") == expect(lambda t: t.app == "fake_short")
    assert await ids(app="fake", status=TaskStatus.PROCESSING) == expect(
        lambda t: t.app == "fake" and t.status == "processing"
    )
    assert await ids(app="nope") == []
    mid = Page(created_at=T0 + timedelta(seconds=1), task_id=tasks[4].task_id)
    before_mid = expect(lambda t: (t.created_at, t.task_id) < (mid.created_at, mid.task_id))
    submitted = set(expect(lambda t: t.status == "submitted"))
    assert await ids(status=TaskStatus.SUBMITTED, after=mid) == [
        i for i in before_mid if i in submitted
    ]


async def test_unfinished_is_oldest_first_and_skips_finished(store: SqlTaskStore) -> None:
    tasks = await seed(store)
    finished = {
        0: tasks[0].complete(now=T0, outputs=full_task().outputs),
        4: tasks[4].fail(now=T0, message="x"),
        8: tasks[8].cancel(now=T0),
    }
    for index, new in finished.items():
        assert await store.save(tasks[index], new) is not None
    open_tasks = [t for i, t in enumerate(tasks) if i not in (0, 4, 8)]
    assert [t.task_id for t in await store.unfinished()] == newest_first(open_tasks)[::-1]


async def test_waiting_ahead_counts_older_submitted_tasks_of_the_same_provider(
    store: SqlTaskStore,
) -> None:
    tasks = await seed(store)
    ordered = sorted(tasks, key=lambda t: (t.created_at, t.task_id))
    for task in tasks:
        expected = sum(
            1
            for other in ordered
            if other.provider == task.provider
            and other.status == "submitted"
            and (other.created_at, other.task_id) < (task.created_at, task.task_id)
        )
        assert await store.waiting_ahead(task) == expected, task
    last = ordered[-1]  # the newest: every other submitted `fake` task is ahead of it
    assert await store.waiting_ahead(last) == 5
    assert await store.waiting_ahead(make(1, created_at=T0 - timedelta(days=1))) == 0


async def test_migrate_is_idempotent(engine: AsyncEngine, store: SqlTaskStore) -> None:
    await store.add(make(ID))
    await migrate(engine)
    await migrate(engine)
    assert (await store.get(ID)).task_id == ID
    async with engine.connect() as connection:
        versions = (
            await connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        ).all()
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None and head >= "0003"
    assert [tuple(row) for row in versions] == [(head,)]


def _alembic(connection: sa.Connection, action: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


async def test_migration_0003_gives_existing_tasks_no_skips(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_alembic, "downgrade", "0002")
    row = to_row(make(ID))
    for later in (
        "skipped",
        "owner",
        "webhook_url",
        "webhook_events",
        "deadline_s",
        "files_expired_at",
        "kept_at",
        "link_base",
        "seed",
        "rerun_of",
        "preset",
        "preset_version",
        "parent_task_id",
        "parent_task_index",
        "then_steps",
        "batch_id",
        "view",
        "variation",
        "charge_amount",
        "charge_currency",
        "refunded",
        "spent_amount",
        "spent_currency",
        "spent_estimated",
    ):
        del row[later]  # a row written before fallbacks (and keys, webhooks, seeds) existed
    async with engine.begin() as connection:
        await connection.execute(tasks.insert().values(**row))
    await migrate(engine)
    store = SqlTaskStore(engine)
    old = await store.get(ID)
    assert old.skipped == () and old == make(ID)
    moved = old.fall_back(now=T0, to="local", reason="busy")
    assert await store.save(old, moved) is not None
    assert (await store.get(ID)).skipped == moved.skipped


async def test_a_visible_change_is_logged_with_its_task(
    store: SqlTaskStore, engine: AsyncEngine
) -> None:
    """Each write a client could see appends the version to the event log, in its
    transaction; a write that changes nothing a client sees appends nothing."""
    events = SqlEventLog(engine)
    task = make(ID)
    await store.add(task)
    started = task.start(now=T0, provider_job=JobHandle(job_id="j1"))
    stored = await store.save(task, started)
    assert stored is not None
    handled = await store.save(stored, stored.needs_resubmit(now=T0))  # nothing to see
    assert handled is not None
    logged = await events.after(ID, -1)
    assert [(event, t.version) for event, t in logged] == [
        ("task.submitted", 0),
        ("task.processing", 1),
    ]
    assert logged[1][1].status is TaskStatus.PROCESSING and logged[1][1].callback_token == ""
    assert await events.after(ID, 1) == []


async def test_a_leased_delivery_is_taken_again_only_once_its_lease_ran_out(
    engine: AsyncEngine,
) -> None:
    """A worker that died mid-try leaves its lease; the delivery is not lost, and no other
    worker takes it while the lease holds."""
    store = SqlTaskStore(engine)
    rows = SqlDeliveries(engine)
    hooked = make(ID, webhook_url="https://example.com/hook")
    await store.add(hooked)
    started = await store.save(hooked, hooked.start(now=T0, provider_job=JobHandle(job_id="j")))
    assert started is not None
    lease = T0 + timedelta(seconds=40)
    [(taken, snapshot)] = await rows.take_due(now=T0, lease_until=lease, limit=10)
    assert taken.event is EventType.PROCESSING and snapshot.status is TaskStatus.PROCESSING
    later = T0 + timedelta(seconds=39)
    assert await rows.take_due(now=later, lease_until=later, limit=10) == []
    after = T0 + timedelta(seconds=41)
    [(again, _)] = await rows.take_due(now=after, lease_until=after, limit=10)
    assert again.delivery_id == taken.delivery_id
    failed = Attempt(at=after, status_code=500, latency_ms=2)
    await rows.record(taken, failed, next_at=None, lease=lease)  # the dead try: too late
    assert (await rows.of_task(ID))[0].attempts == ()
    await rows.record(again, failed, next_at=None, lease=after)
    [given_up] = await rows.of_task(ID)
    assert given_up.state is DeliveryState.FAILED and given_up.attempts == (failed,)


async def test_a_claim_taken_over_writes_no_task_for_its_first_holder(
    engine: AsyncEngine, store: SqlTaskStore
) -> None:
    """A holder whose lease lapsed while it lived (its renewals failed) and whose key a
    retry took over cannot write its task: the task's transaction is undone; the retry's
    task is the key's."""
    claims, kept = SqlIdempotency(engine), {"stale_before": T0 - timedelta(days=1)}
    first = Claim("", "order-1", "f" * 64, T0, holder="first")
    retry = dataclasses.replace(first, holder="retry")
    assert await claims.claim(first, **kept, lease_s=-1.0) is None  # lapsed at once
    assert await claims.claim(retry, **kept, lease_s=60.0) is None  # taken over
    with pytest.raises(ClaimLost):
        await store.add(make(ID), along=claims.completing(first, ID))
    with pytest.raises(TaskNotFound):
        await store.get(ID)
    await claims.release(first)  # not the holder: leaves the retry's claim alone
    await store.add(make(ID + 1), along=claims.completing(retry, ID + 1))
    held = await claims.claim(dataclasses.replace(first, holder="later"), **kept, lease_s=60.0)
    assert held is not None and held.task_id == ID + 1


async def test_keys_claimed_at_once_never_pass_their_concurrency(store: SqlTaskStore) -> None:
    """Twelve tasks claim pooled keys together (a: 3 places, b: 2): five get one, no key
    more than its places; a task that ends gives its place back, and other providers' tasks
    and finished ones hold none."""
    ids = [ID + n for n in range(12)]
    for task_id in ids:
        await store.add(make(task_id, provider="runninghub"))
    await store.add(make(ID + 99, provider="aliyun"))
    assert await store.claim_account(ID + 99, "aliyun", {"a": 1}) == "a"  # not runninghub's
    room = {"a": 3, "b": 2}
    chosen = await asyncio.gather(*(store.claim_account(t, "runninghub", room) for t in ids))
    assert sorted(c for c in chosen if c is not None) == ["a", "a", "a", "b", "b"]
    holder = await store.get(ids[chosen.index("b")])
    ended = dataclasses.replace(holder, status=TaskStatus.CANCELED, finished_at=T0)
    assert await store.save(holder, ended) is not None
    first, second = [task_id for task_id, c in zip(ids, chosen, strict=True) if c is None][:2]
    assert await store.claim_account(first, "runninghub", room) == "b"
    assert await store.claim_account(second, "runninghub", room) is None
