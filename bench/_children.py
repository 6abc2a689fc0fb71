"""Child processes for the benchmarks: start, watch, measure and always stop them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp

HOST = "127.0.0.1"


class BenchError(RuntimeError):
    pass


def run_bench(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Runs an async bench; a BenchError (a task failed or got stuck) exits 1 with why."""
    try:
        asyncio.run(main())
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        sys.exit(1)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def stop(proc: subprocess.Popen[Any]) -> None:
    """Ends a child we started (its own session, so its whole group), politely first."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(proc.pid, sig)
            proc.wait(10)


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until `url` answers 200; fails at once if the child exits, and after 60 s."""
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(
                    f"{url}: exited with {proc.returncode}:\n{log.read_text()[-2000:]}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(url) as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise BenchError(f"{url} did not answer 200 within 60 s:\n{log.read_text()[-2000:]}")


def launch(
    cmd: list[str], log: Path, procs: list[subprocess.Popen[bytes]], env: dict[str, str]
) -> tuple[str, int]:
    """Starts a server on a free port (appended to `cmd`); returns its base URL and pid."""
    port = free_port()
    procs.append(proc := start([*cmd, str(port)], log, env))
    base = f"http://{HOST}:{port}"
    asyncio.run(wait_healthy(f"{base}/healthz", proc, log))
    return base, proc.pid


async def closed_loop(
    request: Callable[[aiohttp.ClientSession], Awaitable[None]],
    seconds: float,
    connections: int,
    timeout: aiohttp.ClientTimeout,
) -> dict[str, float]:
    """A load generator's run (in its own process): `connections` keep-alive clients each
    make `request` again and again; a warm-up, then "start" on stdout (the parent samples
    the server's CPU then, load_with_server_cpu), then `seconds` measured."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client(until: float, record: bool) -> None:
            while (start := time.perf_counter()) < until:
                await request(session)
                if record:
                    latencies.append(time.perf_counter() - start)

        warm_until = time.perf_counter() + min(1.0, seconds / 5)
        await asyncio.gather(*(client(warm_until, False) for _ in range(connections)))
        print("start", flush=True)
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(client(t0 + seconds, True) for _ in range(connections)))
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "client_cpu_pct": 100 * cpu / elapsed,
    }


def load_with_server_cpu(
    cmd: list[str], server_pid: int, seconds: float
) -> tuple[dict[str, float], float]:
    """Runs a load generator `cmd` that prints "start" once warm and then one JSON line of
    its figures; returns them and the server's CPU seconds in between."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "start":
            proc.wait(60)
            raise BenchError(f"load generator {cmd[2:4]} failed (exit {proc.returncode})")
        cpu0 = cpu_seconds(server_pid)
        line = proc.stdout.readline()
        cpu1 = cpu_seconds(server_pid)
        if proc.wait(seconds + 60) != 0 or not line:
            raise BenchError(f"load generator {cmd[2:4]} failed (exit {proc.returncode})")
    finally:
        stop(proc)
    return json.loads(line), cpu1 - cpu0


def machine_info(extra: str = "") -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?"
    )
    nproc, version = len(os.sched_getaffinity(0)), platform.python_version()
    return f"machine: nproc={nproc}, cpu={model}, python {version}{extra}"
