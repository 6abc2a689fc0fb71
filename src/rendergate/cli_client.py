"""The `rendergate` commands that are clients of a running server: submit, status, tasks,
apps, cancel, download. They ask the server they talk to (--server), never this shell's
settings, which may be another machine's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from rendergate.cli_common import ConfigOption, ServerOption, console, server_url
from rendergate.client import Exit

app = typer.Typer()


@app.command()
def submit(
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The screenshot.")],
    reference: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Reference for colour tone.")
    ] = None,
    type: Annotated[str, typer.Option("--type", help="The app to run.")] = "preview",
    angle: Annotated[str, typer.Option(help="Camera angle label.")] = "",
    params: Annotated[str | None, typer.Option(help="A JSON object for the app.")] = None,
    wait: Annotated[
        bool, typer.Option(help="Wait with a progress bar and save the result.")
    ] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where to save it.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 3600.0,
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """Create a task from an image file; with --wait, follow it and save the result."""
    from rendergate.client import submit_and_follow

    code = asyncio.run(
        submit_and_follow(
            server_url(server, config),
            image=image,
            reference=reference,
            app=type,
            angle=angle,
            params=params,
            wait=wait,
            output=output,
            timeout_s=timeout,
            console=console,
        )
    )
    raise typer.Exit(code)


@app.command()
def status(
    task_id: Annotated[int, typer.Argument(help="The task id.")],
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """Show one task as JSON."""
    from rendergate.client import get_json

    code, body = asyncio.run(
        get_json(server_url(server, config), f"/tasks/{task_id}?include_base64=false", console)
    )
    if code == Exit.OK:
        typer.echo(json.dumps(body["data"], indent=2, ensure_ascii=False))
    raise typer.Exit(code)


@app.command()
def tasks(
    status: Annotated[str | None, typer.Option(help="Only tasks in this status.")] = None,
    type: Annotated[str | None, typer.Option("--type", help="Only this app.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """List recent tasks, newest first."""
    from urllib.parse import urlencode

    from rendergate.client import get_json

    query = urlencode(
        {k: v for k, v in {"status": status, "type": type, "limit": limit}.items() if v}
    )
    code, body = asyncio.run(get_json(server_url(server, config), f"/tasks?{query}", console))
    if code != Exit.OK:
        raise typer.Exit(code)
    table = Table("type", "status", "progress", "created (UTC)", "error")
    table.columns.insert(0, Column("task_id", no_wrap=True, min_width=16))
    for task in body["data"]["tasks"]:
        table.add_row(
            str(task["task_id"]),
            task["type"],
            task["status"],
            f"{task['progress']}%",
            task["created_at"][:19].replace("T", " "),
            task["error_message"][:60],
        )
    Console().print(table)


@app.command()
def apps(server: ServerOption = None, config: ConfigOption = None) -> None:
    """List the apps the server offers and whether each can run there."""
    from rendergate.client import get_json

    code, body = asyncio.run(get_json(server_url(server, config), "/apps", console))
    if code != Exit.OK:
        raise typer.Exit(code)
    table = Table("type", "provider", "available", "title")
    reasons = []
    for spec in body["data"]:
        table.add_row(
            spec["name"], spec["provider"], "yes" if spec["available"] else "no", spec["title"]
        )
        if not spec["available"]:
            reasons.append(f"{spec['name']}: {spec['unavailable_reason']}")
    out = Console()
    out.print(table)
    for line in reasons:
        out.print(line, soft_wrap=True)


@app.command()
def cancel(
    task_id: Annotated[int, typer.Argument(help="The task id.")],
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """Cancel an unfinished task (exit 2 if it finished already)."""
    from rendergate.client import post_json

    code, body = asyncio.run(
        post_json(server_url(server, config), f"/tasks/{task_id}/cancel", console)
    )
    if code == Exit.OK:
        console.print(f"task {task_id} {body['data']['status']}")
    raise typer.Exit(code)


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
    """Save a completed task's result, in the current directory unless -o says where."""
    from rendergate.client import download_result

    code = asyncio.run(download_result(server_url(server, config), task_id, index, output, console))
    raise typer.Exit(code)
