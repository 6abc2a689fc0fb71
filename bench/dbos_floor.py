"""What DBOS alone costs per task: the floor under rendergate's CPU per task.

    python bench/dbos_floor.py [--tasks 500] [--postgres URL]

In one process, with nothing of rendergate's: enqueues `--tasks` workflows of one async
step (the shape of `TaskRunner.run`: one workflow, one step per task) on a DBOS queue on
SQLite (or on the PostgreSQL at URL, a database it makes and drops), waits for every
result, and prints the process's CPU per task. The baseline, in the same run: the same
step run as plain asyncio tasks, without DBOS. The issue's CPU target for a whole task is
2.5x the naive client's (0.015 s on this machine): what DBOS takes of it is the floor no
cut in rendergate's own code can go under.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from dbos import DBOS, Queue

from _children import machine_info

TARGET_S = 0.015  # the CPU per task: 2.5x the naive client's 0.006 s


@DBOS.step()
async def work(i: int) -> int:
    await asyncio.sleep(0)
    return i


@DBOS.workflow()
async def task(i: int) -> int:
    return await work(i)


async def plain(n: int) -> float:
    async def one(i: int) -> int:
        await asyncio.sleep(0)
        return i

    started = time.process_time()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.process_time() - started


async def with_dbos(n: int, queue: Queue) -> float:
    started = time.process_time()
    handles = [await queue.enqueue_async(task, i) for i in range(n)]
    results = [await handle.get_result() for handle in handles]
    if results != list(range(n)):
        raise SystemExit("bench failed: a workflow's result is wrong")
    return time.process_time() - started


def _database(url: str | None, tmp: Path) -> str:
    if url is None:
        return f"sqlite:///{tmp / 'dbos.sqlite'}"
    name = f"rg_floor_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"


def _drop(url: str | None, database: str) -> None:
    if url is not None:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{database.rsplit("/", 1)[1]}" WITH (FORCE)')


async def run(n: int, url: str | None, tmp: Path) -> tuple[float, float]:
    database = _database(url, tmp)
    try:
        DBOS(config={"name": "dbos-floor", "system_database_url": database})
        DBOS.launch()  # then the queue, as rendergate's worker does (dbos_orchestrator.py)
        queue = await DBOS.register_queue_async(
            "floor", worker_concurrency=64, polling_interval_sec=0.5
        )
        await with_dbos(20, queue)  # warm: first statements compiled, pools filled
        base, dbos = await plain(n), await with_dbos(n, queue)
        DBOS.destroy()
    finally:
        _drop(url, database)
    return base, dbos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--postgres", metavar="URL", help="postgresql://... (a server to use)")
    args = parser.parse_args()
    print(machine_info())
    with tempfile.TemporaryDirectory() as tmp:
        base, dbos = asyncio.run(run(args.tasks, args.postgres, Path(tmp)))
    on = "PostgreSQL" if args.postgres else "SQLite"
    per_base, per_dbos = base / args.tasks, dbos / args.tasks
    print(f"{args.tasks} one-step workflows on a DBOS queue on {on}")
    print(f"plain asyncio: {1000 * per_base:.3f} ms CPU per task")
    ratio = per_dbos / per_base
    print(f"DBOS:          {1000 * per_dbos:.2f} ms CPU per task ({ratio:.0f}x plain)")
    print(f"DBOS alone is {per_dbos / TARGET_S:.2f} of the issue's whole-task target (15 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
