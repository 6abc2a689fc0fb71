"""Chaos on a real cluster: 200 RunningHub tasks through three worker processes while
workers are killed (some never replaced), one is stopped, a twin of a live one (same
executor id) is refused, and PostgreSQL restarts.

RunningHub answers some status calls with 502s and resets some status calls and uploads.
Afterwards every task has completed, each once; RunningHub saw at most one extra
submission per kill (a job accepted in the instant before its worker died), and never more
jobs at once than the cap allows, plus those extras. The random choices are seeded, and
every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from rendergate.config.settings import Settings
from rendergate.runtime.dbos_setup import migrate_system_database
from rendergate.store import tables
from rendergate_emulators.runninghub import InjectedFault, RunningHubEmulator
from support.hub import KEY, hub_settings
from support.images import make_reference, make_scene
from support.pg import fresh_database, own_postgres
from support.process import RENDERGATE, child_env, free_port
from support.server import serve
from support.waiting import until

TASKS = 200
CAP = 8  # RunningHub's key allows this many at once, and so does our cap
pytestmark = [
    pytest.mark.pg,
    pytest.mark.slow,
    # past its own 240 s deadline, so that this test, not pytest-timeout, says what is stuck
    pytest.mark.timeout(300),
    pytest.mark.emulator(run_s=0.4, concurrency=CAP * 3),
]
KILLS = 4
DEADLINE_S = 240.0
FAULTS = [  # on calls that create nothing upstream, so each is simply tried again
    (InjectedFault.HTTP_502, "/task/openapi/outputs", 10),
    (InjectedFault.RESET, "/task/openapi/outputs", 10),
    (InjectedFault.RESET, "/task/openapi/upload", 5),
]


class Workers:
    """`rendergate worker` processes on one database; killed, stopped and started again."""

    def __init__(self, settings: Settings, emulator: RunningHubEmulator, logs: Path) -> None:
        self._env = child_env(
            settings.data_dir,
            RENDERGATE_DATABASE_URL=str(settings.database_url),
            RENDERGATE_RUNNINGHUB_API_KEY=KEY,
            RENDERGATE_RUNNINGHUB_BASE_URL=str(emulator.base_url),
            RENDERGATE_RUNNINGHUB_HOST="www.runninghub.cn",
            RENDERGATE_RUNNINGHUB_CONCURRENCY=str(CAP),
            RENDERGATE_WORKER_CONCURRENCY="4",
            RENDERGATE_WORKER_DEAD_AFTER_S="3",
            RENDERGATE_PUBLIC_URL=str(settings.public_url),
        )
        self._logs = logs
        self.alive: list[subprocess.Popen[bytes]] = []
        self._all: list[subprocess.Popen[bytes]] = []
        self._log_of: dict[int, Path] = {}  # pid -> its log
        self.fenced = 0

    def start(self) -> None:
        path = self._logs / f"worker-{len(self._all)}.log"
        with path.open("ab") as log:
            process = subprocess.Popen(
                [str(RENDERGATE), "worker"], env=self._env, stdout=log, stderr=subprocess.STDOUT
            )
        self._log_of[process.pid] = path
        self.alive.append(process)
        self._all.append(process)

    async def running(self) -> subprocess.Popen[bytes]:
        """A live worker that has finished starting (a SIGTERM before its handlers are in
        kills it outright, as it would any process)."""

        def started() -> subprocess.Popen[bytes] | None:
            logs = {p: self._log_of[p.pid].read_text(errors="replace") for p in self.alive}
            return next((p for p, text in logs.items() if "worker running" in text), None)

        return await until(started, 60, "a worker to finish starting")

    def kill(self, chosen: random.Random) -> None:
        process = self.alive.pop(chosen.randrange(len(self.alive)))
        process.send_signal(signal.SIGKILL)
        process.wait(15)

    async def start_a_twin(self, database: str) -> subprocess.CompletedProcess[str]:
        """A worker started with the executor id of a live one (a copied unit file)."""
        await self.running()  # it has joined: its row is there and beating
        engine = create_async_engine(database)
        try:
            async with engine.connect() as connection:
                live = await connection.execute(
                    sa.select(tables.workers.c.executor_id).where(
                        tables.workers.c.state == "running"
                    )
                )
                taken = live.scalars().first()
        finally:
            await engine.dispose()
        assert taken is not None, "no live worker to copy"
        return await asyncio.to_thread(
            subprocess.run,
            [str(RENDERGATE), "worker"],
            env={**self._env, "RENDERGATE_EXECUTOR_ID": taken},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def supervise(self) -> None:
        """As systemd's Restart=always: a worker that stopped by itself (it fenced itself
        when it could not reach the database) is replaced."""
        for process in [p for p in self.alive if p.poll() is not None]:
            self.alive.remove(process)
            self.fenced += 1
            self.start()

    async def stop_one(self) -> None:
        process = await self.running()
        self.alive.remove(process)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 60) == 0

    def close(self) -> None:
        for process in self._all:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(15)


@contextlib.contextmanager
def workers(settings: Settings, emulator: RunningHubEmulator, logs: Path) -> Iterator[Workers]:
    pool = Workers(settings, emulator, logs)
    try:
        yield pool
    finally:
        pool.close()


async def finished(url: str) -> Counter[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.select(tables.tasks.c.status, sa.func.count()).group_by(tables.tasks.c.status)
            )
            return Counter({row[0]: row[1] for row in rows})
    finally:
        await engine.dispose()


async def create_all(url: str, http: aiohttp.ClientSession) -> list[int]:
    image = base64.b64encode(make_scene(48, 32)).decode()
    reference = base64.b64encode(make_reference()).decode()
    body = {"type": "su_render", "image_base64": image, "reference_base64": reference}
    gate = asyncio.Semaphore(16)

    async def one() -> int:
        async with gate, http.post(f"{url}/tasks", json=body) as response:
            assert response.status == 201, await response.text()
            return int((await response.json())["data"]["task_id"])

    return list(await asyncio.gather(*(one() for _ in range(TASKS))))


async def test_200_tasks_survive_killed_workers_a_stop_and_a_postgres_restart(
    settings: Settings, emulator: RunningHubEmulator, tmp_path: Path
) -> None:
    chosen = random.Random(20261201)
    port = free_port()
    with own_postgres() as server, fresh_database(server.url) as database:
        cluster = hub_settings(
            settings,
            emulator,
            database_url=database,
            public_url=f"http://127.0.0.1:{port}",
            runninghub_concurrency=CAP,
        )
        migrate_system_database(cluster.system_database_url)
        started = time.monotonic()
        async with serve(cluster, worker=False, port=port) as api:
            with workers(cluster, emulator, tmp_path) as pool:
                for _ in range(3):
                    pool.start()
                for fault, path, times in FAULTS:  # RunningHub misbehaves meanwhile
                    emulator.inject(fault, path=path, times=times)
                created = await create_all(api.url, api.http)
                twin = await pool.start_a_twin(database)
                assert twin.returncode == 2 and "is in use by a live worker" in twin.stderr
                for kill in range(KILLS):  # at random moments, some never replaced
                    await asyncio.sleep(chosen.uniform(0.5, 2.5))
                    pool.kill(chosen)
                    if kill % 2 == 0 or not pool.alive:
                        pool.start()
                await pool.stop_one()  # SIGTERM: drains, hands its tasks on
                if not pool.alive:
                    pool.start()
                with server.down():
                    await asyncio.sleep(1.0)
                while (counts := await finished(database))["completed"] < TASKS:
                    assert time.monotonic() - started < DEADLINE_S, f"stuck: {counts}"
                    pool.supervise()
                    await asyncio.sleep(0.5)
                interruptions = KILLS + pool.fenced
            took_s = time.monotonic() - started
            assert await finished(database) == Counter({"completed": TASKS})
            async with api.http.get(f"{api.url}/tasks?limit=100&status=completed") as response:
                assert response.status == 200
    runs = Counter(
        int(match.group(1))
        for upstream in emulator.tasks.values()
        if upstream.webhook_url and (match := re.search(r"/(\d+)/[^/]+$", upstream.webhook_url))
    )
    assert set(runs) == set(created)  # every task ran upstream
    extra = sum(n - 1 for n in runs.values())  # at most one per worker cut off mid-submit
    assert extra <= interruptions, (extra, [task for task, n in runs.items() if n > 1])
    assert emulator.book.peak_active <= CAP + extra, emulator.book.peak_active
    assert sum(emulator.stats.faults_fired.values()) == sum(times for *_, times in FAULTS)
    assert took_s < DEADLINE_S
