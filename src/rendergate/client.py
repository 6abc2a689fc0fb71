"""A small HTTP client of our own API, used by the CLI's submit, status and tasks. It sends
the API key in RENDERGATE_API_KEY, if set, as `Authorization: Bearer`."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import Any

import aiohttp
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class Exit(IntEnum):
    """The CLI's exit codes (cli.py), which these calls return."""

    OK = 0
    TASK_FAILED = 1
    REFUSED = 2
    UNREACHABLE = 3
    NOT_FOUND = 4


POLL_S = 0.5


FINISHED = ("completed", "failed", "canceled")
Show = Callable[[dict[str, Any]], None]


async def _stream(
    session: aiohttp.ClientSession, server: str, task_id: int, show: Show, deadline: float
) -> dict[str, Any] | None:
    """Follows the task's event stream to its end; None if it cannot (then poll)."""
    url = f"{server}/tasks/{task_id}/events"
    last: dict[str, Any] | None = None
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0.1)):
            async with session.get(url, headers={"Accept": "text/event-stream"}) as response:
                if response.status != 200:
                    return None
                async for raw in response.content:
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if line.startswith("data:"):
                        last = json.loads(line[5:])
                        show(last)
                        if last["status"] in FINISHED:
                            return last
    except (aiohttp.ClientError, json.JSONDecodeError, KeyError, TimeoutError):
        pass
    return None


async def _poll(
    session: aiohttp.ClientSession, server: str, task_id: int, show: Show, deadline: float
) -> dict[str, Any] | int | None:
    """Polls until the task finishes: the task, an exit code on an error, None on time."""
    while True:
        async with session.get(f"{server}/tasks/{task_id}?include_base64=false") as response:
            if response.status != 200:
                return _exit_for(response.status)
            task: dict[str, Any] = (await response.json())["data"]
        show(task)
        if task["status"] in FINISHED:
            return task
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(POLL_S)


def _session() -> aiohttp.ClientSession:
    key = os.environ.get("RENDERGATE_API_KEY")
    return aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"} if key else None)


def _exit_for(status: int) -> int:
    if status == 404:
        return Exit.NOT_FOUND
    return Exit.REFUSED if 400 <= status < 500 else Exit.UNREACHABLE


def _message(body: Any) -> str:
    if isinstance(body, dict) and "detail" in body:
        return "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in body["detail"])
    if isinstance(body, dict) and "msg" in body:
        return str(body["msg"])
    return str(body)[:200]


async def get_json(server: str, path: str, console: Console) -> tuple[int, Any]:
    return await request_json("GET", server, path, console)


async def post_json(server: str, path: str, console: Console) -> tuple[int, Any]:
    return await request_json("POST", server, path, console)


async def request_json(method: str, server: str, path: str, console: Console) -> tuple[int, Any]:
    """One call: (exit code, body); a refusal or an unreachable server is printed."""
    try:
        async with _session() as session, session.request(method, server + path) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                console.print(f"[red]{response.status}[/red] {_message(body)}")
                return _exit_for(response.status), body
            return Exit.OK, body
    except (aiohttp.ClientError, json.JSONDecodeError, TimeoutError) as exc:
        console.print(f"[red]cannot reach {server}:[/red] {exc}")
        return Exit.UNREACHABLE, None


async def download_result(
    server: str, task_id: int, index: int, output: Path | None, console: Console
) -> int:
    """Saves a result to `output`, by default `<task_id>-<index>.<ext>` in the current
    directory (the name the server's Content-Disposition gives)."""
    url = f"{server}/tasks/{task_id}/image?index={index}"
    try:
        async with _session() as session, session.get(url) as response:
            if response.status != 200:
                body = await response.json(content_type=None)
                console.print(f"[red]{response.status}[/red] {_message(body)}")
                return _exit_for(response.status)
            data = await response.read()
            name = response.content_disposition.filename if response.content_disposition else None
    except (aiohttp.ClientError, json.JSONDecodeError, TimeoutError) as exc:
        console.print(f"[red]cannot reach {server}:[/red] {exc}")
        return Exit.UNREACHABLE
    target = output or Path.cwd() / Path(name or f"{task_id}-{index}.png").name
    await asyncio.to_thread(target.write_bytes, data)
    console.print(f"saved {target}")
    return Exit.OK


async def submit_and_follow(
    server: str,
    *,
    image: Path,
    reference: Path | None,
    app: str,
    angle: str,
    params: str | None,
    wait: bool,
    output: Path | None,
    timeout_s: float,
    console: Console,
) -> int:
    form = aiohttp.FormData()
    form.add_field("image", await asyncio.to_thread(image.read_bytes), filename=image.name)
    if reference is not None:
        data = await asyncio.to_thread(reference.read_bytes)
        form.add_field("reference", data, filename=reference.name)
    form.add_field("type", app)
    form.add_field("angle", angle)
    if params:
        form.add_field("params", params)
    try:
        async with _session() as session:
            async with session.post(f"{server}/tasks", data=form) as response:
                body = await response.json(content_type=None)
                if response.status != 201:
                    console.print(f"[red]refused ({response.status}):[/red] {_message(body)}")
                    return _exit_for(response.status)
            task_id = body["data"]["task_id"]
            console.print(f"task {task_id} {body['data']['status']}")
            print(task_id, flush=True)
            if not wait:
                return Exit.OK
            return await _follow(session, server, task_id, image, output, timeout_s, console)
    except (aiohttp.ClientError, json.JSONDecodeError, TimeoutError) as exc:
        console.print(f"[red]cannot reach {server}:[/red] {exc}")
        return Exit.UNREACHABLE


async def _follow(
    session: aiohttp.ClientSession,
    server: str,
    task_id: int,
    image: Path,
    output: Path | None,
    timeout_s: float,
    console: Console,
) -> int:
    deadline = time.monotonic() + timeout_s
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        row = bar.add_task(f"task {task_id}", total=100)

        def show(task: dict[str, Any]) -> None:
            status = task["status"]
            bar.update(row, completed=task["progress"], description=f"task {task_id} {status}")

        task: dict[str, Any] | int | None = await _stream(session, server, task_id, show, deadline)
        if task is None:  # no stream (an older server, a proxy that buffers): poll
            task = await _poll(session, server, task_id, show, deadline)
    if isinstance(task, int):
        console.print(f"[red]reading task {task_id} failed[/red]")
        return task
    if task is None:
        console.print(f"[yellow]gave up waiting after {timeout_s:g} s[/yellow]")
        return Exit.TASK_FAILED
    if task["status"] != "completed":
        console.print(f"[red]task {task['status']}:[/red] {task['error_message']}")
        return Exit.TASK_FAILED
    async with session.get(f"{server}/tasks/{task_id}") as response:
        data = base64.b64decode((await response.json())["data"]["image"]["image_base64"])
    target = output or Path.cwd() / f"{image.stem}.{task_id}.png"  # here, not beside the input
    await asyncio.to_thread(target.write_bytes, data)
    console.print(f"saved {target}")
    return Exit.OK
