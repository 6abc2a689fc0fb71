"""Throughput and CPU of POST /tasks against a bare Starlette endpoint that only parses
the same multipart body and writes its files.

    python bench/create.py [--seconds 5] [--connections 16] [--rounds 3]

The body is a 1920x1080 PNG screenshot drawn with Pillow (panels, text, a photo-like
patch: about 0.75 MB) and a 512x288 reference (about 0.13 MB), under the 1 MB past which a
body takes a large-body slot. rendergate runs as `rendergate serve` (embedded default:
SQLite, local files, the worker in the process) on a fresh data dir, with an app on the
fake provider whose tasks hang, and RENDERGATE_WORKER_CONCURRENCY=1: the first task holds
the one slot, every later one waits in the queue, so the worker's work does not compete
with the creates. The baseline parses the body with Starlette's `request.form()` and
writes both files (to one of 1024 names in turn, so the disk does not fill). An aiohttp
load generator in its own process posts to each in alternating rounds. Prints the medians,
the server's CPU per create and the ratio; exits 0 whatever the ratio, non-zero when
anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
import numpy as np
import uvicorn
from PIL import Image, ImageDraw
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
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
from rendergate.api.limits import LARGE_BODY_BYTES
from rendergate.api.serving import uvicorn_config
from rendergate.config.settings import Settings

TARGET = 0.4
TIMEOUT = aiohttp.ClientTimeout(total=60)
HOLD_APP = """
[apps.bench_hold]
provider = "fake"
title = "holds its tasks for the benchmark"
deadline_s = 3600
"""
BOUNDARY = "rendergatebenchboundary7MA4YWxkTrZu0gW"


def screenshot(width: int = 1920, height: int = 1080, seed: int = 7) -> Image.Image:
    """A desktop-like picture: a gradient, a title bar, panels, lines of text and a small
    photo-like patch of noise, so the PNG weighs what a real screenshot does."""
    rng = random.Random(seed)
    img = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, width, 48), fill=(40, 44, 52))
    for _ in range(40):
        x, y = rng.randrange(width - 300), rng.randrange(60, height - 200)
        box = (x, y, x + rng.randrange(80, 400), y + rng.randrange(40, 200))
        draw.rectangle(box, fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    letters = "abcdefghijklmnop0123456789 "
    for _ in range(600):
        text = "".join(rng.choice(letters) for _ in range(rng.randrange(5, 30)))
        draw.text((rng.randrange(width - 200), rng.randrange(height)), text, fill=(200, 0, 0))
    pixels = np.asarray(img).copy()
    pixels[700:820, 1400:1560] = np.random.default_rng(seed).integers(0, 256, (120, 160, 3))
    return Image.fromarray(pixels)


def create_body() -> bytes:
    """The multipart body every create sends: type, params, image and reference."""
    shot = screenshot()
    image, reference = io.BytesIO(), io.BytesIO()
    shot.save(image, format="PNG")
    shot.resize((512, 288)).save(reference, format="PNG")
    fields = [
        ("type", None, b"bench_hold"),
        ("params", None, json.dumps({"fake": {"outcome": "hang"}}).encode()),
        ("image", "screenshot.png", image.getvalue()),
        ("reference", "reference.png", reference.getvalue()),
    ]
    body = bytearray()
    for name, filename, data in fields:
        body += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"'.encode()
        if filename:
            body += f'; filename="{filename}"\r\nContent-Type: image/png'.encode()
        body += b"\r\n\r\n" + data + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return bytes(body)


def serve_baseline(port: int, files: Path) -> None:
    """Child process: one Starlette route that parses the form and writes its two files."""
    names = itertools.cycle(range(1024))

    async def create(request: Request) -> JSONResponse:
        n = next(names)
        async with request.form(max_part_size=LARGE_BODY_BYTES) as form:
            for role in ("image", "reference"):
                upload = form[role]
                assert isinstance(upload, UploadFile)
                (files / f"{n}-{role}.png").write_bytes(await upload.read())
            return JSONResponse({"data": {"task_id": n, "type": form["type"]}}, status_code=201)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/tasks", create, methods=["POST"]), Route("/healthz", healthz)])
    # The same server configuration `rendergate serve` uses (src/rendergate/api/serving.py).
    uvicorn.Server(uvicorn_config(app, Settings(), host=HOST, port=port)).run()


async def load(url: str, body_file: Path, seconds: float, connections: int) -> dict[str, float]:
    """Child process: `connections` keep-alive clients POST the body; warm up, then measure."""
    body = body_file.read_bytes()
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}

    async def post(session: aiohttp.ClientSession) -> None:
        async with session.post(url, data=body, headers=headers) as resp:
            answer = await resp.read()
            if resp.status != 201:
                raise BenchError(f"POST {url} answered {resp.status}: {answer[:300]!r}")

    return await closed_loop(post, seconds, connections, TIMEOUT)


def measure(
    url: str, server_pid: int, body_file: Path, seconds: float, connections: int
) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--load", url, str(body_file)]
    cmd += ["--seconds", str(seconds), "--connections", str(connections)]
    result, cpu = load_with_server_cpu(cmd, server_pid, seconds)
    result["cpu_ms"] = 1000 * cpu / max(result["requests"], 1)
    return result


def row(label: object, name: str, r: dict[str, float]) -> str:
    return (
        f"{label!s:<8}{name:<12}{r['rps']:>9.1f}{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
        f"{r['cpu_ms']:>15.2f}{r['client_cpu_pct']:>13.0f}"
    )


def servers(tmp: Path, procs: list[subprocess.Popen[bytes]]) -> dict[str, tuple[str, int]]:
    """Starts rendergate and the baseline; their /tasks URLs and pids."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERGATE_")}
    env |= {
        "RENDERGATE_DATA_DIR": str(tmp / "data"),
        "RENDERGATE_LOG_LEVEL": "warning",
        "RENDERGATE_OPEN": "true",
        "RENDERGATE_WORKER_CONCURRENCY": "1",
        "RENDERGATE_APPS_FILE": str(tmp / "apps.toml"),
    }
    (tmp / "apps.toml").write_text(HOLD_APP)
    (tmp / "files").mkdir()
    rg_cmd = [str(Path(sys.executable).with_name("rendergate")), "serve", "--host", HOST]
    rg_base, rg_pid = launch([*rg_cmd, "--port"], tmp / "rendergate.log", procs, env)
    base_cmd = [sys.executable, __file__, "--serve-baseline", str(tmp / "files")]
    bl_base, bl_pid = launch(base_cmd, tmp / "baseline.log", procs, env)
    return {"baseline": (f"{bl_base}/tasks", bl_pid), "rendergate": (f"{rg_base}/tasks", rg_pid)}


def run(seconds: float, connections: int, rounds: int) -> None:
    print(machine_info(f", uvicorn {uvicorn.__version__}"), flush=True)
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="rendergate-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        body = create_body()
        if len(body) >= LARGE_BODY_BYTES:
            raise BenchError(f"the body is {len(body)} B: it would take a large-body slot")
        (tmp / "body").write_bytes(body)
        try:
            urls = servers(tmp, procs)
            print(f"POST /tasks: {len(body)} B; {connections} clients, {seconds:g} s a round")
            head = f"{'round':<8}{'server':<12}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
            print(head + f"{'srv CPU ms/req':>15}{'client CPU%':>13}")
            results: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
            for i in range(1, rounds + 1):  # alternate, so drift hits both alike
                for name, (url, pid) in urls.items():
                    results[name].append(measure(url, pid, tmp / "body", seconds, connections))
                    print(row(i, name, results[name][-1]), flush=True)
        finally:
            for proc in reversed(procs):
                stop(proc)
        med = {
            name: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            for name, rs in results.items()
        }
        for name, m in med.items():
            print(row("median", name, m))
        ratio = med["rendergate"]["rps"] / med["baseline"]["rps"]
        cpu_ratio = med["baseline"]["cpu_ms"] / med["rendergate"]["cpu_ms"]
        print(f"rendergate CPU per create: {med['rendergate']['cpu_ms']:.2f} ms")
        print(f"server CPU per create, baseline/rendergate = {cpu_ratio:.2f}")
        print(f"ratio rendergate/baseline = {ratio:.2f} (target >= {TARGET})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per round")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive clients")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server")
    parser.add_argument("--serve-baseline", nargs=2, metavar=("DIR", "PORT"), help="(internal)")
    parser.add_argument("--load", nargs=2, metavar=("URL", "BODY"), help="(internal)")
    args = parser.parse_args()
    if not (0 < args.seconds <= 300 and 0 < args.connections <= 1000 and 0 < args.rounds <= 20):
        parser.error("need 0 < seconds <= 300, 0 < connections <= 1000, 0 < rounds <= 20")
    if args.serve_baseline:
        serve_baseline(int(args.serve_baseline[1]), Path(args.serve_baseline[0]))
        return 0
    if args.load:
        url, body_file = args.load
        result = asyncio.run(load(url, Path(body_file), args.seconds, args.connections))
        print(json.dumps(result))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup on SIGTERM too
    try:
        run(args.seconds, args.connections, args.rounds)
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
