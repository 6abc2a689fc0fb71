"""A batch against single creates, and a lone task's wait behind another key's batch.

    python bench/batch.py [--views 12] [--variations 4] [--rounds 3] [--size 1280x960]

Starts `rendergate serve` (fresh data dir, SQLite, two API keys) and measures, in one run:

1. **Accepting**: one `POST /batches` of `--views` screenshots x `--variations` (multipart,
   one reference) against `views x variations` single `POST /tasks` of the same images, one
   after another as a client would send them, in alternating rounds. The members run on an
   app that holds them (they cost no CPU while the next round is timed). Prints the medians
   and the ratio (single creates / batch).
2. **Fairness**: key B's one `preview` task on the local engine (one at a time:
   RENDERGATE_LOCAL_CONCURRENCY=1) created just after key A's batch of the same size on the
   same engine, against the same task with nothing ahead of it. Prints both waits (create to
   completed) and their ratio; without fairness B would wait for all of A's members.

Exits 0 whatever the figures, non-zero when anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from PIL import Image

from _children import (
    HOST,
    BenchError,
    free_port,
    machine_info,
    run_bench,
    start,
    stop,
    wait_healthy,
)

HOLD_APP = """
[apps.bench_hold]
provider = "fake"
title = "holds each task in processing for the benchmark"
reference = "optional"
deadline_s = 3600
"""
HOLD = '{"fake": {"outcome": "hang"}}'
TIMEOUT = aiohttp.ClientTimeout(total=600)


def screenshot(width: int, height: int, seed: int) -> bytes:
    """A SketchUp-like screenshot: flat shaded planes and a little noise, as a PNG."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    planes = ((x // (width // 6) + y // (height // 4)) % 5)[..., None] * 30 + 90
    noise = rng.integers(0, 12, (height, width, 3))
    pixels = np.clip(planes + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, "PNG")
    return out.getvalue()


def batch_form(
    images: list[bytes], reference: bytes, app: str, variations: int
) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for i, image in enumerate(images):
        form.add_field("image", image, filename=f"view{i}.png", content_type="image/png")
    form.add_field("reference", reference, filename="ref.png", content_type="image/png")
    form.add_field("type", app)
    form.add_field("variations", str(variations))
    if app == "bench_hold":
        form.add_field("params", HOLD)
    return form


def task_form(image: bytes, reference: bytes, app: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("image", image, filename="view.png", content_type="image/png")
    form.add_field("reference", reference, filename="ref.png", content_type="image/png")
    form.add_field("type", app)
    if app == "bench_hold":
        form.add_field("params", HOLD)
    return form


async def created(response: aiohttp.ClientResponse) -> Any:
    body = await response.json()
    if response.status != 201:
        raise BenchError(f"create answered {response.status}: {body}")
    return body["data"]


async def accept_batch(
    http: aiohttp.ClientSession, base: str, images: list[bytes], reference: bytes, variations: int
) -> float:
    started = time.perf_counter()
    async with http.post(
        f"{base}/batches", data=batch_form(images, reference, "bench_hold", variations)
    ) as response:
        await created(response)
    return time.perf_counter() - started


async def accept_singles(
    http: aiohttp.ClientSession, base: str, images: list[bytes], reference: bytes, variations: int
) -> float:
    started = time.perf_counter()
    for image in images:
        for _ in range(variations):
            async with http.post(
                f"{base}/tasks", data=task_form(image, reference, "bench_hold")
            ) as response:
                await created(response)
    return time.perf_counter() - started


async def wait_done(http: aiohttp.ClientSession, base: str, task_id: int) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        async with http.get(f"{base}/tasks/{task_id}?include_base64=false") as response:
            task = (await response.json())["data"]
        if task["status"] == "completed":
            return
        if task["status"] in ("failed", "canceled"):
            raise BenchError(f"task {task_id} {task['status']}: {task['error_message']}")
        await asyncio.sleep(0.05)
    raise BenchError(f"task {task_id} did not finish within 600 s")


async def lone_wait(b: aiohttp.ClientSession, base: str, image: bytes, reference: bytes) -> float:
    started = time.perf_counter()
    async with b.post(f"{base}/tasks", data=task_form(image, reference, "preview")) as response:
        task = await created(response)
    await wait_done(b, base, task["task_id"])
    return time.perf_counter() - started


async def fairness(
    a: aiohttp.ClientSession,
    b: aiohttp.ClientSession,
    base: str,
    images: list[bytes],
    reference: bytes,
    variations: int,
) -> tuple[float, float]:
    """B's wait alone, then B's wait just after A's batch on the same one-at-a-time engine."""
    alone = await lone_wait(b, base, images[0], reference)
    async with a.post(
        f"{base}/batches", data=batch_form(images, reference, "preview", variations)
    ) as response:
        batch = await created(response)
    behind = await lone_wait(b, base, images[0], reference)
    for member in batch["tasks"]:  # A's batch runs out before the next run
        await wait_done(a, base, member["task_id"])
    return alone, behind


def api_key(rendergate: Path, env: dict[str, str], name: str) -> str:
    done = subprocess.run(
        [str(rendergate), "keys", "create", name],
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"API key:\s+(\S+)", done.stdout)
    if done.returncode != 0 or found is None:
        raise BenchError(f"keys create {name}: {done.stdout}{done.stderr}")
    return found[1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", type=int, default=12)
    parser.add_argument("--variations", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", default="1280x960")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    images = [screenshot(width, height, seed) for seed in range(args.views)]
    reference = screenshot(width // 4, height // 4, 99)
    members = args.views * args.variations
    with tempfile.TemporaryDirectory(prefix="rg-bench-batch-") as tmp:
        work = Path(tmp)
        (work / "apps.toml").write_text(HOLD_APP)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERGATE_")}
        env.update(
            RENDERGATE_DATA_DIR=str(work / "data"),
            RENDERGATE_APPS_FILE=str(work / "apps.toml"),
            RENDERGATE_LOG_LEVEL="warning",
            RENDERGATE_LOCAL_CONCURRENCY="1",
        )
        rendergate = Path(sys.executable).with_name("rendergate")
        keys = [api_key(rendergate, env, name) for name in ("studio-a", "studio-b")]
        port = free_port()
        proc = start([str(rendergate), "serve", "--port", str(port)], work / "serve.log", env)
        base = f"http://{HOST}:{port}"
        try:
            await wait_healthy(f"{base}/healthz", proc, work / "serve.log")
            sessions = [
                aiohttp.ClientSession(timeout=TIMEOUT, headers={"Authorization": f"Bearer {k}"})
                for k in keys
            ]
            a, b = sessions
            try:
                batch_s, singles_s = [], []
                for _ in range(args.rounds):
                    batch_s.append(await accept_batch(a, base, images, reference, args.variations))
                    singles_s.append(
                        await accept_singles(a, base, images, reference, args.variations)
                    )
                alone, behind = await fairness(a, b, base, images, reference, args.variations)
            finally:
                for session in sessions:
                    await session.close()
        finally:
            stop(proc)
    size = f", {args.views} views x {args.variations} variations of {width}x{height} PNGs"
    print(machine_info(size))
    batch, singles = statistics.median(batch_s), statistics.median(singles_s)
    print(
        f"accepting {members} members: one batch {batch:.2f} s, {members} single creates "
        f"{singles:.2f} s (medians of {args.rounds}); singles / batch = {singles / batch:.1f}x"
    )
    print(
        f"another key's lone preview: alone {alone:.2f} s, just after a {members}-member batch "
        f"on the same one-at-a-time engine {behind:.2f} s; behind / alone = "
        f"{behind / alone:.1f}x"
    )


if __name__ == "__main__":
    run_bench(main)
