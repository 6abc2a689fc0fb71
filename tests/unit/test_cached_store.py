"""The write-through cache stays coherent with the store it fronts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from rendergate.domain.errors import TaskNotFound
from rendergate.domain.task import JobHandle, Task, TaskStatus
from rendergate.lru import Lru
from rendergate.services.cache import FinishedTasks
from rendergate.store.cached import CachedTaskStore
from rendergate.store.memory import MemoryTaskStore

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def _task(task_id: int = 2**41) -> Task:
    return Task(task_id=task_id, app="fake", provider="fake", created_at=NOW, updated_at=NOW)


async def test_reads_come_from_the_cache_and_writes_go_through() -> None:
    inner = MemoryTaskStore()
    store = CachedTaskStore(inner)
    task = _task()
    await store.add(task)
    started = await store.save(task, task.start(now=NOW, provider_job=JobHandle(job_id="j")))
    assert started is not None and started.version == 1
    assert inner.tasks[task.task_id] == started
    inner.tasks.clear()  # the cache answers without the inner store now
    assert await store.get(task.task_id) == started


async def test_a_lost_race_drops_the_cached_copy() -> None:
    inner = MemoryTaskStore()
    store = CachedTaskStore(inner)
    task = _task()
    await store.add(task)
    # Another writer (say, a test reaching past the cache) moves the row on.
    moved = await inner.save(task, task.report(now=NOW, progress=40))
    assert moved is not None
    assert await store.save(task, task.cancel(now=NOW)) is None
    assert await store.get(task.task_id) == moved  # re-read, not the stale copy


async def test_unknown_tasks_are_not_cached() -> None:
    store = CachedTaskStore(MemoryTaskStore())
    with pytest.raises(TaskNotFound):
        await store.get(123)


def test_lru_evicts_the_least_recently_used() -> None:
    lru: Lru[int, str] = Lru(capacity=2)
    lru.put(1, "a")
    lru.put(2, "b")
    assert lru.get(1) == "a"  # 1 is now the most recent
    lru.put(3, "c")
    assert lru.get(2) is None and lru.get(1) == "a" and lru.get(3) == "c"
    assert len(lru) == 2


async def test_finished_tasks_keep_only_finished_ones() -> None:
    store = MemoryTaskStore()
    running, done = _task(1), dataclasses.replace(_task(2), status=TaskStatus.FAILED)
    for task in (running, done):
        await store.add(task)
        assert await FinishedTasks().load(task.task_id, store.get) == task
    finished = FinishedTasks()
    for task in (running, done):
        await finished.load(task.task_id, store.get)
    assert finished.get(1) is None and finished.get(2) == done
    finished.forget(2)  # a change was heard: read again
    assert finished.get(2) is None


async def test_a_read_that_raced_a_change_is_not_kept() -> None:
    """A change heard while the store was being read: the read may hold the version before
    it, so it is answered but not kept, and the next read goes to the store."""
    store, finished = MemoryTaskStore(), FinishedTasks()
    done = dataclasses.replace(_task(), status=TaskStatus.COMPLETED)
    await store.add(done)
    expired = done.expire_files(now=NOW)

    async def read_then_hear_the_change(task_id: int) -> Task:
        before = await store.get(task_id)
        store.tasks[task_id] = expired  # another process's write commits...
        finished.forget(task_id)  # ...and its notice arrives before this read returns
        return before

    assert await finished.load(done.task_id, read_then_hear_the_change) == done
    assert finished.get(done.task_id) is None
    assert await finished.load(done.task_id, store.get) == expired
    assert finished.get(done.task_id) == expired
    finished.forget_all()  # changes were missed: nothing kept is trusted
    assert finished.get(done.task_id) is None
