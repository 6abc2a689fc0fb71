"""Tracking many ~20 s RunningHub tasks: rendergate (webhooks, polling) against a naive client.

    python bench/runninghub_tracking.py [--tasks 1000] [--run-s 20] [--spread 0.3]

Each scenario gets a fresh RunningHub emulator and, for rendergate, a fresh `rendergate serve`
(SQLite in a temp dir, RENDERGATE_RUNNINGHUB_CONCURRENCY and RENDERGATE_WORKER_CONCURRENCY =
tasks), which first runs --warmup tasks that are not counted: a serving process knows its
apps' run times, where a fresh one polls like a simple client until a few have ended.
  webhooks  RENDERGATE_PUBLIC_URL set: each task is woken by RunningHub's TASK_END webhook;
  polling   no public URL: rendergate polls /task/openapi/outputs on its own;
  naive     one asyncio process that uploads both images, runs the AI app, polls /outputs
            every 2 s and downloads the result, the way ComfyKit and most scripts do.
A load generator (its own process) posts the su_render tasks, 32 at a time, and waits.

Upstream requests are everything the emulator counted (API and result files) over tasks.
Lag is our task's `finished_at` (for naive: when its poll saw success) minus the emulator's
`finished_wall` of the upstream task; the two are paired through the job id rendergate keeps
in tasks.provider_job (its SQLite file, read once the server has stopped), and in webhook mode
checked against the webhook URL, which carries our task id. (finished_at is stamped just before
the completing write, so while writes queue up a client sees `completed` somewhat later.)
CPU is utime+stime of the process that tracks (rendergate serve, or the naive client); RSS is
its VmHWM. Exits 0 whatever the figures, non-zero when a task failed or got stuck.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import math
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image, ImageDraw

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

KEY = "0123456789abcdef0123456789abcdef"
RH_HOST = "www.runninghub.cn"
WEBAPP, NODES = 1983061233110790146, ("112", "158")
SUBMITTERS = 32
NAIVE_POLL_S = 2.0
TIMEOUT = aiohttp.ClientTimeout(total=60)
TARGET_POLLING_REQUESTS = 0.35  # of the naive client's upstream requests per task
TARGET_WEBHOOK_CALLS = 2.0  # status calls per task with webhooks on
TARGET_CPU = 2.5  # CPU per task against the naive client's
STATUS_PATH = "/task/openapi/outputs"


def images() -> tuple[bytes, bytes]:
    """A few-KB SketchUp-like PNG screenshot and a JPEG reference."""
    shot = Image.new("RGB", (256, 192), (222, 228, 235))
    draw = ImageDraw.Draw(shot)
    draw.rectangle((0, 128, 256, 192), fill=(150, 160, 140))
    draw.rectangle((40, 60, 150, 150), fill=(180, 120, 90), outline=(25, 25, 30), width=2)
    ref = Image.radial_gradient("L").resize((160, 120)).convert("RGB")
    png, jpg = io.BytesIO(), io.BytesIO()
    shot.save(png, format="PNG")
    ref.save(jpg, format="JPEG", quality=85)
    return png.getvalue(), jpg.getvalue()


def own_usage() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


# -- load generators (child processes; one JSON line on stdout at the end) ----------------------


async def post_su_render(session: aiohttp.ClientSession, base: str, shot: bytes, ref: bytes) -> int:
    """Creates one su_render task from a screenshot and a reference; returns its id."""
    form = aiohttp.FormData()
    form.add_field("type", "su_render")
    form.add_field("image", shot, filename="shot.png", content_type="image/png")
    form.add_field("reference", ref, filename="ref.jpg", content_type="image/jpeg")
    async with session.post(f"{base}/tasks", data=form) as resp:
        if resp.status != 201:
            raise BenchError(f"POST /tasks answered {resp.status}: {await resp.text()}")
        return int((await resp.json())["data"]["task_id"])


async def rendergate_client(
    base: str, n: int, deadline_s: float, warmup: int = 0
) -> dict[str, Any]:
    """Posts `warmup` tasks and waits for them (then says "warmed" and waits for a line on
    stdin), then posts n su_render tasks, waits until none is unfinished, and lists those."""
    shot, ref = images()
    sem = asyncio.Semaphore(SUBMITTERS)
    connector = aiohttp.TCPConnector(limit=SUBMITTERS)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:

        async def post() -> int:
            async with sem:
                return await post_su_render(session, base, shot, ref)

        async def page(query: str) -> dict[str, Any]:
            async with session.get(f"{base}/tasks?{query}") as resp:
                return dict((await resp.json())["data"])

        async def settle(until: float) -> None:
            while time.time() < until:
                waiting = [await page(f"status={s}&limit=1") for s in ("submitted", "processing")]
                if not any(p["tasks"] for p in waiting):
                    return
                await asyncio.sleep(1.0)

        if warmup:
            await asyncio.gather(*(post() for _ in range(warmup)))
            await settle(time.time() + deadline_s)
            print("warmed", flush=True)
            await asyncio.to_thread(sys.stdin.readline)
        t0 = time.time()
        measured = set(await asyncio.gather(*(post() for _ in range(n))))
        posted = time.time()
        print("submitted", flush=True)
        await settle(t0 + deadline_s)
        tasks, cursor = [], ""
        while True:
            found = await page(f"limit=100{cursor}")
            tasks += found["tasks"]
            if not found["next_cursor"]:
                break
            cursor = f"&cursor={found['next_cursor']}"
    keep = ("task_id", "status", "finished_at", "error_message")
    tasks = [{k: t[k] for k in keep} for t in tasks if t["task_id"] in measured]
    return {"t0": t0, "posted": posted, "tasks": tasks, **own_usage()}


async def naive_client(base: str, n: int, deadline_s: float) -> dict[str, Any]:
    """Uploads, runs the app and polls /outputs every 2 s per task, straight on RunningHub."""
    shot, ref = images()
    t0 = time.time()
    sem, left, posted = asyncio.Semaphore(SUBMITTERS), [n], [math.nan]
    headers = {"Host": RH_HOST}
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session:

        async def call(path: str, **kwargs: Any) -> dict[str, Any]:
            async with session.post(base + path, headers=headers, **kwargs) as resp:
                return dict(await resp.json(content_type=None))

        async def upload(data: bytes, name: str) -> str:
            form = aiohttp.FormData({"apiKey": KEY, "fileType": "image"})
            form.add_field("file", data, filename=name)
            env = await call("/task/openapi/upload", data=form)
            return str(env["data"]["fileName"])

        async def one() -> dict[str, Any]:
            async with sem:
                names = [await upload(shot, "shot.png"), await upload(ref, "ref.jpg")]
                nodes = [
                    {"nodeId": node, "fieldName": "image", "fieldValue": name}
                    for node, name in zip(NODES, names, strict=True)
                ]
                body = {"apiKey": KEY, "webappId": WEBAPP, "nodeInfoList": nodes}
                env = await call("/task/openapi/ai-app/run", json=body)
                if env["code"] != 0:
                    return {"job_id": None, "error": f"run: {env['code']} {env['msg']}"}
                job = str(env["data"]["taskId"])
            left[0] -= 1
            if not left[0]:
                posted[0] = time.time()
                print("submitted", flush=True)
            while True:
                await asyncio.sleep(NAIVE_POLL_S)
                env = await call("/task/openapi/outputs", json={"apiKey": KEY, "taskId": job})
                if env["code"] == 0:
                    seen = time.time()
                    for item in env["data"]:
                        async with session.get(item["fileUrl"]) as resp:
                            await resp.read()
                    return {"job_id": job, "seen": seen, "done": time.time()}
                if env["code"] not in (804, 813):  # running, queued
                    return {"job_id": job, "error": f"outputs: {env['code']} {env['msg']}"}

        async def guarded() -> dict[str, Any]:
            try:
                return await one()
            except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
                return {"job_id": None, "error": f"{type(exc).__name__}: {exc}"}

        runs = [asyncio.create_task(guarded()) for _ in range(n)]
        await asyncio.wait(runs, timeout=deadline_s)
        for run in runs:
            run.cancel()
        results = [r.result() if r.done() and not r.cancelled() else {} for r in runs]
    results = [
        r or {"job_id": None, "error": "stuck: no answer before the deadline"} for r in results
    ]
    return {"t0": t0, "posted": posted[0], "tasks": results, **own_usage()}


# -- processes (copied from bench/status_read.py) ------------------------------------------------


def peak_rss_mb(pid: int) -> float:
    line = next(ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if "HWM" in ln)
    return int(line.split()[1]) / 1024


async def emulator_stats(base: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.get(f"{base}/_emulator/stats") as resp,
    ):
        return dict(await resp.json())


# -- one scenario --------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


def launch(
    name: str, cmd: list[str], health: str, env: dict[str, str], tmp: Path, procs: list[Any]
) -> subprocess.Popen[bytes]:
    log = tmp / f"{name}.log"
    procs.append(proc := start(cmd, log, env))
    asyncio.run(wait_healthy(health, proc, log))
    return proc


def drive(
    name: str, cmd: list[str], tracker: int | None, timeout_s: float, warmed: Callable[[], None]
) -> tuple[Any, list[float]]:
    """Runs a load generator; returns its result and the tracker's CPU time at its start
    (after the warm-up: `warmed` is called then), once every task was posted, and at its end."""
    cpu = [cpu_seconds(tracker)] if tracker else []
    client = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    killer = threading.Timer(timeout_s, stop, [client])  # bounds the reads below
    killer.start()
    line = ""
    try:
        assert client.stdout is not None and client.stdin is not None
        for line in client.stdout:  # ["warmed",] "submitted", then the result as JSON
            if line.strip() == "warmed":
                warmed()
                cpu = [cpu_seconds(tracker)] if tracker else []
                client.stdin.write("go\n")
                client.stdin.flush()
            if line.strip() == "submitted" and tracker:
                cpu.append(cpu_seconds(tracker))
            if line.startswith("{"):
                break
        if client.wait(60) != 0 or not line.startswith("{"):
            raise BenchError(f"{name}: load generator failed (exit {client.returncode})")
    finally:
        killer.cancel()
        stop(client)
    return json.loads(line), [*cpu, cpu_seconds(tracker)] if tracker else []


def scenario(name: str, args: argparse.Namespace, tmp: Path, procs: list[Any]) -> dict[str, Any]:
    n, deadline_s = args.tasks, args.run_s * 3 + args.tasks * 0.05 + 120
    env = {k: v for k, v in os.environ.items() if not k.startswith("RENDERGATE_")}
    emu_base = f"http://{HOST}:{free_port()}"
    emu_cmd = [sys.executable, "-m", "rendergate_emulators.runninghub", "--api-key", KEY]
    emu_cmd += ["--port", emu_base.rsplit(":", 1)[1], "--concurrency", str(n), "--seed", "1"]
    emu_cmd += ["--queue-s", str(args.queue_s), "--run-s", str(args.run_s)]
    emu_cmd += ["--jitter-s", str(args.jitter_s), "--run-spread", str(args.spread)]
    emu = launch(f"{name}-emulator", emu_cmd, f"{emu_base}/_emulator/config", env, tmp, procs)
    out: dict[str, Any] = {"name": name, "tasks": n}
    server, data_dir, job_of = None, tmp / f"{name}-data", {}
    client = [sys.executable, __file__, "--tasks", str(n), "--deadline-s", str(deadline_s)]
    if name == "naive":
        client += ["--naive", emu_base]
    else:
        base = f"http://{HOST}:{free_port()}"
        env |= {
            "RENDERGATE_DATA_DIR": str(data_dir),
            "RENDERGATE_LOG_LEVEL": "warning",
            "RENDERGATE_OPEN": "true",
            "RENDERGATE_RUNNINGHUB_API_KEY": KEY,
            "RENDERGATE_RUNNINGHUB_BASE_URL": emu_base,
            "RENDERGATE_RUNNINGHUB_HOST": RH_HOST,
            "RENDERGATE_RUNNINGHUB_CONCURRENCY": str(n),
            "RENDERGATE_WORKER_CONCURRENCY": str(n),  # every task at once, as the naive client
        } | ({"RENDERGATE_PUBLIC_URL": base} if name == "webhooks" else {})
        rg = [str(Path(sys.executable).with_name("rendergate")), "serve", "--host", HOST]
        rg += ["--port", base.rsplit(":", 1)[1]]
        server = launch(f"{name}-rendergate", rg, f"{base}/healthz", env, tmp, procs)
        idle0 = cpu_seconds(server.pid)
        time.sleep(3)
        out["idle_cpu_pct"] = 100 * (cpu_seconds(server.pid) - idle0) / 3
        client += ["--rendergate", base, "--warmup", str(args.warmup)]
    warm: dict[str, Any] = {"requests_by_path": {}, "webhook_attempts": []}
    emu_cpu = [cpu_seconds(emu.pid)]

    def warmed() -> None:  # what the warm-up cost is not counted
        warm.update(asyncio.run(emulator_stats(emu_base)))
        emu_cpu[0] = cpu_seconds(emu.pid)

    result, cpu = drive(name, client, server.pid if server else None, deadline_s + 120, warmed)
    stats = asyncio.run(emulator_stats(emu_base))
    stats["requests_by_path"] = {
        path: count - warm["requests_by_path"].get(path, 0)
        for path, count in stats["requests_by_path"].items()
    }
    stats["webhook_attempts"] = stats["webhook_attempts"][len(warm["webhook_attempts"]) :]
    out["emulator_cpu_s"] = cpu_seconds(emu.pid) - emu_cpu[0]
    if server:
        out |= {"cpu_s": cpu[-1] - cpu[0], "rss_mb": peak_rss_mb(server.pid)}
        out |= {"cpu_submit_s": cpu[1] - cpu[0], "client_cpu_s": result["cpu_s"]}
        stop(server)  # then read which upstream job each task ran as
        with contextlib.closing(sqlite3.connect(data_dir / "rendergate.db")) as db:
            rows = db.execute("SELECT task_id, provider_job FROM tasks").fetchall()
        job_of = {int(t): json.loads(j)["job_id"] for t, j in rows if j}
    else:
        out |= {"cpu_s": result["cpu_s"], "rss_mb": result["rss_mb"], "client_cpu_s": math.nan}
    stop(emu)
    return out | evaluate(name, result, stats, job_of)


def evaluate(
    name: str, result: dict[str, Any], stats: dict[str, Any], job_of: dict[int, str]
) -> dict[str, Any]:
    """Lags, completions and failures, from the load generator's tasks and the emulator's."""
    upstream: dict[str, Any] = stats["tasks"]
    lags: list[float] = []
    ended: list[float] = []  # when each task ended upstream, from t0, as `lags`
    ends: list[float] = []
    failures: list[str] = []
    for task in result["tasks"]:
        if "seen" in task:  # naive: when its poll saw SUCCESS; ends once downloaded
            job = upstream[task["job_id"]]
            lags.append(task["seen"] - job["finished_wall"])
            ended.append(job["finished_wall"] - result["t0"])
            ends.append(task["done"])
            continue
        if task.get("status") != "completed":
            error = task.get("error_message") or task.get("error")
            failures.append(f"task {task.get('task_id')}: {task.get('status', 'failed')}: {error}")
            continue
        finished = datetime.fromisoformat(task["finished_at"]).timestamp()
        ends.append(finished)
        job = upstream.get(job_of.get(task["task_id"], ""))
        if job is None or job["finished_wall"] is None:
            failures.append(f"task {task['task_id']}: no finished upstream task")
            continue
        lags.append(finished - job["finished_wall"])
        ended.append(job["finished_wall"] - result["t0"])
        if name == "webhooks" and f"/{task['task_id']}/" not in (job["webhook_url"] or ""):
            failures.append(f"task {task['task_id']}: its job's webhook URL names another task")
    n = len(result["tasks"])
    failures += [f"{n - len(ends)} of {n} tasks did not complete"] if len(ends) < n else []
    by_path: dict[str, int] = stats["requests_by_path"]
    hooks = stats["webhook_attempts"]
    acked = {h["task_id"]: h["at_wall"] for h in reversed(hooks) if h["ok"]}  # the first ok
    hook_ms = [1000 * (at - upstream[job]["finished_wall"]) for job, at in acked.items()]
    return {
        "completed": len(ends),
        "requests": sum(by_path.values()) / n,
        "by_path": {path: count / n for path, count in sorted(by_path.items())},
        "codes": {p: c for p, c in stats["codes_by_path"].items() if set(c) - {"0"}},
        "upstream_tasks": len(upstream),
        "webhooks": f"{sum(h['ok'] for h in hooks)}/{len(hooks)} ok" if hooks else "none",
        "lags_ms": [1000 * lag for lag in lags],
        "ended_s": ended,
        "hook_ms": hook_ms,
        "posted_s": result["posted"] - result["t0"],
        "wall_s": max(ends) - result["t0"] if ends else math.nan,
        "failures": failures,
    }


def label(path: str) -> str:
    return "files" if path.startswith("/files/") else path.removeprefix("/task/openapi/")


def report(results: list[dict[str, Any]]) -> None:
    head = f"{'scenario':<10}{'tasks':>6}{'done':>6}{'req/task':>9}{'lag p50':>9}{'p99':>7}"
    print(head + f"{'max':>7}{'CPU s/task':>11}{'RSS MB':>8}{'client CPU':>11}{'wall s':>8}")
    for r in results:
        lags = r["lags_ms"]
        print(
            f"{r['name']:<10}{r['tasks']:>6}{r['completed']:>6}{r['requests']:>9.2f}"
            f"{pct(lags, 0.5):>9.0f}{pct(lags, 0.99):>7.0f}{max(lags, default=math.nan):>7.0f}"
            f"{r['cpu_s'] / r['tasks']:>11.4f}{r['rss_mb']:>8.0f}"
            f"{r['client_cpu_s'] / r['tasks']:>11.4f}{r['wall_s']:>8.1f}".replace("nan", " - ")
        )
    print("(lag in ms; CPU s/task and RSS MB are rendergate serve's, or the naive client's own;")
    print(" client CPU is the load generator's, s/task)")
    for r in results:
        name, hooks = r["name"], r["hook_ms"]
        paths = ", ".join(f"{label(p)} {c:.2f}" for p, c in r["by_path"].items())
        print(f"{name}: upstream req/task: {paths}; {r['upstream_tasks']} upstream tasks")
        if r["codes"]:
            print(f"{name}: upstream non-zero codes: {r['codes']}")
        buckets: dict[int, list[float]] = {}
        for at, lag in zip(r["ended_s"], r["lags_ms"], strict=True):
            buckets.setdefault(int(at // 10) * 10, []).append(lag)
        spans = ", ".join(
            f"{t}-{t + 10} s: {pct(v, 0.99):.0f} ({len(v)})" for t, v in sorted(buckets.items())
        )
        print(f"{name}: all posted {r['posted_s']:.1f} s in; lag p99 ms (tasks) by end: {spans}")
        if hooks:
            print(
                f"{name}: webhooks {r['webhooks']}, acked p50 {pct(hooks, 0.5):.0f} ms, "
                f"p99 {pct(hooks, 0.99):.0f} ms after the upstream end"
            )
        extra = f"emulator CPU {r['emulator_cpu_s'] / r['tasks']:.4f} s/task"
        if "idle_cpu_pct" in r:
            extra += f"; rendergate idle {r['idle_cpu_pct']:.1f}% CPU before the run, "
            extra += f"{r['cpu_submit_s']:.1f} s CPU while the tasks were being posted"
        print(f"{name}: {extra}")
    targets(results)


def targets(results: list[dict[str, Any]]) -> None:
    """Each scenario against the naive client of the same run."""
    by_name = {r["name"]: r for r in results}
    naive = by_name.get("naive")
    if naive is None:
        return
    naive_cpu, naive_p99 = naive["cpu_s"] / naive["tasks"], pct(naive["lags_ms"], 0.99)

    def verdict(ok: bool) -> str:
        return "OK" if ok else "MISSED"

    for name in ("webhooks", "polling"):
        r = by_name.get(name)
        if r is None:
            continue
        cpu = r["cpu_s"] / r["tasks"] / naive_cpu
        print(
            f"{name}: CPU per task {cpu:.2f}x the naive client's "
            f"(target <= {TARGET_CPU:g}x) {verdict(cpu <= TARGET_CPU)}"
        )
    if (r := by_name.get("polling")) is not None:
        ratio, p99 = r["requests"] / naive["requests"], pct(r["lags_ms"], 0.99)
        print(
            f"polling: {ratio:.2f}x the naive client's upstream requests per task "
            f"(target <= {TARGET_POLLING_REQUESTS:g}x) {verdict(ratio <= TARGET_POLLING_REQUESTS)}"
        )
        print(
            f"polling: p99 lag {p99:.0f} ms against the naive client's {naive_p99:.0f} ms "
            f"{verdict(p99 <= naive_p99)}"
        )
    if (r := by_name.get("webhooks")) is not None:
        calls = r["by_path"].get(STATUS_PATH, 0.0)
        print(
            f"webhooks: {calls:.2f} status calls per task "
            f"(target <= {TARGET_WEBHOOK_CALLS:g}) {verdict(calls <= TARGET_WEBHOOK_CALLS)}"
        )


def run(args: argparse.Namespace) -> bool:
    print(machine_info(), flush=True)
    print(
        f"{args.tasks} tasks per scenario, queue {args.queue_s:g} s + run {args.run_s:g} s "
        f"(+- {100 * args.spread:g} %, + up to {args.jitter_s:g} s jitter per phase), "
        f"{SUBMITTERS} concurrent posts",
        flush=True,
    )
    results: list[dict[str, Any]] = []
    procs: list[subprocess.Popen[Any]] = []
    with tempfile.TemporaryDirectory(prefix="rendergate-bench-") as tmp_dir:
        try:
            for name in ("webhooks", "polling", "naive"):
                results.append(scenario(name, args, Path(tmp_dir), procs))
                print(
                    f"{name}: done, {results[-1]['completed']}/{args.tasks} completed", flush=True
                )
        finally:
            for proc in reversed(procs):
                stop(proc)
    report(results)
    failures = [f"{r['name']}: {f}" for r in results for f in r["failures"]]
    for failure in failures[:20]:
        print(f"FAILED {failure}", file=sys.stderr)
    return not failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per scenario")
    parser.add_argument("--queue-s", type=float, default=1.0, help="emulated queue time")
    parser.add_argument("--run-s", type=float, default=20.0, help="emulated run time")
    parser.add_argument("--jitter-s", type=float, default=0.0, help="extra time per phase, at most")
    parser.add_argument("--spread", type=float, default=0.3, help="run time +- this share")
    parser.add_argument(
        "--warmup", type=int, default=50, help="rendergate's tasks run first, not counted"
    )
    parser.add_argument("--rendergate", metavar="URL", help="(internal) load generator")
    parser.add_argument("--naive", metavar="URL", help="(internal) naive client")
    parser.add_argument("--deadline-s", type=float, default=600.0, help="(internal)")
    args = parser.parse_args()
    if not (0 < args.tasks <= 5000 and 0 <= args.run_s <= 600 and 0 <= args.queue_s <= 60):
        parser.error("need 0 < tasks <= 5000, 0 <= run-s <= 600, 0 <= queue-s <= 60")
    if args.rendergate or args.naive:
        if args.rendergate:
            result = asyncio.run(
                rendergate_client(args.rendergate, args.tasks, args.deadline_s, args.warmup)
            )
        else:
            result = asyncio.run(naive_client(args.naive, args.tasks, args.deadline_s))
        print(json.dumps(result), flush=True)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup on SIGTERM too
    try:
        return 0 if run(args) else 1
    except BenchError as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
