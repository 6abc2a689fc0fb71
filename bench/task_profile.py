"""Where the CPU of a task goes, from create to completed: rendergate under a profiler.

    python bench/task_profile.py [--tasks 200] [--postgres] [--plain]

Starts the RunningHub emulator (tasks of about a second, webhooks on) and rendergate under
yappi (bench/_profiled.py: CPU clock, every thread): on SQLite one `rendergate serve`, with
--postgres a throwaway PostgreSQL, an API process (`serve --no-worker`) and a worker. Posts
the su_render tasks (a 256x192 PNG screenshot and a JPEG reference), 16 at a time, waits
until all have completed, stops the processes and prints, per process, the CPU per task
(measured by the kernel, so without the profiler's own cost, and with it) and the share
of the profiled CPU by area: our packages one by one, and each library. A profiler slows
Python code more than C code, so the shares are a map of where to look, not a bill: with
--plain no profiler runs, and only the CPU per task is printed. On PostgreSQL it also prints
the database's commits, rows written and bytes (ours and DBOS's) per task.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psycopg

from _children import (
    HOST,
    BenchError,
    cpu_seconds,
    free_port,
    machine_info,
    start,
    stop,
    wait_healthy,
)
from cluster import fresh_database, postgres
from runninghub_tracking import KEY, RH_HOST, images, post_su_render

BENCH = Path(__file__).parent
SUBMITTERS = 16


def area(module: str) -> str:
    """A profiled function's area: rendergate.<package>, a library, or the stdlib module."""
    path = module.replace("\\", "/")
    for marker, prefix in (("site-packages/", ""), ("/src/rendergate/", "rendergate.")):
        if marker in path:
            return prefix + path.split(marker, 1)[1].split("/")[0].removesuffix(".py")
    if "/python3." in path:
        rest = path.split("/python3.", 1)[1].split("/", 1)[-1]
        return "stdlib." + rest.split("/")[0].removesuffix(".py")
    return f"builtin.{module}"


def summarise(profile: Path) -> tuple[float, collections.Counter[str], list[tuple[float, str]]]:
    by_area: collections.Counter[str] = collections.Counter()
    functions: list[tuple[float, str]] = []
    for line in profile.read_text().splitlines():
        module, name, own, _calls = json.loads(line)
        by_area[area(module)] += own
        functions.append((own, f"{name} ({Path(module).name})"))
    return sum(by_area.values()), by_area, sorted(functions, reverse=True)[:12]


async def post_all(base: str, n: int) -> float:
    """Posts n tasks and waits until every one has completed; returns the wall time."""
    shot, ref = images()
    sem = asyncio.Semaphore(SUBMITTERS)
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:

        async def post() -> None:
            async with sem:
                await post_su_render(session, base, shot, ref)

        await asyncio.gather(*(post() for _ in range(n)))
        deadline = time.monotonic() + 120 + n
        while time.monotonic() < deadline:
            async with session.get(f"{base}/tasks?status=completed&limit=100") as resp:
                page = (await resp.json())["data"]
            counts = []
            for status in ("submitted", "processing", "failed", "canceled"):
                async with session.get(f"{base}/tasks?status={status}&limit=1") as resp:
                    counts.append(len((await resp.json())["data"]["tasks"]))
            if counts[2] or counts[3]:
                raise BenchError(f"a task ended {'failed' if counts[2] else 'canceled'}")
            if not counts[0] and not counts[1] and page["tasks"]:
                return time.monotonic() - started
            await asyncio.sleep(0.5)
    raise BenchError("the tasks did not all complete in time")


def run(args: argparse.Namespace, tmp: Path, database: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERGATE_")}
    emu_port, port = free_port(), free_port()
    emu_cmd = [sys.executable, "-m", "rendergate_emulators.runninghub", "--api-key", KEY]
    emu_cmd += ["--port", str(emu_port), "--concurrency", str(args.tasks)]
    emu_cmd += ["--queue-s", "0", "--run-s", str(args.run_s)]
    base = f"http://{HOST}:{port}"
    env |= {
        "RENDERGATE_DATA_DIR": str(tmp / "data"),
        "RENDERGATE_LOG_LEVEL": "warning",
        "RENDERGATE_OPEN": "true",
        "RENDERGATE_RUNNINGHUB_API_KEY": KEY,
        "RENDERGATE_RUNNINGHUB_BASE_URL": f"http://{HOST}:{emu_port}",
        "RENDERGATE_RUNNINGHUB_HOST": RH_HOST,
        "RENDERGATE_RUNNINGHUB_CONCURRENCY": str(args.tasks),
        "RENDERGATE_WORKER_CONCURRENCY": str(args.tasks),
        "RENDERGATE_PUBLIC_URL": base,
    } | ({"RENDERGATE_DATABASE_URL": database} if database else {})
    procs = [start(emu_cmd, tmp / "emulator.log", env)]
    rendergate = [str(Path(sys.executable).with_name("rendergate"))]
    roles = {"serve": ["serve", "--host", HOST, "--port", str(port)]}
    if database:
        subprocess.run([*rendergate, "migrate"], env=env, capture_output=True, check=True)
        roles = {"api": [*roles["serve"], "--no-worker"], "worker": ["worker"]}
    try:
        for role, cmd in roles.items():
            runs = rendergate if args.plain else [sys.executable, str(BENCH / "_profiled.py")]
            profile = [] if args.plain else [str(tmp / f"{role}.prof")]
            procs.append(start([*runs, *profile, *cmd], tmp / f"{role}.log", env))
        asyncio.run(wait_healthy(f"{base}/healthz", procs[1], tmp / f"{next(iter(roles))}.log"))
        cpu0 = {role: cpu_seconds(p.pid) for role, p in zip(roles, procs[1:], strict=True)}
        db0 = database_counts(database) if database else {}
        wall = asyncio.run(post_all(base, args.tasks))
        cpu = {
            role: cpu_seconds(p.pid) - cpu0[role] for role, p in zip(roles, procs[1:], strict=True)
        }
        if database:
            db1 = database_counts(database)
            print(
                "database, per task: "
                + ", ".join(
                    f"{name} {(db1[name] - db0.get(name, 0)) / args.tasks:.1f}" for name in db1
                )
            )
    finally:
        for proc in reversed(procs):
            stop(proc)
    state = "plain" if args.plain else "under the profiler"
    print(f"{args.tasks} tasks completed in {wall:.1f} s ({state})")
    if args.plain:
        for role in roles:
            print(f"{role}: {1000 * cpu[role] / args.tasks:.1f} ms CPU per task (kernel count)")
        return
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for role in roles:
            shutil.copy(tmp / f"{role}.prof.pstat", args.keep / f"{role}.pstat")
    for role in roles:
        report(role, cpu[role], tmp / f"{role}.prof", args.tasks)


def database_counts(database: str) -> dict[str, float]:
    """PostgreSQL's counts for the database so far: commits, rows written, and the bytes
    of our tables and DBOS's (PostgreSQL's statistics lag up to a second behind)."""
    time.sleep(1.0)
    url = database.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database "
            "WHERE datname = current_database()"
        ).fetchone()
        sizes = dict(
            connection.execute(
                "SELECT n.nspname, sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
                "AND n.nspname IN ('public', 'dbos') GROUP BY n.nspname"
            ).fetchall()
        )
    assert row is not None
    names = ("commits", "rows inserted", "rows updated", "rows deleted")
    counts = dict(zip(names, map(float, row), strict=True))
    return counts | {f"bytes in {schema}": float(size) for schema, size in sizes.items()}


def report(role: str, cpu_s: float, profile: Path, n: int) -> None:
    if not profile.exists():
        print(f"{role}: no profile written (did it exit cleanly?)")
        return
    total, by_area, functions = summarise(profile)
    print(f"\n{role}: {1000 * cpu_s / n:.1f} ms CPU per task under the profiler (kernel count)")
    for name, own in by_area.most_common(18):
        print(f"  {100 * own / total:5.1f} %  {1000 * own / n:7.2f} ms/task  {name}")
    print("  top functions by own CPU:")
    for own, name in functions:
        print(f"  {100 * own / total:5.1f} %  {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--run-s", type=float, default=1.0, help="emulated run time")
    parser.add_argument("--postgres", action="store_true", help="API + worker on PostgreSQL")
    parser.add_argument("--plain", action="store_true", help="no profiler: CPU per task only")
    parser.add_argument("--keep", type=Path, help="copy the profiles (pstats) to this folder")
    args = parser.parse_args()
    print(machine_info(), flush=True)
    with tempfile.TemporaryDirectory(prefix="rendergate-profile-") as tmp:
        try:
            if args.postgres:
                with postgres() as (server, _):
                    run(args, Path(tmp), fresh_database(server, "profile"))
            else:
                run(args, Path(tmp), None)
        except BenchError as exc:
            print(f"FAILED {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
