"""The `rendergate` commands that are clients of a running server: submit, status, tasks,
apps, cancel, download, all on the SDK's Client. They ask the server they talk to
(--server), never this shell's settings, which may be another machine's; the API key is
RENDERGATE_API_KEY's, if set."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from rendergate.cli.common import ConfigOption, Exit, ServerOption, console, server_url
from rendergate.client import (
    ApiError,
    Client,
    InvalidRequest,
    Task,
    TaskStatus,
    Unauthorized,
    Unreachable,
)
from rendergate.client.signals import signals_to_main

app = typer.Typer()
WaitOption = Annotated[bool, typer.Option(help="Wait with a progress bar and save the result.")]
OutputOption = Annotated[Path | None, typer.Option("-o", "--output", help="Where to save it.")]
TimeoutOption = Annotated[float, typer.Option(help="Seconds --wait waits at most.")]


def exit_for(status: int) -> Exit:
    if status == 404:
        return Exit.NOT_FOUND
    return Exit.REFUSED if 400 <= status < 500 else Exit.UNREACHABLE


def describe(exc: ApiError) -> str:
    """The API's message; every problem of a 422, each with where it is."""
    if isinstance(exc, InvalidRequest) and exc.detail:
        return "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in exc.detail)
    return exc.message


START_ONE = (
    "is a rendergate server running there? `rendergate serve` (or `make run` in a checkout) "
    "starts one; --server or RENDERGATE_SERVER points at another"
)


@contextlib.contextmanager
def answered(refusal: str = "") -> Iterator[None]:
    """The SDK's errors as one line on stderr and the command's exit code."""
    try:
        yield
    except Unreachable as exc:
        console.print(f"[red]cannot reach {exc.base_url}[/red] ({exc.reason}): {START_ONE}")
        raise typer.Exit(Exit.UNREACHABLE) from None
    except ApiError as exc:
        head = f"{refusal} ({exc.status}):" if refusal else str(exc.status)
        why = _unauthorized(exc) if isinstance(exc, Unauthorized) else describe(exc)
        console.print(f"[red]{head}[/red] {why}")
        raise typer.Exit(exit_for(exc.status)) from None


def _unauthorized(exc: Unauthorized) -> str:
    """A 401 told as what a user of this command sets (RENDERGATE_API_KEY), where the API's
    own message names the HTTP header."""
    if os.environ.get("RENDERGATE_API_KEY"):
        return f"the server refused the key in RENDERGATE_API_KEY: {exc.message}"
    return (
        "this server needs an API key: set RENDERGATE_API_KEY to one "
        "(`rendergate keys create NAME` where the server runs makes one)"
    )


def cannot(verb: str, exc: OSError) -> str:
    return f"cannot {verb} {exc.filename or 'a local file'}: {exc.strerror or exc}"


@contextlib.contextmanager
def local_file(verb: str) -> Iterator[None]:
    """A file here that cannot be read or written, as one line and exit 5."""
    try:
        yield
    except OSError as exc:
        console.print(f"[red]{cannot(verb, exc)}[/red]")
        raise typer.Exit(Exit.LOCAL_FILE) from None


def _params(text: str | None) -> dict[str, Any]:
    try:
        params = json.loads(text or "{}")
    except ValueError as exc:
        params = exc
    if not isinstance(params, dict):
        console.print(f"[red]refused:[/red] --params must be a JSON object ({params})")
        raise typer.Exit(Exit.REFUSED)
    return params


@app.command()
def submit(
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The screenshot.")],
    reference: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Reference for colour tone.")
    ] = None,
    type: Annotated[
        str | None,
        typer.Option("--type", help="The app to run [default: preview, or the preset's]."),
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="A preset's name: its app, params and reference.")
    ] = None,
    angle: Annotated[str, typer.Option(help="Camera angle label.")] = "",
    params: Annotated[str | None, typer.Option(help="A JSON object for the app.")] = None,
    then: Annotated[
        list[str] | None,
        typer.Option(
            help="An app run on the result once it completes (upscale); repeat for more steps."
        ),
    ] = None,
    wait: WaitOption = False,
    output: OutputOption = None,
    timeout: TimeoutOption = 3600.0,
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """Create a task from an image file; with --wait, follow it and save the result."""
    app_params = _params(params)
    with Client(server_url(server, config)) as client:
        with answered("refused"), local_file("read"):
            task = client.create(
                image,
                reference=reference,
                type=type,
                preset=preset,
                angle=angle,
                params=app_params,
                then=then or None,
            )
        said = f"task {task.task_id} {task.status}"
        done = told(client, task, said, (image.stem, output, timeout) if wait else None)
    raise typer.Exit(done)


def told(
    client: Client, task: Task, line: str, following: tuple[str, Path | None, float] | None
) -> Exit:
    """Says a new task (`line` on stderr, its id on stdout), then, given `following`
    (`_follow`'s stem, output and timeout), follows it; Ctrl-C stops only the waiting."""
    try:
        console.print(line)
        print(task.task_id, flush=True)
        return _follow(client, task.task_id, *following) if following else Exit.OK
    except KeyboardInterrupt:
        return _interrupted(task.task_id)


def _interrupted(task_id: int) -> Exit:
    """Ctrl-C stops this command, not the task: say how to follow it."""
    console.print(
        f"stopped waiting; task {task_id} goes on at the server: `rendergate status {task_id}` "
        f"shows it, `rendergate download {task_id}` saves its result once it completes, "
        f"`rendergate cancel {task_id}` stops it"
    )
    return Exit.INTERRUPTED


def _follow(client: Client, task_id: int, stem: str, output: Path | None, timeout: float) -> Exit:
    """Waits with a progress bar; saves a completed task's result (GET with its base64, one
    call) as `<stem>.<task_id>.png` here unless `output` says where."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    bar = Progress(*columns, console=console, transient=False)
    with signals_to_main():  # its refresh thread must not swallow a ^C
        bar.start()
    with bar:
        row = bar.add_task(f"task {task_id}", total=100)

        def show(task: Task) -> None:
            bar.update(row, completed=task.progress, description=f"task {task_id} {task.status}")

        task: Task | None = None
        with contextlib.suppress(TimeoutError), answered(f"reading task {task_id} failed"):
            task = client.wait(task_id, timeout=timeout, on_progress=show)
    if task is None:
        console.print(f"[yellow]gave up waiting after {timeout:g} s[/yellow]")
        return Exit.TASK_FAILED
    if task.status is not TaskStatus.COMPLETED:
        console.print(f"[red]task {task.status}:[/red] {task.error_message}")
        return Exit.TASK_FAILED
    with answered(f"reading task {task_id} failed"):
        done = client.get(task_id, include_base64=True)
    target = output or Path.cwd() / f"{stem}.{task_id}.png"  # here, not beside the input
    try:
        target.write_bytes(base64.b64decode(done.image.image_base64))
    except OSError as exc:
        console.print(
            f"[red]task {task_id} completed, but {cannot('write', exc)}[/red]; "
            f"`rendergate download {task_id} -o FILE` saves its result"
        )
        return Exit.LOCAL_FILE
    console.print(f"saved {target}")
    return Exit.OK


@app.command()
def status(
    task_id: Annotated[int, typer.Argument(help="The task id.")],
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """Show one task as JSON (stdout), and what it cost and was charged in money (stderr)."""
    with Client(server_url(server, config)) as client, answered():
        task = client.get(task_id)
    typer.echo(json.dumps(task.raw, indent=2, ensure_ascii=False))
    if said := money_said(task):
        console.print(said)


def money_said(task: Task) -> str:
    """ "cost 0.17 CNY (estimated), charged 2.00 CNY (refunded)"; empty: neither known yet."""
    parts = []
    if (cost := task.cost) is not None:
        amount = "unknown" if cost.amount is None else f"{cost.amount} {cost.currency}"
        parts.append(f"cost {amount}" + (" (estimated)" if cost.estimated else ""))
    if (charge := task.charge) is not None:
        refunded = " (refunded)" if charge.refunded else ""
        parts.append(f"charged {charge.amount} {charge.currency}{refunded}")
    return ", ".join(parts)


@app.command()
def tasks(
    status: Annotated[str | None, typer.Option(help="Only tasks in this status.")] = None,
    type: Annotated[str | None, typer.Option("--type", help="Only this app.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """List recent tasks, newest first."""
    with Client(server_url(server, config)) as client, answered():
        found = list(itertools.islice(client.list(status=status, type=type, limit=limit), limit))
    table = Table("type", "status", "progress", "created (UTC)", "error")
    table.columns.insert(0, Column("task_id", no_wrap=True, min_width=16))
    for task in found:
        created = task.created_at.strftime("%Y-%m-%d %H:%M:%S") if task.created_at else ""
        table.add_row(
            str(task.task_id),
            task.type,
            task.status,
            f"{task.progress}%",
            created,
            task.error_message[:60],
        )
    Console().print(table)


@app.command()
def apps(server: ServerOption = None, config: ConfigOption = None) -> None:
    """List the apps the server offers and whether each can run there."""
    with Client(server_url(server, config)) as client, answered():
        found = client.apps()
    table = Table("type", "provider", "available", "title")
    for spec in found:
        table.add_row(spec.name, spec.provider, "yes" if spec.available else "no", spec.title)
    out = Console()
    out.print(table)
    for spec in found:
        if not spec.available:
            out.print(f"{spec.name}: {spec.unavailable_reason}", soft_wrap=True)


@app.command()
def cancel(
    task_id: Annotated[int, typer.Argument(help="The task id.")],
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """Cancel an unfinished task (exit 2 if it finished already)."""
    with Client(server_url(server, config)) as client, answered():
        task = client.cancel(task_id)
    console.print(f"task {task_id} {task.status}")


@app.command()
def download(
    task_id: Annotated[int, typer.Argument(help="The task id.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Where to save it (default: here).")
    ] = None,
    index: Annotated[int, typer.Option(min=0, help="Which output, for multi-output apps.")] = 0,
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """Save a completed task's result, in the current directory unless -o says where (a
    directory: under the server's name for it, `<task_id>-<index>.<ext>`)."""
    with Client(server_url(server, config)) as client, answered(), local_file("write"):
        saved = client.download(task_id, output or Path.cwd(), index=index)
    console.print(f"saved {saved}")
