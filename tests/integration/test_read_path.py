"""GET /tasks/{id} of an unfinished task: its answer is kept per version and never shows an
older one once the task changed; `Prefer: wait=N` answers when the task moves, or after N."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from rendergate.config.settings import Settings
from rendergate.domain.task import JobHandle, Task
from rendergate.services.creating import new_task_id
from support.server import RunningServer, serve
from support.waiting import until

LONG_S = 60  # the most a long poll waits: a test that reaches it has failed


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[RunningServer]:
    async with serve(settings) as running:
        yield running


async def started(api: RunningServer) -> Task:
    """A processing task written through the store as a worker would, with no workflow
    behind it: each later version is the test's."""
    store, at = api.services.store, now()
    task = Task(task_id=new_task_id(), app="fake", provider="fake", created_at=at, updated_at=at)
    await store.add(task)
    moved = await store.save(task, task.start(now=at, provider_job=JobHandle(job_id="j")))
    assert moved is not None
    return moved


def now() -> datetime:
    return datetime.now(UTC)


async def get(api: RunningServer, task_id: int, **headers: str) -> tuple[dict[str, Any], Any]:
    url = f"{api.url}/tasks/{task_id}?include_base64=false"
    async with api.http.get(url, headers=headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["data"], response.headers


async def long_poll(api: RunningServer, task: Task) -> asyncio.Task[tuple[dict[str, Any], Any]]:
    """A GET with `Prefer: wait=60`, once it is waiting on the task."""
    waiting = asyncio.create_task(get(api, task.task_id, Prefer=f"wait={LONG_S}"))
    changes = api.services.changes
    await until(lambda: changes.watchers(task.task_id) > 0, 20, "the long poll to wait")
    return waiting


async def test_a_kept_answer_is_never_older_than_a_write(api: RunningServer) -> None:
    task = await started(api)
    first, _ = await get(api, task.task_id)
    kept = api.app.state.unfinished_bodies.get(task.task_id)
    assert kept is not None and kept.version == task.version  # the next GET is the cache's
    assert (await get(api, task.task_id))[0] == first
    store = api.services.store
    for progress in (10, 20, 30):
        stored = await store.save(task, task.report(now=now(), progress=progress))
        assert stored is not None
        task = stored
        seen, _ = await get(api, task.task_id)
        assert seen["progress"] == progress and seen["updated_at"] != first["updated_at"]
        assert (await get(api, task.task_id))[0] == seen  # kept again, at the new version


async def test_a_long_poll_answers_on_progress(api: RunningServer) -> None:
    task = await started(api)
    began = time.monotonic()
    waiting = await long_poll(api, task)
    assert not waiting.done()
    assert await api.services.store.save(task, task.report(now=now(), progress=97))
    seen, headers = await asyncio.wait_for(waiting, LONG_S)
    assert seen["progress"] == 97 and seen["status"] == "processing"
    assert headers["Preference-Applied"] == f"wait={LONG_S}"
    assert time.monotonic() - began < LONG_S  # told by the change, not by the deadline


async def test_a_long_poll_answers_on_the_end(api: RunningServer) -> None:
    task = await started(api)
    began = time.monotonic()
    waiting = await long_poll(api, task)
    assert await api.services.store.save(task, task.cancel(now=now()))
    seen, _ = await asyncio.wait_for(waiting, LONG_S)
    assert seen["status"] == "canceled"
    assert time.monotonic() - began < LONG_S


async def test_a_long_poll_without_a_change_answers_after_n_seconds(api: RunningServer) -> None:
    task = await started(api)
    began = time.monotonic()
    seen, headers = await get(api, task.task_id, Prefer="wait=0.5")
    assert time.monotonic() - began >= 0.5
    assert seen["status"] == "processing" and seen["progress"] == task.progress
    assert headers["Preference-Applied"] == "wait=0.5"


async def test_a_long_poll_of_a_finished_task_answers_at_once(api: RunningServer) -> None:
    task = await started(api)
    assert await api.services.store.save(task, task.cancel(now=now()))
    began = time.monotonic()
    seen, _ = await get(api, task.task_id, Prefer=f"wait={LONG_S}")
    assert seen["status"] == "canceled" and time.monotonic() - began < LONG_S
