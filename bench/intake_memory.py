"""Server memory while many large JSON (base64) uploads arrive at once.

    python bench/intake_memory.py [--uploads 20] [--mb 28]

Starts `rendergate serve` twice on fresh data dirs: once with the large-body cap lifted
(RENDERGATE_MAX_LARGE_BODIES as high as the number of uploads, so every upload is read at
once) and once with the default cap of 4. Each time it posts `--uploads` JSON bodies at
once, each one image of about `--mb` MB of noise as base64 (a PNG that does not compress,
so ~4/3 of that on the wire), and samples the server's resident memory every 10 ms.
Prints idle and peak RSS, the peak's growth per upload read at once (against the image's
size: the baseline), and how many were turned away with 503. `--also-src DIR` adds an
uncapped run of another checkout's code (`git worktree add /tmp/before <commit>`, then
`--also-src /tmp/before/src`). Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np
from PIL import Image

from _children import HOST, free_port, machine_info, start, stop, wait_healthy

HOLD_APP = """
[apps.bench_hold]
provider = "fake"
title = "holds a task in processing for the benchmark"
deadline_s = 3600
"""


@dataclass
class Run:
    name: str
    at_once: int  # uploads the server reads at once: the cap, or all of them
    idle_mb: float
    peak_mb: float
    created: int
    busy: int

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.idle_mb


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def noise_png(megabytes: float) -> bytes:
    side = int((megabytes * 1024 * 1024 / 3) ** 0.5)
    pixels = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


async def post_all(url: str, body: bytes, count: int) -> tuple[int, int]:
    timeout = aiohttp.ClientTimeout(total=600)
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(timeout=timeout) as http:

        async def one() -> int:
            async with http.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status

        statuses = await asyncio.gather(*(one() for _ in range(count)))
    return statuses.count(201), statuses.count(503)


async def measure(
    name: str, cap: int, body: bytes, uploads: int, work: Path, src: str | None = None
) -> Run:
    data = work / name
    data.mkdir()
    apps = data / "apps.toml"
    apps.write_text(HOLD_APP)
    port = free_port()
    env = {
        **os.environ,
        "RENDERGATE_DATA_DIR": str(data),
        "RENDERGATE_APPS_FILE": str(apps),
        "RENDERGATE_MAX_LARGE_BODIES": str(cap),
        "RENDERGATE_LOG_LEVEL": "warning",
        "RENDERGATE_OPEN": "true",
    }
    if src is not None:  # another checkout's code, e.g. the commit before a change
        env["PYTHONPATH"] = src
    cmd = [str(Path(sys.executable).with_name("rendergate")), "serve", "--port", str(port)]
    log = work / f"{name}.log"
    proc = start(cmd, log, env)
    try:
        base = f"http://{HOST}:{port}"
        await wait_healthy(f"{base}/healthz", proc, log)
        await asyncio.sleep(1.0)  # let start-up allocations settle before the idle reading
        idle = rss_mb(proc.pid)
        sending = asyncio.create_task(post_all(f"{base}/tasks", body, uploads))
        peak = idle
        while not sending.done():
            peak = max(peak, rss_mb(proc.pid))
            await asyncio.sleep(0.01)
        created, busy = sending.result()
        return Run(name, min(cap, uploads), idle, peak, created, busy)
    finally:
        stop(proc)


def report(runs: list[Run], image_mb: float, body_mb: float, uploads: int) -> None:
    print(machine_info(f", {uploads} uploads of a {image_mb:.1f} MB image ({body_mb:.1f} MB JSON)"))
    print(
        f"{'run':<10} {'idle MB':>8} {'peak MB':>8} {'growth':>8} {'per upload':>11} "
        f"{'vs image':>9} {'201':>4} {'503':>4}"
    )
    for run in runs:
        per = run.growth_mb / run.at_once
        print(
            f"{run.name:<10} {run.idle_mb:8.0f} {run.peak_mb:8.0f} {run.growth_mb:8.0f} "
            f"{per:10.1f}M {per / image_mb:8.2f}x {run.created:4d} {run.busy:4d}"
        )
    if runs[0].growth_mb > 0:
        print(f"capped growth / uncapped growth: {runs[1].growth_mb / runs[0].growth_mb:.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--mb", type=float, default=28.0, help="image size in MB")
    parser.add_argument(
        "--also-src", help="also measure, uncapped, the rendergate whose src/ is here"
    )
    args = parser.parse_args()
    image = noise_png(args.mb)
    params = {"fake": {"outcome": "hang"}}
    body = json.dumps(
        {"type": "bench_hold", "params": params, "image_base64": base64.b64encode(image).decode()}
    ).encode()
    image_mb, body_mb = len(image) / 2**20, len(body) / 2**20
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rendergate-intake-") as tmp:
        runs = [
            await measure("uncapped", args.uploads, body, args.uploads, Path(tmp)),
            await measure("capped", 4, body, args.uploads, Path(tmp)),
        ]
        if args.also_src:
            other = await measure(
                "other", args.uploads, body, args.uploads, Path(tmp), args.also_src
            )
            runs.append(other)
    report(runs, image_mb, body_mb, args.uploads)
    print(f"took {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    asyncio.run(main())
