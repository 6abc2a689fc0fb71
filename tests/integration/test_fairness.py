"""Fair across keys, against the RunningHub emulator holding one task at a time: a key with
8 tasks waiting does not hold another key's single task behind all of them, the cap of 1
holds at RunningHub (it answers 421 to a second task at once), and a key's own tasks run in
the order it created them. On SQLite, and on PostgreSQL (the workflow queued in the task
row's transaction)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from rendergate.config.settings import Settings
from rendergate_emulators.runninghub import RunningHubEmulator
from support.api_keys import key_headers
from support.hub import hub_settings, su_form
from support.images import make_reference, make_scene
from support.process import free_port
from support.server import RunningServer, serve
from support.waiting import until

RUN = "/task/openapi/ai-app/run"


async def create(server: RunningServer, headers: dict[str, str]) -> int:
    async with server.http.post(f"{server.url}/tasks", data=su_form(), headers=headers) as answer:
        body = await answer.json()
        assert answer.status == 201, body
        return int(body["data"]["task_id"])


async def finished_jobs(
    server: RunningServer, tasks: list[tuple[int, dict[str, str]]]
) -> dict[str, int] | None:
    """Each task's RunningHub job once every task has completed; None until then."""
    jobs: dict[str, int] = {}
    for task_id, headers in tasks:
        async with server.http.get(f"{server.url}/tasks/{task_id}", headers=headers) as answer:
            task = (await answer.json())["data"]
        assert task["status"] not in ("failed", "canceled"), task
        if task["status"] != "completed":
            return None
        jobs[task["provider_job_id"]] = task_id
    return jobs


def capped_at_one(
    settings: Settings, emulator: RunningHubEmulator, port: int, **extra: Any
) -> Settings:
    """RunningHub one task at a time, its webhooks saying when a job ends (no wait for a
    poll), to a server on `port`."""
    public_url = f"http://127.0.0.1:{port}"
    return hub_settings(
        settings, emulator, runninghub_concurrency=1, public_url=public_url, **extra
    )


async def run_two_keys(settings: Settings, emulator: RunningHubEmulator, **extra: Any) -> None:
    port = free_port()
    configured = capped_at_one(settings, emulator, port, **extra)
    async with serve(configured, port=port) as server:
        studio = await key_headers(server, configured, "studio")
        other = await key_headers(server, configured, "other")
        backlog = [await create(server, studio) for _ in range(8)]
        await until(lambda: len(emulator.tasks) >= 1, 30, "the first task at RunningHub")
        single = await create(server, other)
        tasks = [(i, studio) for i in backlog] + [(single, other)]
        ours = await until(lambda: finished_jobs(server, tasks), 120, "every task", every_s=0.2)
    arrivals = sorted(emulator.tasks.values(), key=lambda job: job.created_mono)
    order = [ours[job.task_id] for job in arrivals]  # RunningHub's record of its submits
    assert order.index(single) <= 2, order  # among the first three, not the ninth
    assert [i for i in order if i != single] == backlog  # a key's own tasks in order
    assert emulator.stats.codes_by_path[RUN].get(421, 0) == 0  # never two at once upstream


@pytest.mark.emulator(concurrency=1)
async def test_one_keys_backlog_does_not_hold_anothers_task_behind_it(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    await run_two_keys(settings, emulator)


@pytest.mark.pg
@pytest.mark.emulator(concurrency=1)
async def test_one_keys_backlog_does_not_hold_anothers_task_behind_it_on_postgresql(
    settings: Settings, emulator: RunningHubEmulator, pg_database: str
) -> None:
    await run_two_keys(settings, emulator, database_url=pg_database)


@pytest.mark.emulator(concurrency=1, hold=True)
async def test_a_workflow_queued_before_rounds_still_runs_and_goes_first(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    """A workflow an earlier rendergate queued has no key's label and priority 0: DBOS's
    claim (the queue is not partitioned) takes it, before the rounds."""
    port = free_port()
    configured = capped_at_one(settings, emulator, port)
    async with serve(configured, port=port) as server:
        headers = await key_headers(server, configured, "studio")
        running = await create(server, headers)
        [held] = await until(lambda: list(emulator.tasks), 30, "the first task at RunningHub")
        waiting, earlier = await create(server, headers), await create(server, headers)
        await asyncio.to_thread(as_queued_before_rounds, configured, earlier)
        emulator.configure(hold=False)
        emulator.advance(held)  # to RUNNING, which ends on its timer now
        tasks = [(i, headers) for i in (running, waiting, earlier)]
        ours = await until(lambda: finished_jobs(server, tasks), 60, "every task", every_s=0.1)
    arrivals = sorted(emulator.tasks.values(), key=lambda job: job.created_mono)
    assert [ours[job.task_id] for job in arrivals] == [running, earlier, waiting]


def as_queued_before_rounds(settings: Settings, task_id: int) -> None:
    """The task's workflow row as the enqueue before rounds wrote it."""
    engine = sa.create_engine(settings.system_database_url)
    try:
        with engine.begin() as connection:
            updated = connection.execute(
                sa.text(
                    "UPDATE workflow_status SET queue_partition_key = NULL, priority = 0 "
                    "WHERE workflow_uuid = :id AND status = 'ENQUEUED'"
                ),
                {"id": f"task-{task_id}"},
            )
            assert updated.rowcount == 1
    finally:
        engine.dispose()


async def create_batch(server: RunningServer, headers: dict[str, str], views: int) -> list[int]:
    form = aiohttp.FormData()
    for i in range(views):
        form.add_field("image", make_scene(96, 64, seed=i), filename=f"{i}.png")
    form.add_field("reference", make_reference(), filename="ref.jpg", content_type="image/jpeg")
    form.add_field("type", "su_render")
    async with server.http.post(f"{server.url}/batches", data=form, headers=headers) as answer:
        body = await answer.json()
        assert answer.status == 201, body
        return [int(task["task_id"]) for task in body["data"]["tasks"]]


async def run_two_batches(settings: Settings, emulator: RunningHubEmulator, **extra: Any) -> None:
    """Key A's batch of 8, then key B's batch of 2: B's members take turns with A's."""
    port = free_port()
    configured = capped_at_one(settings, emulator, port, **extra)
    async with serve(configured, port=port) as server:
        studio = await key_headers(server, configured, "studio")
        other = await key_headers(server, configured, "other")
        big = await create_batch(server, studio, 8)
        await until(lambda: len(emulator.tasks) >= 1, 30, "the first member at RunningHub")
        small = await create_batch(server, other, 2)
        tasks = [(i, studio) for i in big] + [(i, other) for i in small]
        ours = await until(lambda: finished_jobs(server, tasks), 120, "every member", every_s=0.2)
    arrivals = sorted(emulator.tasks.values(), key=lambda job: job.created_mono)
    order = [ours[job.task_id] for job in arrivals]
    positions = sorted(order.index(i) for i in small)
    assert positions[-1] <= 4, order  # both among the first five of ten, taking turns with A's
    assert [i for i in order if i not in small] == big  # A's own in order
    assert emulator.stats.codes_by_path[RUN].get(421, 0) == 0


@pytest.mark.emulator(concurrency=1)
async def test_two_keys_batches_take_turns(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    await run_two_batches(settings, emulator)


@pytest.mark.pg
@pytest.mark.emulator(concurrency=1)
async def test_two_keys_batches_take_turns_on_postgresql(
    settings: Settings, emulator: RunningHubEmulator, pg_database: str
) -> None:
    await run_two_batches(settings, emulator, database_url=pg_database)
