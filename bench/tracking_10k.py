"""Ten thousand RunningHub tasks in flight in one worker, on PostgreSQL, webhooks on.

    python bench/tracking_10k.py [--tasks 10000] [--steady-s 60] [--rate 10] [--measured 600]

Starts a throwaway PostgreSQL, the RunningHub emulator (in this process, holding every
task in its phase until told), one `rendergate serve --no-worker` API and one `rendergate
worker` whose caps let every task in. Then:
  ramp     creates the tasks through the API (16 at a time, a small screenshot each) and
           starts each upstream once the worker has submitted it;
  steady   once every task runs upstream: the worker's CPU over `steady_s` (kernel count)
           and its memory (RSS now, and its peak since start);
  drain    ends `measured` tasks upstream at `rate` a second while the others stay in
           flight (each sends its TASK_END webhook to the API, which wakes the worker
           through PostgreSQL) and measures each one's completion lag: its `finished_at`
           minus the upstream end; then ends the rest at `rest_rate` a second, and checks
           only that every task completed (at 50 a second this machine's two cores fall
           behind: collecting a result costs the worker and the API more than tracking).
The baseline is the emulator itself: the same tasks with no one tracking them cost it
nothing, so the figures are the worker's own. Targets (issue 21): steady tracking at most
0.3 core, peak RSS at most 500 MB, completion lag p99 at most 0.5 s, no task lost.
Exits 0 whatever the figures, non-zero when a task failed or got stuck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import tempfile
import time
from pathlib import Path

import psycopg

from _children import BenchError, cpu_seconds, machine_info, run_bench
from cluster import Cluster, create, emulator, fresh_database, postgres

TARGET_CORE, TARGET_RSS_MB, TARGET_P99_S = 0.3, 500.0, 0.5


def memory_mb(pid: int) -> tuple[float, float]:
    """The process's resident memory now and at its peak (VmRSS, VmHWM), in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


async def start_held(emu: object, n: int, deadline_s: float) -> None:
    """Moves each task the worker submits from QUEUED to RUNNING, until n run."""
    deadline = time.monotonic() + deadline_s
    while True:
        running = 0
        for task in list(emu.tasks.values()):  # type: ignore[attr-defined]
            if task.status == "QUEUED" and task.held is not None:
                emu.advance(task.task_id)  # type: ignore[attr-defined]
            running += task.status == "RUNNING"
        if running >= n:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"only {running} of {n} tasks were submitted in {deadline_s:g} s")
        await asyncio.sleep(0.5)


def finished_rows(database: str) -> dict[str, tuple[str, float | None]]:
    """Each task's upstream job id -> (status, finished_at as a timestamp)."""
    url = database.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT status, provider_job, finished_at FROM tasks").fetchall()
    found = {}
    for status, job, finished in rows:
        handle = json.loads(job) if isinstance(job, str) else job
        if handle:
            found[handle["job_id"]] = (status, finished.timestamp() if finished else None)
    return found


async def drain(
    emu: object, database: str, args: argparse.Namespace, timeout_s: float
) -> tuple[list[float], int]:
    """Ends the first `measured` tasks upstream at `rate` a second, the others still in
    flight, then the rest at `rest_rate`; returns the measured tasks' completion lags (s)
    and how many tasks completed in all."""
    held = [t.task_id for t in emu.tasks.values() if t.status == "RUNNING"]  # type: ignore[attr-defined]
    measured = set(held[: args.measured])
    started = time.monotonic()
    for index, task_id in enumerate(held[: args.measured]):
        await asyncio.sleep(max(0.0, started + index / args.rate - time.monotonic()))
        emu.advance(task_id)  # type: ignore[attr-defined]
    await asyncio.sleep(5)  # the measured ones' completions, before the rest come
    started = time.monotonic()
    for index, task_id in enumerate(held[args.measured :]):
        await asyncio.sleep(max(0.0, started + index / args.rest_rate - time.monotonic()))
        emu.advance(task_id)  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout_s
    while True:
        rows = finished_rows(database)
        done = [job for job, (status, _) in rows.items() if status == "completed"]
        bad = [job for job, (status, _) in rows.items() if status in ("failed", "canceled")]
        if bad:
            raise BenchError(f"{len(bad)} tasks failed or were canceled")
        if len(done) >= len(held):
            break
        if time.monotonic() > deadline:
            raise BenchError(f"{len(held) - len(done)} tasks were not completed: lost or stuck")
        await asyncio.sleep(1.0)
    ends = {t.task_id: t.finished_wall for t in emu.tasks.values()}  # type: ignore[attr-defined]
    lags = [
        finished - ends[job]
        for job, (_, finished) in rows.items()
        if finished and ends[job] and job in measured
    ]
    return lags, len(done)


async def scenario(server: str, work: Path, args: argparse.Namespace) -> None:
    async with emulator(queue_s=0.0, run_s=60.0, hold=True) as emu:
        database = fresh_database(server, "bench_10k")
        caps = {
            "RENDERGATE_RUNNINGHUB_CONCURRENCY": str(args.tasks),
            "RENDERGATE_WORKER_CONCURRENCY": str(args.tasks),
        }
        async with Cluster(database, emu, work / "10k", **caps) as cluster:
            worker = cluster.add_worker()
            await asyncio.sleep(3)  # the worker joins and registers its queue
            began = time.monotonic()
            ramp = asyncio.create_task(start_held(emu, args.tasks, 600 + args.tasks / 5))
            await create(cluster.url, args.tasks)
            created = time.monotonic() - began
            await ramp
            print(
                f"ramp: {args.tasks} created in {created:.0f} s, all running upstream "
                f"{time.monotonic() - began:.0f} s in",
                flush=True,
            )
            await asyncio.sleep(10)  # the last submits' after-effects settle
            outputs = "/task/openapi/outputs"
            polls0 = emu.stats.requests_by_path.get(outputs, 0)
            cpu0, wall0 = cpu_seconds(worker.pid), time.monotonic()
            await asyncio.sleep(args.steady_s)
            core = (cpu_seconds(worker.pid) - cpu0) / (time.monotonic() - wall0)
            rss, peak = memory_mb(worker.pid)
            api_rss, _ = memory_mb(cluster.api.pid) if cluster.api else (math.nan, math.nan)
            polls = emu.stats.requests_by_path.get(outputs, 0) - polls0
            print(
                f"steady: worker {core:.3f} core over {args.steady_s:g} s, RSS {rss:.0f} MB "
                f"(peak {peak:.0f} MB); API RSS {api_rss:.0f} MB; {polls} status calls meanwhile",
                flush=True,
            )
            lags, completed = await drain(emu, database, args, 600 + args.tasks / args.rest_rate)
            _, peak = memory_mb(worker.pid)
    lost = args.tasks - completed
    p50, p99 = pct(lags, 0.5), pct(lags, 0.99)
    print(
        f"drain: the first {len(lags)} ended at {args.rate:g}/s with the others in flight: "
        f"lag p50 {1000 * p50:.0f} ms, p99 {1000 * p99:.0f} ms, max {1000 * max(lags):.0f} ms;"
        f" then the rest at {args.rest_rate:g}/s; {completed} completed in all"
    )

    def verdict(ok: bool) -> str:
        return "OK" if ok else "MISSED"

    print(
        f"steady tracking {core:.3f} core (target <= {TARGET_CORE}) {verdict(core <= TARGET_CORE)}"
    )
    print(f"peak RSS {peak:.0f} MB (target <= {TARGET_RSS_MB:g}) {verdict(peak <= TARGET_RSS_MB)}")
    print(f"lag p99 {p99:.2f} s (target <= {TARGET_P99_S}) {verdict(p99 <= TARGET_P99_S)}")
    print(f"tasks lost {lost} (target 0) {verdict(lost == 0)}")
    if lost:
        raise BenchError(f"{lost} tasks lost")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--steady-s", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=10.0, help="measured ends per second")
    parser.add_argument("--measured", type=int, default=600, help="ends whose lag is measured")
    parser.add_argument("--rest-rate", type=float, default=50.0, help="the other ends a second")
    args = parser.parse_args()
    print(machine_info(), flush=True)
    with postgres() as (server, _), tempfile.TemporaryDirectory() as scratch:
        await scenario(server, Path(scratch), args)


if __name__ == "__main__":
    run_bench(main)
