"""How soon clients learn that a task completed: through its event stream (SSE), through a
signed webhook, and by polling every second, all three watching the same tasks in one run.

    python bench/push.py [--tasks 500] [--rate 10] [--run-s 0.5]

One `rendergate serve --no-worker` API and one `rendergate worker` on a throwaway
PostgreSQL (as bench/cluster.py); the RunningHub emulator runs each job for --run-s and
calls the API back. Tasks are created at a steady --rate, each with a webhook URL (a
receiver here, verifying every delivery with `standardwebhooks`); a client opens the
task's event stream on the API right after creating it, and another polls it every
second. A client's lag is the time from the task's `finished_at` (when the worker wrote
it completed; one machine, one clock) to the moment it learned the task was completed.
Prints p50, p99 and the worst of each, and the ratio of polling's p50 to each push
path's. Target: p99 within 100 ms for both push paths.

Exits 0 whatever the figures, non-zero when a task failed or got stuck.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from _children import BenchError, machine_info, run_bench
from cluster import Cluster, emulator, fresh_database, postgres
from support.images import make_reference, make_scene

SECRET = "whsec_" + base64.b64encode(b"rendergate-push-benchmark-secret").decode()
POLL_S = 1.0
WAIT_S = 120.0


def lag_since(finished_at: str) -> float:
    return time.time() - datetime.fromisoformat(finished_at).timestamp()


class Receiver:
    """Webhook receiver: the lag of each verified task.completed, by task id."""

    def __init__(self) -> None:
        self.lags: dict[int, float] = {}
        self.refused = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            payload = Webhook(SECRET).verify(body, dict(request.headers))
        except Exception:
            self.refused += 1
            return web.Response(status=400)
        if payload["type"] == "task.completed":
            task = payload["data"]
            self.lags.setdefault(task["task_id"], lag_since(task["finished_at"]))
        return web.Response(status=204)


async def follow_stream(http: aiohttp.ClientSession, url: str) -> float:
    """Reads the task's event stream until it says completed; the lag then."""
    timeout = aiohttp.ClientTimeout(total=WAIT_S)
    async with http.get(url, timeout=timeout) as response:
        if response.status != 200:
            raise BenchError(f"the event stream answered {response.status}")
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                task = json.loads(line[6:])
                if task["status"] == "completed":
                    return lag_since(task["finished_at"])
                if task["status"] in ("failed", "canceled"):
                    raise BenchError(f"task {task['task_id']} is {task['status']}")
    raise BenchError("the event stream ended before the task completed")


async def poll(http: aiohttp.ClientSession, url: str) -> float:
    """Polls every POLL_S until completed; the lag when it first saw it."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        async with http.get(f"{url}?include_base64=false") as response:
            task = (await response.json())["data"]
        if task["status"] == "completed":
            return lag_since(task["finished_at"])
        if task["status"] in ("failed", "canceled"):
            raise BenchError(f"task {task['task_id']} is {task['status']}")
        await asyncio.sleep(POLL_S)
    raise BenchError(f"{url} did not complete within {WAIT_S:g} s")


async def one_task(
    http: aiohttp.ClientSession, api: str, hook: str, start_in: float
) -> tuple[float, float]:
    """Created `start_in` seconds from now (a steady arrival rate), then followed."""
    await asyncio.sleep(start_in)
    image = base64.b64encode(make_scene(48, 32)).decode()
    reference = base64.b64encode(make_reference()).decode()
    body = {
        "type": "su_render",
        "image_base64": image,
        "reference_base64": reference,
        "webhook_url": hook,
        "webhook_events": ["task.completed"],
    }
    async with http.post(f"{api}/tasks", json=body) as response:
        if response.status != 201:
            raise BenchError(f"create answered {response.status}: {await response.text()}")
        task_id = (await response.json())["data"]["task_id"]
    url = f"{api}/tasks/{task_id}"
    return await asyncio.gather(follow_stream(http, f"{url}/events"), poll(http, url))


async def measure(args: argparse.Namespace, server: str, work: Path) -> dict[str, list[float]]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"  # type: ignore[union-attr]
    try:
        async with emulator(queue_s=0.0, run_s=args.run_s) as emu:
            database = fresh_database(server, "bench_push")
            env = {
                "RENDERGATE_WEBHOOK_SECRET": SECRET,
                "RENDERGATE_FETCH_ALLOW": "127.0.0.1",
                "RENDERGATE_MAX_STREAMS_PER_KEY": "1000",  # a stream per task, all one key's
            }
            async with Cluster(database, emu, work, **env) as cluster:
                cluster.add_worker()
                connector = aiohttp.TCPConnector(limit=0)
                async with aiohttp.ClientSession(connector=connector) as http:
                    pairs = await asyncio.gather(
                        *(
                            one_task(http, cluster.url, hook, i / args.rate)
                            for i in range(args.tasks)
                        )
                    )
                cpu = cluster.cpu()
                deadline = time.monotonic() + 30
                while len(receiver.lags) < args.tasks and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    if len(receiver.lags) < args.tasks or receiver.refused:
        raise BenchError(
            f"{len(receiver.lags)} of {args.tasks} webhooks verified, {receiver.refused} refused"
        )
    print("cpu seconds: " + ", ".join(f"{name} {spent:.1f}" for name, spent in cpu.items()))
    return {
        "sse": [stream for stream, _ in pairs],
        "webhook": list(receiver.lags.values()),
        "polling": [polled for _, polled in pairs],
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--run-s", type=float, default=0.5, help="each job's time upstream")
    parser.add_argument("--rate", type=float, default=10.0, help="tasks created a second")
    args = parser.parse_args()
    print(machine_info(f", {args.tasks} tasks, {args.rate:g} created a second"))
    with postgres() as (server, _), tempfile.TemporaryDirectory() as scratch:
        figures = await measure(args, server, Path(scratch))
    for label, lags in figures.items():
        p50, p99 = percentile(lags, 0.5), percentile(lags, 0.99)
        print(
            f"{label:8} completion to client: p50 {p50 * 1000:7.1f} ms, "
            f"p99 {p99 * 1000:7.1f} ms, worst {max(lags) * 1000:7.1f} ms"
        )
    polled = statistics.median(figures["polling"])
    for label in ("sse", "webhook"):
        print(f"ratio    polling / {label} p50: {polled / statistics.median(figures[label]):.0f}")


if __name__ == "__main__":
    run_bench(main)
