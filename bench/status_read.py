"""Throughput of GET /tasks/{id}?include_base64=false, of a finished and of an unfinished
task, against a bare Starlette JSON endpoint.

    python bench/status_read.py [--seconds 10] [--connections 32] [--rounds 3]
                                [--database-url postgresql+psycopg://.../an_empty_database]

Starts `rendergate serve` (fresh data dir) with one completed task and one that the fake
provider holds in processing, and a bare Starlette app that returns the very JSON
rendergate returned for the completed one, all under the same uvicorn settings as
`rendergate serve`. An aiohttp load generator in its own process measures each in
alternating rounds. Prints the medians and each task's ratio to the bare endpoint; exits 0
whatever the ratios, non-zero when anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from _children import (
    HOST,
    BenchError,
    closed_loop,
    launch,
    load_with_server_cpu,
    machine_info,
    stop,
)
from rendergate.api.serving import uvicorn_config
from rendergate.config.settings import Settings

TARGETS = {"finished": 0.5, "unfinished": 0.7}  # by throughput, of the bare endpoint's
TIMEOUT = aiohttp.ClientTimeout(total=30)
HOLD_APP = """
[apps.bench_hold]
provider = "fake"
title = "holds a task in processing for the benchmark"
deadline_s = 3600
"""


def serve_baseline(port: int, body_file: Path) -> None:
    """Child process: one Starlette route answering with a fixed JSON body."""
    body = json.loads(body_file.read_text())

    async def task(request: Request) -> JSONResponse:
        return JSONResponse(body)

    app = Starlette(routes=[Route("/tasks/{task_id:int}", task), Route("/healthz", task)])
    # The same server configuration `rendergate serve` uses (src/rendergate/api/serving.py).
    uvicorn.Server(uvicorn_config(app, Settings(), host=HOST, port=port)).run()


async def load(url: str, seconds: float, connections: int) -> dict[str, float]:
    """Child process: `connections` keep-alive clients GET the URL; warm up, then measure."""

    async def get(session: aiohttp.ClientSession) -> None:
        async with session.get(url) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise BenchError(f"GET {url} answered {resp.status}: {body[:300]!r}")

    return await closed_loop(get, seconds, connections, TIMEOUT)


async def completed_task(base: str) -> tuple[int, dict[str, Any]]:
    """Creates a `preview` task from a generated 640x480 PNG; waits until it completes."""
    png = io.BytesIO()
    Image.radial_gradient("L").resize((640, 480)).convert("RGB").save(png, format="PNG")
    form = aiohttp.FormData()
    form.add_field("type", "preview")
    form.add_field("image", png.getvalue(), filename="bench.png", content_type="image/png")
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        async with session.post(f"{base}/tasks", data=form) as resp:
            if resp.status != 201:
                raise BenchError(f"POST /tasks answered {resp.status}: {await resp.text()}")
            task_id = int((await resp.json())["data"]["task_id"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            async with session.get(f"{base}/tasks/{task_id}?include_base64=false") as resp:
                body = await resp.json()
            status = body["data"]["status"]
            if status == "completed":
                return task_id, body
            if status in ("failed", "canceled"):
                raise BenchError(f"task {task_id} ended {status}: {body['data']['error_message']}")
            await asyncio.sleep(0.25)
    raise BenchError(f"task {task_id} did not complete within 120 s")


async def processing_task(base: str) -> int:
    """Creates a task on the scripted fake provider that runs until its deadline."""
    png = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(png, format="PNG")
    form = aiohttp.FormData()
    form.add_field("type", "bench_hold")
    form.add_field("params", json.dumps({"fake": {"outcome": "hang"}}))
    form.add_field("image", png.getvalue(), filename="bench.png", content_type="image/png")
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.post(f"{base}/tasks", data=form) as resp,
    ):
        if resp.status != 201:
            raise BenchError(f"POST /tasks answered {resp.status}: {await resp.text()}")
        return int((await resp.json())["data"]["task_id"])


def measure(url: str, server_pid: int, seconds: float, connections: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--load", url, "--seconds", str(seconds)]
    cmd += ["--connections", str(connections)]
    result, cpu = load_with_server_cpu(cmd, server_pid, seconds)
    result["cpu_s_per_1k"] = 1000 * cpu / max(result["requests"], 1)
    return result


def row(label: object, name: str, r: dict[str, float]) -> str:
    return (
        f"{label!s:<8}{name:<12}{r['rps']:>9.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
        f"{r['cpu_s_per_1k']:>14.3f}{r['client_cpu_pct']:>13.0f}"
    )


def report(med: dict[str, dict[str, float]]) -> None:
    """Each task's ratio to the bare endpoint, by throughput and by server CPU per request."""
    if med["baseline"]["client_cpu_pct"] >= 85:
        print("note: the load generator was near one full core on the baseline, so the")
        print("      baseline is client-bound; the CPU ratios below are the sharper measure")
    for name, target in TARGETS.items():
        ratio = med[name]["rps"] / med["baseline"]["rps"]
        cpu = med["baseline"]["cpu_s_per_1k"] / med[name]["cpu_s_per_1k"]
        print(
            f"{name} task / baseline: throughput {ratio:.2f} (target >= {target}), "
            f"server CPU per request {cpu:.2f}"
        )


def run(seconds: float, connections: int, rounds: int, database_url: str | None) -> None:
    database = "PostgreSQL" if database_url else "SQLite"
    print(machine_info(f", uvicorn {uvicorn.__version__}, {database}"), flush=True)
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="rendergate-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERGATE_")}
        env |= {
            "RENDERGATE_DATA_DIR": str(tmp / "data"),
            "RENDERGATE_LOG_LEVEL": "warning",
            "RENDERGATE_OPEN": "true",
            **({"RENDERGATE_DATABASE_URL": database_url} if database_url else {}),
        }
        (tmp / "apps.toml").write_text(HOLD_APP)
        env["RENDERGATE_APPS_FILE"] = str(tmp / "apps.toml")
        rg_cmd = [str(Path(sys.executable).with_name("rendergate")), "serve", "--host", HOST]
        try:
            rg_base, rg_pid = launch([*rg_cmd, "--port"], tmp / "rendergate.log", procs, env)
            task_id, body = asyncio.run(completed_task(rg_base))
            running_id = asyncio.run(processing_task(rg_base))
            (tmp / "body.json").write_text(json.dumps(body))
            base_cmd = [sys.executable, __file__, "--serve-baseline", str(tmp / "body.json")]
            bl_base, bl_pid = launch(base_cmd, tmp / "baseline.log", procs, env)

            path = f"/tasks/{task_id}?include_base64=false"
            running = f"{rg_base}/tasks/{running_id}?include_base64=false"
            servers = {
                "baseline": (bl_base + path, bl_pid),
                "finished": (rg_base + path, rg_pid),
                "unfinished": (running, rg_pid),
            }
            size = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False))
            print(f"GET {path}: {size} B JSON; {connections} connections, {seconds:g} s/round")
            head = f"{'round':<8}{'server':<12}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
            print(head + f"{'srv CPU s/1k':>14}{'client CPU%':>13}")
            results: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
            for i in range(1, rounds + 1):  # alternate, so drift hits both alike
                for name, (url, pid) in servers.items():
                    results[name].append(measure(url, pid, seconds, connections))
                    print(row(i, name, results[name][-1]), flush=True)
            med = {
                name: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
                for name, rs in results.items()
            }
            for name, m in med.items():
                print(row("median", name, m))
            report(med)
        finally:
            for proc in reversed(procs):
                stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per round")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive connections")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server")
    parser.add_argument(
        "--database-url", help="an empty PostgreSQL database for rendergate (default: SQLite)"
    )
    parser.add_argument("--serve-baseline", nargs=2, metavar=("FILE", "PORT"), help="(internal)")
    parser.add_argument("--load", metavar="URL", help="(internal)")
    args = parser.parse_args()
    if not (0 < args.seconds <= 300 and 0 < args.connections <= 1000 and 0 < args.rounds <= 20):
        parser.error("need 0 < seconds <= 300, 0 < connections <= 1000, 0 < rounds <= 20")
    if args.serve_baseline:
        serve_baseline(int(args.serve_baseline[1]), Path(args.serve_baseline[0]))
        return 0
    if args.load:
        print(json.dumps(asyncio.run(load(args.load, args.seconds, args.connections))))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup on SIGTERM too
    try:
        run(args.seconds, args.connections, args.rounds, args.database_url)
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
