"""A cluster on PostgreSQL against the RunningHub emulator: does a second worker double the
throughput, what bounds it, and how soon does a killed worker's work move on?

    python bench/cluster.py [--tasks 160] [--run-s 1.0]

Starts a throwaway PostgreSQL (scripts/pg-start.sh), the RunningHub emulator (in this
process, with the load generator), one `rendergate serve --no-worker` API and 1 or 2
`rendergate worker` processes, on a fresh database per scenario (`rendergate migrate` first).
Every task runs `run_s` upstream, and RunningHub's webhook reaches the API process, which
wakes the worker tracking the task through PostgreSQL.

  bounded    RENDERGATE_WORKER_CONCURRENCY=8 bounds each worker; the cap (64) does not:
             tasks completed per second with 1, 2 and 3 workers, and the ratios to one.
  unbounded  RENDERGATE_WORKER_CONCURRENCY=64: the same, and the CPU seconds each process
             spent (API, workers, PostgreSQL, this process), to see what bounds the cluster.
  failover   2 workers with the default 30 s TTL, 16 tasks held running upstream; the worker
             holding the most is killed (SIGKILL): seconds until the last of its tasks is
             polled again by the other (the target is 60).

Exits 0 whatever the figures, non-zero when a task failed or got stuck.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import psycopg

from _children import (
    HOST,
    BenchError,
    cpu_seconds,
    free_port,
    machine_info,
    run_bench,
    start,
    stop,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from rendergate_emulators.runninghub import RunningHubEmulator  # noqa: E402
from support.images import make_reference, make_scene  # noqa: E402

KEY = "0123456789abcdef0123456789abcdef"
RENDERGATE = Path(sys.executable).with_name("rendergate")
CAP = 64


@contextlib.contextmanager
def postgres() -> Iterator[tuple[str, Path]]:
    folder = Path(tempfile.mkdtemp(prefix="rendergate-pg.", dir="/tmp"))
    env = {**os.environ, "RENDERGATE_TEST_PG_DIR": str(folder)}
    url = subprocess.run(
        [str(ROOT / "scripts/pg-start.sh")], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield url, folder
    finally:
        subprocess.run([str(ROOT / "scripts/pg-stop.sh")], env=env, capture_output=True)


def fresh_database(server: str, name: str) -> str:
    admin = server.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        connection.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return server.rsplit("/", 1)[0] + f"/{name}"


def postgres_cpu() -> float:
    total = 0.0
    for pid in subprocess.run(
        ["pgrep", "-u", "postgres"], capture_output=True, text=True
    ).stdout.split():
        with contextlib.suppress(OSError):
            total += cpu_seconds(int(pid))
    return total


class Cluster:
    def __init__(
        self,
        database: str,
        emulator: RunningHubEmulator,
        work: Path,
        *,
        webhooks: bool = True,
        **env: str,
    ):
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERGATE_")} | {
            "RENDERGATE_DATA_DIR": str(work / "data"),
            "RENDERGATE_DATABASE_URL": database,
            "RENDERGATE_RUNNINGHUB_API_KEY": KEY,
            "RENDERGATE_RUNNINGHUB_BASE_URL": str(emulator.base_url),
            "RENDERGATE_RUNNINGHUB_HOST": "www.runninghub.cn",
            "RENDERGATE_RUNNINGHUB_CONCURRENCY": str(CAP),
            "RENDERGATE_LOG_LEVEL": "warning",
            "RENDERGATE_OPEN": "true",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.work = work
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        if webhooks:  # RunningHub's webhooks reach the API
            self.env["RENDERGATE_PUBLIC_URL"] = self.url
        self.workers: list[subprocess.Popen[bytes]] = []
        self.api: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Cluster:
        subprocess.run([str(RENDERGATE), "migrate"], env=self.env, capture_output=True, check=True)
        self.api = start(
            [str(RENDERGATE), "serve", "--no-worker", "--port", str(self.port)],
            self.work / "api.log",
            self.env,
        )
        await wait_up(f"{self.url}/healthz", self.api)
        return self

    def add_worker(self) -> subprocess.Popen[bytes]:
        index = len(self.workers)
        worker = start([str(RENDERGATE), "worker"], self.work / f"worker{index}.log", self.env)
        self.workers.append(worker)
        return worker

    async def __aexit__(self, *exc: object) -> None:
        for process in [*self.workers, self.api]:
            if process is not None:
                stop(process)

    def cpu(self) -> dict[str, float]:
        figures = {"api": cpu_seconds(self.api.pid) if self.api else 0.0}
        for index, worker in enumerate(self.workers):
            with contextlib.suppress(OSError):
                figures[f"worker{index}"] = cpu_seconds(worker.pid)
        figures["postgres"] = postgres_cpu()
        figures["bench+emulator"] = cpu_seconds(os.getpid())
        return figures


async def wait_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BenchError(f"{url}: the process exited with {process.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise BenchError(f"{url} did not come up")


async def create(url: str, count: int) -> list[int]:
    image = base64.b64encode(make_scene(48, 32)).decode()
    reference = base64.b64encode(make_reference()).decode()
    body = {"type": "su_render", "image_base64": image, "reference_base64": reference}
    gate = asyncio.Semaphore(16)
    async with aiohttp.ClientSession() as http:

        async def one() -> int:
            async with gate, http.post(f"{url}/tasks", json=body) as response:
                if response.status != 201:
                    raise BenchError(f"create answered {response.status}: {await response.text()}")
                return int((await response.json())["data"]["task_id"])

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def wait_all(url: str, ids: list[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        pending = set(ids)
        while pending:
            if time.monotonic() > deadline:
                raise BenchError(f"{len(pending)} tasks did not finish in {timeout_s:g} s")
            for task_id in list(pending)[:64]:
                async with http.get(f"{url}/tasks/{task_id}?include_base64=false") as response:
                    task = (await response.json())["data"]
                if task["status"] in ("failed", "canceled"):
                    raise BenchError(f"task {task_id} {task['status']}: {task['error_message']}")
                if task["status"] == "completed":
                    pending.discard(task_id)
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def emulator(**knobs: object) -> AsyncIterator[RunningHubEmulator]:
    emu = RunningHubEmulator(KEY, concurrency=10_000, **knobs)  # type: ignore[arg-type]
    async with emu.serve():
        yield emu


async def throughput(
    server: str, work: Path, workers: int, per_worker: int, args: argparse.Namespace
) -> tuple[float, dict[str, float]]:
    name = f"bench_{workers}_{per_worker}"
    async with emulator(queue_s=0.0, run_s=args.run_s) as emu:
        database = fresh_database(server, name)
        async with Cluster(
            database, emu, work / name, RENDERGATE_WORKER_CONCURRENCY=str(per_worker)
        ) as cluster:
            for _ in range(workers):
                cluster.add_worker()
            await asyncio.sleep(3)  # the workers join and register their queues
            before = cluster.cpu()
            started = time.monotonic()
            ids = await create(cluster.url, args.tasks)
            await wait_all(cluster.url, ids, 600)
            took = time.monotonic() - started
            after = cluster.cpu()
    return args.tasks / took, {k: after[k] - before.get(k, 0.0) for k in after}


async def failover(server: str, work: Path) -> float:
    async with emulator(queue_s=0.0, run_s=3600.0) as emu:
        database = fresh_database(server, "bench_failover")
        async with Cluster(
            database,
            emu,
            work / "failover",
            RENDERGATE_WORKER_CONCURRENCY="16",  # room for all 16
        ) as cluster:
            cluster.add_worker()
            cluster.add_worker()
            await asyncio.sleep(3)
            await create(cluster.url, 16)  # split between the two as they poll
            deadline = time.monotonic() + 120
            while len(emu.tasks) < 16:
                if time.monotonic() > deadline:
                    raise BenchError("the 16 tasks were not all submitted")
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)  # each is polled at least once
            victim = next(w for w in cluster.workers if w.pid == busiest_worker(database))
            polls = {t: r.requests["/task/openapi/outputs"] for t, r in emu.tasks.items()}
            victim.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            # Its tasks are the ones no one polls any more; each is resumed when polled again.
            await asyncio.sleep(8)  # past the survivor's own polls of its tasks (6 s apart)
            theirs = {
                t for t, r in emu.tasks.items() if r.requests["/task/openapi/outputs"] == polls[t]
            }
            later = {t: r.requests["/task/openapi/outputs"] for t, r in emu.tasks.items()}
            while any(emu.tasks[t].requests["/task/openapi/outputs"] == later[t] for t in theirs):
                if time.monotonic() - killed > 180:
                    survivor = diagnose(database) + "".join(
                        (work / "failover" / f"worker{i}.log").read_text()[-1500:] for i in (0, 1)
                    )
                    raise BenchError(
                        f"the killed worker's {len(theirs)} tasks were not all resumed in 180 s; "
                        f"the state and the workers' logs:\n{survivor}"
                    )
                await asyncio.sleep(0.1)
            return time.monotonic() - killed


def diagnose(database: str) -> str:
    url = database.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as connection:
        members = connection.execute("SELECT executor_id, state, recovered FROM workers").fetchall()
        flows = connection.execute(
            "SELECT executor_id, status, queue_name, count(*) FROM dbos.workflow_status "
            "GROUP BY 1, 2, 3"
        ).fetchall()
        queues = connection.execute("SELECT * FROM dbos.queues").fetchall()
    return f"workers {members}\nworkflows {flows}\nqueues {queues}\n"


def busiest_worker(database: str) -> int:
    """The pid of the worker running the most workflows, from the workers table."""
    query = (
        "SELECT w.pid FROM dbos.workflow_status s JOIN workers w USING (executor_id) "
        "WHERE s.status = 'PENDING' GROUP BY w.pid ORDER BY count(*) DESC LIMIT 1"
    )
    url = database.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as connection:
        row = connection.execute(query).fetchone()  # type: ignore[arg-type]
    if row is None:
        raise BenchError("no worker runs any task")
    return int(row[0])


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=160)
    parser.add_argument("--run-s", type=float, default=1.0)
    parser.add_argument("--only", choices=("throughput", "failover"), default=None)
    args = parser.parse_args()
    print(machine_info(f", {args.tasks} tasks of {args.run_s:g} s upstream, cap {CAP}"))
    with postgres() as (server, _), tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for label, per_worker in (("bounded", 8), ("unbounded", CAP)):
            if args.only == "failover":
                break
            one, cpu_one = await throughput(server, work, 1, per_worker, args)
            two, cpu_two = await throughput(server, work, 2, per_worker, args)
            three, cpu_three = await throughput(server, work, 3, per_worker, args)
            print(
                f"{label:9}  per-worker limit {per_worker:3}: 1 worker {one:6.2f} tasks/s, "
                f"2 workers {two:6.2f} tasks/s, ratio {two / one:4.2f}; "
                f"3 workers {three:6.2f} tasks/s, ratio {three / one:4.2f}"
            )
            for workers, cpu in ((1, cpu_one), (2, cpu_two), (3, cpu_three)):
                shown = ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
                print(f"           CPU seconds with {workers}: {shown}")
        if args.only == "throughput":
            return
        resumed = await failover(server, work)
        print(f"failover   SIGKILL of a worker to its last task polled again: {resumed:.1f} s")


if __name__ == "__main__":
    run_bench(main)
