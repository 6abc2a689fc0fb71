"""A task once created: read, listed, canceled and followed (services/tasks.py,
services/streams.py), on the in-memory store and the shipped fake providers."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from rendergate.domain import errors
from rendergate.domain.task import TaskStatus
from rendergate.services.streams import StreamItem, follow
from rendergate.services.tasks import cancel_task, list_tasks
from support.world import World


async def test_list_tasks_pages_newest_first_with_ties(world: World) -> None:
    for i in range(7):
        await world.create()
        world.clock.advance(i % 2)  # pairs share created_at: the id breaks the tie
    expected = sorted(world.store.tasks.values(), key=lambda t: (t.created_at, t.task_id))[::-1]
    ids = [t.task_id for t in expected]
    assert all(2**40 <= task_id < 2**53 for task_id in ids) and len(set(ids)) == 7
    page1, cursor1 = await list_tasks(store=world.services.store, limit=3)
    page2, cursor2 = await list_tasks(store=world.services.store, cursor=cursor1, limit=3)
    page3, cursor3 = await list_tasks(store=world.services.store, cursor=cursor2, limit=3)
    assert [len(page1), len(page2), len(page3), cursor3] == [3, 3, 1, None]
    assert [t.task_id for t in page1 + page2 + page3] == ids  # newest first, none twice
    assert await list_tasks(store=world.services.store, limit=7) == (expected, None)


async def test_list_tasks_filters_by_status_and_app(world: World) -> None:
    plain = [await world.create() for _ in range(3)]
    short = [await world.create(app="fake_short") for _ in range(2)]
    await cancel_task(plain[0].task_id, world.cancelling)
    await cancel_task(short[1].task_id, world.cancelling)

    async def ids(**filters: Any) -> set[int]:
        page, cursor = await list_tasks(store=world.services.store, **filters)
        assert cursor is None
        return {t.task_id for t in page}

    assert await ids(status=TaskStatus.CANCELED) == {plain[0].task_id, short[1].task_id}
    assert await ids(app="fake_short") == {t.task_id for t in short}
    assert await ids(app="fake", status=TaskStatus.SUBMITTED) == {t.task_id for t in plain[1:]}
    assert await ids(status=TaskStatus.COMPLETED) == set()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor", ["!!!", "abc", _b64(b"not json"), _b64(b"[1, 2]"), _b64(b'"x"'), _b64(b"[1]")]
)
async def test_a_bad_cursor_is_invalid_input(world: World, cursor: str) -> None:
    with pytest.raises(errors.InvalidInput) as raised:
        await list_tasks(store=world.services.store, cursor=cursor)
    assert raised.value.field == "cursor"


@pytest.mark.parametrize(
    "raw", [b'["2025-06-01T12:00:00", 5]', b'["2025-06-01T12:00:00+00:00", 1e30]', b'["x", -1]']
)
async def test_a_crafted_cursor_is_invalid_input(world: World, raw: bytes) -> None:
    await world.create()
    with pytest.raises(errors.InvalidInput):
        await list_tasks(store=world.services.store, cursor=_b64(raw))


async def test_a_queued_task_reports_how_many_wait_ahead(world: World) -> None:
    created = []
    for _ in range(3):
        created.append(await world.create())
        world.clock.advance(1)  # one second apart, so their order does not hang on the ids
    first, _, third = created
    assert (await world.get(third.task_id)).queue_position == 2
    assert (await world.get(first.task_id)).queue_position == 0
    await world.runner.submit(first.task_id)
    assert (await world.get(third.task_id)).queue_position == 1
    assert (await world.get(first.task_id)).queue_position is None


async def test_cancel_task(world: World) -> None:
    waiting, running = await world.create(), await world.create()
    job = await world.submitted(running.task_id)
    canceled = await cancel_task(waiting.task_id, world.cancelling)
    assert canceled == await world.store.get(waiting.task_id)
    assert (canceled.status, canceled.version, world.fake.canceled) == ("canceled", 1, [])
    assert (await cancel_task(running.task_id, world.cancelling)).status == "canceled"
    assert world.fake.canceled == [job.job_id]
    with pytest.raises(errors.InvalidTransition, match="already canceled"):
        await cancel_task(running.task_id, world.cancelling)
    with pytest.raises(errors.TaskNotFound):
        await cancel_task(12345, world.cancelling)


async def test_a_preview_canceled_once_its_job_ended_is_not_said_to_run_on(
    world: World,
) -> None:
    """The built-in engine can always stop its own work: a job that already ended (its task
    not yet collected) runs no more, so no "cannot cancel" note."""
    task = await world.create(app="preview")
    job = await world.submitted(task.task_id)
    local = world.services.providers["local"]
    deadline = asyncio.get_running_loop().time() + 30
    while (await local.status(job)).phase != "succeeded":
        assert asyncio.get_running_loop().time() < deadline, "the preview did not end"
        await asyncio.sleep(0.02)
    canceled = await cancel_task(task.task_id, world.cancelling)
    assert (canceled.status, canceled.error_message) == ("canceled", "canceled by request")


async def test_a_stream_shows_each_change_with_the_queue_position_and_ends(world: World) -> None:
    """The SQL store tells `Changes` after each commit; with the memory store the test
    does, after each write."""
    await world.create()
    world.clock.advance(1)
    task = await world.create()
    changes = world.services.changes
    stream = follow(task, store=world.services.store, changes=changes, log=world.store)

    async def next_item() -> StreamItem:
        return await asyncio.wait_for(anext(stream), 5)

    first, queued = await next_item(), await next_item()
    assert (first.event, first.event_id) == ("task.submitted", 0)
    assert queued.event == "task.queue" and queued.event_id is None
    assert queued.task is not None and queued.task.queue_position == 1
    await world.runner.submit(task.task_id)
    world.services.changes.publish(task.task_id, False)
    processing = await next_item()
    assert (processing.event, processing.event_id) == ("task.processing", 1)
    await cancel_task(task.task_id, world.cancelling)
    world.services.changes.publish(task.task_id, False)
    canceled = await next_item()
    assert canceled.event == "task.canceled" and canceled.task is not None
    with pytest.raises(StopAsyncIteration):
        await next_item()
