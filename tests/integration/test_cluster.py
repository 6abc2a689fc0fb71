"""Several worker processes on one PostgreSQL: identity, death and recovery.

Workers run as real `rendergate worker` processes (killed with SIGKILL, as in a crash);
the API and a surviving worker run in the test's process; RunningHub is the emulator, which
holds each job in its phase until the test moves it on, so nothing here races a duration.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from dbos import DBOS
from sqlalchemy.ext.asyncio import create_async_engine
from test_key_limits import make_key

from rendergate.config.settings import Settings
from rendergate.domain.errors import ConfigError
from rendergate.domain.limits import KeyLimits
from rendergate.runtime import recovery
from rendergate.runtime.bootstrap import open_services
from rendergate.runtime.dbos_setup import migrate_system_database
from rendergate.store.tables import tasks, workers
from rendergate_emulators.runninghub import InjectedFault, RunningHubEmulator
from support.hub import KEY, hub_settings, su_form, submit
from support.images import make_reference, make_scene
from support.logs import captured_logs
from support.pg import OwnServer, fresh_database, own_postgres
from support.process import RENDERGATE, child_env, free_port
from support.server import serve
from support.waiting import until

pytestmark = [pytest.mark.pg, pytest.mark.emulator(hold=True)]
DEAD_AFTER_S = 3.0  # the workers' TTL here: a death is noticed in seconds, not half a minute


@pytest.fixture
def unmigrated(settings: Settings, emulator: RunningHubEmulator, pg_database: str) -> Settings:
    return hub_settings(
        settings, emulator, database_url=pg_database, worker_dead_after_s=DEAD_AFTER_S
    )


@pytest.fixture
def cluster(unmigrated: Settings) -> Settings:
    """As a deploy does it: `rendergate migrate` before any process starts."""
    migrate_system_database(unmigrated.system_database_url)
    return unmigrated


@contextlib.contextmanager
def worker_process(
    settings: Settings, emulator: RunningHubEmulator, log: Path, **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`rendergate worker` on the same database, data folder and emulator."""
    assert settings.database_url is not None
    extra = {
        "RENDERGATE_DATABASE_URL": settings.database_url,
        "RENDERGATE_RUNNINGHUB_API_KEY": KEY,
        "RENDERGATE_RUNNINGHUB_BASE_URL": str(emulator.base_url),
        "RENDERGATE_RUNNINGHUB_HOST": "www.runninghub.cn",
        "RENDERGATE_WORKER_DEAD_AFTER_S": str(DEAD_AFTER_S),
        **env,
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(RENDERGATE), "worker"],
            env=child_env(settings.data_dir, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait(15)


async def worker_rows(settings: Settings) -> dict[str, tuple[str, bool]]:
    assert settings.database_url is not None
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(sa.select(workers))
            return {row.executor_id: (row.state, row.recovered) for row in rows}
    except sa.exc.ProgrammingError:  # no table yet: no worker has migrated the database
        return {}
    finally:
        await engine.dispose()


async def test_a_killed_workers_task_is_resumed_by_another_without_a_second_submit(
    cluster: Settings, emulator: RunningHubEmulator, tmp_path: Path
) -> None:
    async with serve(cluster, worker=False) as api:
        with worker_process(cluster, emulator, tmp_path / "a.log") as first:
            task_id = await submit(api)
            await until(lambda: len(emulator.tasks) == 1, 30, "the first worker to submit")
            await api.wait_for(task_id, lambda t: t["status"] == "processing")
            [dead] = (await worker_rows(cluster)).keys()
            first.send_signal(signal.SIGKILL)
            first.wait(15)
        killed_at = time.monotonic()
        [upstream] = emulator.tasks.values()
        polls = upstream.requests["/task/openapi/outputs"]  # the dead worker's, and no more
        async with open_services(cluster, worker=True):
            outputs = upstream.requests
            await until(lambda: outputs["/task/openapi/outputs"] > polls, 30, "tracking here")
            resumed_after_s = time.monotonic() - killed_at
            emulator.advance(upstream.task_id)
            emulator.advance(upstream.task_id)
            task = await api.wait_finished(task_id, timeout_s=30)
            rows = await worker_rows(cluster)
    assert task["status"] == "completed" and task["attempts"] == 1, task
    assert len(emulator.tasks) == 1  # RunningHub ran the job once: tracked, not submitted again
    assert rows[dead] == ("dead", True)
    assert resumed_after_s < 30, resumed_after_s  # the default TTL: here 3 s are enough


async def test_a_second_live_worker_with_the_same_executor_id_is_refused(
    cluster: Settings, emulator: RunningHubEmulator, tmp_path: Path
) -> None:
    with worker_process(cluster, emulator, tmp_path / "a.log", RENDERGATE_EXECUTOR_ID="w-1"):

        async def joined() -> bool:
            return "w-1" in await worker_rows(cluster)

        await until(joined, 30, "the first worker to join")
        env = child_env(
            cluster.data_dir,
            RENDERGATE_DATABASE_URL=str(cluster.database_url),
            RENDERGATE_EXECUTOR_ID="w-1",
        )
        second = subprocess.run(
            [str(RENDERGATE), "worker"], capture_output=True, text=True, timeout=60, env=env
        )
    assert second.returncode == 2, second.stderr
    assert "executor id 'w-1' is in use by a live worker" in second.stderr


async def test_recovery_puts_a_dead_executors_workflow_back_on_its_own_queue(
    cluster: Settings, emulator: RunningHubEmulator, tmp_path: Path
) -> None:
    """Pins the private DBOS call that runtime/recovery.py wraps."""
    slow_reaper = cluster.model_copy(update={"worker_dead_after_s": 3600.0})
    async with serve(cluster, worker=False) as api:
        with worker_process(cluster, emulator, tmp_path / "a.log") as first:
            task_id = await submit(api)
            await until(lambda: len(emulator.tasks) == 1, 30, "the first worker to submit")
            [dead] = (await worker_rows(cluster)).keys()
            first.send_signal(signal.SIGKILL)
            first.wait(15)
        async with open_services(slow_reaper, worker=True):  # its reaper waits an hour
            assert dead in await recovery.pending_executors()
            assert await recovery.recover(["nobody-has-this-id"]) == 0
            assert await recovery.recover([dead]) == 1
            status = await DBOS.get_workflow_status_async(f"task-{task_id}")
            assert status is not None and status.queue_name == "provider:runninghub"
            assert dead not in await recovery.pending_executors()
            [upstream] = emulator.tasks.values()
            emulator.advance(upstream.task_id)
            emulator.advance(upstream.task_id)
            task = await api.wait_finished(task_id, timeout_s=30)
    assert task["status"] == "completed" and task["attempts"] == 1, task
    assert len(emulator.tasks) == 1


async def test_a_webhook_posted_to_an_api_process_wakes_the_worker_tracking_the_task(
    cluster: Settings, emulator: RunningHubEmulator
) -> None:
    port = free_port()
    public = cluster.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    async with serve(public, worker=False, port=port) as api, open_services(public, worker=True):
        task_id = await submit(api)
        await until(lambda: len(emulator.tasks) == 1, 30, "the worker to submit")
        [upstream] = emulator.tasks.values()
        assert upstream.webhook_url is not None and upstream.webhook_url.startswith(api.url)
        await api.wait_for(task_id, lambda t: t["status"] == "processing")
        emulator.advance(upstream.task_id)
        emulator.advance(upstream.task_id)  # ended: RunningHub calls the API process back
        ended = time.monotonic()
        # Without a wake the worker would answer from its estimate until its 30 s safety poll.
        task = await api.wait_finished(task_id, timeout_s=15)
        took_s = time.monotonic() - ended
    assert task["status"] == "completed" and task["attempts"] == 1, task
    assert [a.ok for a in emulator.webhook_attempts] == [True]
    assert took_s < 15, took_s  # well under the 30 s it takes without the wake


def test_four_processes_migrating_a_fresh_database_at_once_all_succeed(
    pg_database: str, tmp_path: Path
) -> None:
    env = child_env(tmp_path, RENDERGATE_DATABASE_URL=pg_database)
    migrating = [
        subprocess.Popen(
            [str(RENDERGATE), "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=120)[0].decode() for process in migrating]
    assert [process.returncode for process in migrating] == [0, 0, 0, 0], outputs


async def test_an_api_process_on_a_database_no_one_migrated_says_so(
    unmigrated: Settings, tmp_path: Path
) -> None:
    cluster = unmigrated
    with pytest.raises(ConfigError, match=r"run `rendergate migrate`"):
        async with open_services(cluster, worker=False):
            raise AssertionError("an API process started on a database without DBOS's tables")
    env = child_env(tmp_path, RENDERGATE_DATABASE_URL=str(cluster.database_url))
    subprocess.run([str(RENDERGATE), "migrate"], env=env, check=True, timeout=120)
    async with open_services(cluster, worker=False) as services:
        assert services.orchestrator is not None


REFUSE_WORKFLOWS = [  # a real failure of the workflow's insert, inside PostgreSQL
    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'no workflows today'; END $$",
    "CREATE TRIGGER refuse BEFORE INSERT ON dbos.workflow_status "
    "FOR EACH ROW EXECUTE FUNCTION refuse()",
]


async def test_a_tasks_row_and_its_workflow_are_written_together_or_not_at_all(
    cluster: Settings,
) -> None:
    assert cluster.database_url is not None
    engine = create_async_engine(cluster.database_url)
    try:
        async with serve(cluster, worker=False) as api:
            async with engine.begin() as connection:
                for statement in REFUSE_WORKFLOWS:
                    await connection.execute(sa.text(statement))
            async with api.http.post(f"{api.url}/tasks", data=su_form()) as response:
                assert response.status == 500, await response.text()
            async with engine.begin() as connection:
                assert (
                    await connection.execute(sa.select(sa.func.count()).select_from(tasks))
                ).scalar() == 0
                await connection.execute(sa.text("DROP TRIGGER refuse ON dbos.workflow_status"))
            assert not [
                p for p in cluster.data_dir.rglob("*") if p.is_file() and "inputs" in p.parts
            ]
            task_id = await submit(api)  # and with the workflow's insert working again
            async with engine.connect() as connection:
                queued = await connection.execute(
                    sa.text(
                        "SELECT status, queue_name FROM dbos.workflow_status "
                        "WHERE workflow_uuid = :id"
                    ),
                    {"id": f"task-{task_id}"},
                )
                assert queued.all() == [("ENQUEUED", "provider:runninghub")]
    finally:
        await engine.dispose()


async def test_concurrent_duplicate_creates_on_postgres_make_one_task(cluster: Settings) -> None:
    image = base64.b64encode(make_scene(48, 32)).decode()
    reference = base64.b64encode(make_reference()).decode()
    body = {"type": "su_render", "image_base64": image, "reference_base64": reference}
    async with serve(cluster, worker=False) as api:

        async def create() -> tuple[int, Any]:
            headers = {"Idempotency-Key": "order-1"}
            async with api.http.post(f"{api.url}/tasks", json=body, headers=headers) as response:
                return response.status, await response.json()

        answers = await asyncio.gather(*(create() for _ in range(10)))
    assert {status for status, _ in answers} <= {201, 409}, answers
    made = {answer["data"]["task_id"] for status, answer in answers if status == 201}
    assert len(made) == 1, answers
    engine = create_async_engine(str(cluster.database_url))
    try:
        async with engine.connect() as connection:
            count = sa.select(sa.func.count()).select_from(tasks)
            assert (await connection.execute(count)).scalar() == 1
            flows = await connection.execute(sa.text("SELECT count(*) FROM dbos.workflow_status"))
            assert flows.scalar() == 1  # and one workflow, written with the row
    finally:
        await engine.dispose()


async def test_a_postgres_outage_mid_run_fails_no_task(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    with own_postgres() as server, fresh_database(server.url) as database:
        # its own server, which it stops; a worker fences after 60 s of a 120 s TTL
        patient = hub_settings(settings, emulator, database_url=database, worker_dead_after_s=120.0)
        migrate_system_database(patient.system_database_url)
        await _outage_mid_run(patient, emulator, server)


async def _outage_mid_run(
    patient: Settings, emulator: RunningHubEmulator, server: OwnServer
) -> None:
    async with serve(patient, worker=False) as api, open_services(patient, worker=True):
        task_id = await submit(api)
        await until(lambda: len(emulator.tasks) == 1, 30, "the worker to submit")
        [upstream] = emulator.tasks.values()
        # the track step is polling (a stop between the submit and track steps would find
        # DBOS's checkpoint write waiting, and no call of ours during the outage)
        await until(lambda: upstream.requests["/task/openapi/outputs"] > 0, 30, "tracking")
        with captured_logs() as logs, server.down():
            emulator.advance(upstream.task_id)
            emulator.advance(upstream.task_id)  # the job ends while the database is away
            await until(
                lambda: "database unavailable; waiting" in logs.getvalue(), 20, "the outage"
            )
        task = await api.wait_finished(task_id, timeout_s=60)
    assert task["status"] == "completed" and task["attempts"] == 1, task
    assert len(emulator.tasks) == 1  # carried on with the same job: nothing submitted again


async def test_caps_come_from_migrate_and_a_worker_that_disagrees_says_so(
    unmigrated: Settings, tmp_path: Path
) -> None:
    env = child_env(
        tmp_path,
        RENDERGATE_DATABASE_URL=str(unmigrated.database_url),
        RENDERGATE_RUNNINGHUB_API_KEY=KEY,
        RENDERGATE_RUNNINGHUB_CONCURRENCY="5",
    )
    command = [str(RENDERGATE), "migrate"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "runninghub: 5 at once, 5 per worker" in done.stderr
    with captured_logs() as logs:
        async with open_services(unmigrated, worker=True):  # its settings say 2
            queue = await DBOS.retrieve_queue_async("provider:runninghub")
            assert queue is not None
            assert await queue.get_global_concurrency_async() == 5  # the cluster's hold
    assert "this worker's caps differ from the cluster's" in logs.getvalue()


async def test_a_stopping_worker_finishes_its_submit_and_hands_the_task_on(
    cluster: Settings, emulator: RunningHubEmulator, tmp_path: Path
) -> None:
    stall = emulator.inject(InjectedFault.STALL, path="/task/openapi/ai-app/run")  # until released
    log = tmp_path / "a.log"
    async with serve(cluster, worker=False) as api:
        with worker_process(cluster, emulator, log, RENDERGATE_LOG_LEVEL="info") as first:
            task_id = await submit(api)
            await asyncio.wait_for(stall.stalled.wait(), 30)  # the submit is inside RunningHub
            first.send_signal(signal.SIGTERM)
            await until(lambda: "worker draining" in log.read_text(), 20, "the drain to start")
            stall.release()  # RunningHub accepts the job only now, while the worker stops
            assert await asyncio.to_thread(first.wait, 30) == 0
        [upstream] = emulator.tasks.values()  # accepted once, and recorded
        async with open_services(cluster, worker=True):  # a survivor tracks it on
            await until(lambda: upstream.requests["/task/openapi/outputs"] > 0, 30, "tracking")
            emulator.advance(upstream.task_id)
            emulator.advance(upstream.task_id)
            task = await api.wait_finished(task_id, timeout_s=30)
    assert task["status"] == "completed" and task["attempts"] == 1, task
    assert len(emulator.tasks) == 1  # not submitted again


@pytest.mark.parametrize(
    "limits", [KeyLimits(max_in_flight=5), KeyLimits(rate_per_minute=5)], ids=["in-flight", "rate"]
)
async def test_a_keys_limit_holds_across_two_api_processes(
    cluster: Settings, limits: KeyLimits
) -> None:
    """Two API processes (each its own engine, pool and key ring: nothing shared but the
    database) take 50 creates of one key at once, 25 each, against a limit of 5: exactly 5
    are stored, whichever process took them."""
    image = base64.b64encode(make_scene(48, 32)).decode()
    reference = base64.b64encode(make_reference()).decode()
    body = {"type": "su_render", "image_base64": image, "reference_base64": reference}
    async with serve(cluster, worker=False) as one, serve(cluster, worker=False) as two:
        token, _ = await make_key(cluster, limits)  # once the first has migrated the tables
        headers = {"Authorization": f"Bearer {token}"}
        for api in (one, two):
            api.services.keys.refresh()

        async def create(api: Any) -> int:
            async with api.http.post(f"{api.url}/tasks", json=body, headers=headers) as answer:
                return int(answer.status)

        statuses = await asyncio.gather(*(create(api) for api in [one, two] * 25))
    assert sorted(statuses) == [201] * 5 + [429] * 45, statuses
    engine = create_async_engine(str(cluster.database_url))
    try:
        async with engine.connect() as connection:
            count = sa.select(sa.func.count()).select_from(tasks)
            assert (await connection.execute(count)).scalar() == 5
    finally:
        await engine.dispose()
