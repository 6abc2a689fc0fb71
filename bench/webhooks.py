"""How soon a RunningHub task completes once its job has ended upstream, on a cluster: the
webhook reaches the API process, which wakes the worker tracking the task through
PostgreSQL; against the same cluster without a public URL, where only polling finds out.

    python bench/webhooks.py [--tasks 5]

One `rendergate serve --no-worker` API and one `rendergate worker` on a throwaway
PostgreSQL (as bench/cluster.py), the RunningHub emulator holding each job running until
this script ends it. Per task: the seconds from ending the job upstream to the API saying
`completed` (polled every 10 ms); the median and the worst of each path, and their ratio.
The target is under a second with the webhook.

Exits 0 whatever the figures, non-zero when a task failed or got stuck.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from _children import BenchError, machine_info, run_bench
from cluster import Cluster, create, emulator, fresh_database, postgres
from rendergate_emulators.runninghub import RunningHubEmulator
from rendergate_emulators.runninghub_tasks import HubTask


async def completed_after_end(cluster: Cluster, emu: RunningHubEmulator, count: int) -> list[float]:
    """Seconds from the job's end upstream to `completed`, one task at a time."""
    taken: list[float] = []
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            [task_id] = await create(cluster.url, 1)
            upstream = await _tracked(emu, len(taken) + 1)
            emu.advance(upstream.task_id)
            emu.advance(upstream.task_id)  # it ends: the webhook is sent
            ended = time.monotonic()
            while True:
                async with http.get(f"{cluster.url}/tasks/{task_id}") as response:
                    status = (await response.json())["data"]["status"]
                if status == "completed":
                    taken.append(time.monotonic() - ended)
                    break
                if status in ("failed", "canceled") or time.monotonic() - ended > 60:
                    raise BenchError(f"task {task_id} is {status} 60 s after its job ended")
                await asyncio.sleep(0.01)
    return taken


async def _tracked(emu: RunningHubEmulator, count: int) -> HubTask:
    """The newest job, once the worker has asked RunningHub about it (it is tracked)."""
    deadline = time.monotonic() + 60
    while True:
        tasks = list(emu.tasks.values())
        if len(tasks) == count and tasks[-1].requests["/task/openapi/outputs"] > 0:
            return tasks[-1]
        if time.monotonic() > deadline:
            raise BenchError("the worker did not submit and poll the task within 60 s")
        await asyncio.sleep(0.05)


async def scenario(server: str, work: Path, count: int, *, webhooks: bool) -> list[float]:
    name = "bench_webhooks" if webhooks else "bench_polling"
    async with emulator(hold=True) as emu:
        database = fresh_database(server, name)
        async with Cluster(database, emu, work / name, webhooks=webhooks) as cluster:
            cluster.add_worker()
            return await completed_after_end(cluster, emu, count)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=5)
    args = parser.parse_args()
    print(machine_info(f", {args.tasks} tasks per path, one at a time"))
    with postgres() as (server, _), tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        hooked = await scenario(server, work, args.tasks, webhooks=True)
        polled = await scenario(server, work, args.tasks, webhooks=False)
    for label, figures in (("webhook", hooked), ("polling", polled)):
        median, worst = statistics.median(figures), max(figures)
        print(f"{label:8} job end to completed: median {median:5.2f} s, worst {worst:5.2f} s")
    ratio = statistics.median(polled) / statistics.median(hooked)
    print(f"ratio    polling / webhook medians: {ratio:.1f}")


if __name__ == "__main__":
    run_bench(main)
