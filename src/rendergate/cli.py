"""The `rendergate` command: serve, worker, migrate, submit, status, tasks, apps, keys.

Exit codes: 0 ok, 1 the task failed or was canceled, 2 the request was refused (4xx),
3 the server could not be reached or answered 5xx, 4 no such task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Column, Table

from rendergate import metrics_port, starting
from rendergate.cli_keys import keys_app
from rendergate.client import Exit
from rendergate.config import Settings, load_settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import ConfigError
from rendergate.logging_setup import configure_logging

app = typer.Typer(
    help="rendergate: a durable gateway for AI rendering tasks.", no_args_is_help=True
)
console = Console(stderr=True)
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML file with settings (keys as in the README).")
]
ServerOption = Annotated[
    str | None,
    typer.Option("--server", envvar="RENDERGATE_SERVER", help="Base URL of a running rendergate."),
]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            name = "RENDERGATE_" + "_".join(str(part) for part in error["loc"]).upper()
            console.print(f"[red]invalid setting[/red] {name}: {error['msg']}", soft_wrap=True)
    except (ConfigError, OSError, ValueError) as exc:
        message = exc.message if isinstance(exc, ConfigError) else str(exc)
        console.print(f"[red]invalid settings:[/red] {message}", soft_wrap=True)
    raise typer.Exit(Exit.REFUSED)


def _apps(settings: Settings) -> Mapping[str, AppSpec]:
    """The apps, or a one-line refusal naming what is wrong with the apps file."""
    from rendergate.apps_file import load_apps

    try:
        return load_apps(settings)
    except ConfigError as exc:
        console.print(f"[red]invalid apps:[/red] {exc.message}", soft_wrap=True)
        raise typer.Exit(Exit.REFUSED) from None


def _flag(**flags: bool) -> dict[str, bool]:
    """The flags given (True), so that an unset one leaves the setting as configured."""
    return {name: True for name, given in flags.items() if given}


def _server(server: str | None, config: Path | None) -> str:
    """--server, else RENDERGATE_SERVER (typer reads it), else this machine's serve."""
    if server:
        return server.rstrip("/")
    settings = _settings(config)
    return f"http://{settings.host}:{settings.port}"


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [default: 8000]")] = None,
    worker: Annotated[bool, typer.Option(help="Also run the task worker here.")] = True,
    insecure: Annotated[
        bool, typer.Option(help="Serve a non-loopback address without API keys.")
    ] = False,
) -> None:
    """Serve the API (and, by default, the worker) in one process."""
    import uvicorn

    from rendergate.api.app import create_app
    from rendergate.api.serving import uvicorn_config

    settings = _settings(config, host=host, port=port, worker=worker, **_flag(insecure=insecure))
    if settings.is_single_process and not settings.worker:
        console.print(
            "[red]--no-worker needs PostgreSQL[/red] (RENDERGATE_DATABASE_URL): SQLite "
            "allows one rendergate process, which must run the worker"
        )
        raise typer.Exit(Exit.REFUSED)
    _apps(settings)  # a broken apps file is refused here, in one line
    if settings.is_single_process:
        starting.refuse_a_second_process(settings)
    elif not settings.worker:
        starting.refuse_an_unmigrated_database(settings)
    starting.refuse_open_mode_off_loopback(settings)
    listening = starting.listen(settings.host, settings.port)  # before anything starts: no worker
    configure_logging(  # runs behind a port that turns out to be taken
        settings.log_level, json_lines=settings.log_json, secrets=settings.secret_values()
    )
    console.print(
        f"rendergate on http://{settings.host}:{settings.port}/docs (data in "
        f"{settings.data_dir.resolve()})"
    )
    api = create_app(settings)
    server = uvicorn.Server(uvicorn_config(api, settings, host=settings.host, port=settings.port))
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[listening])
    if not server.started:
        raise typer.Exit(3)  # what uvicorn.run exits with when start-up fails


@app.command()
def worker(config: ConfigOption = None) -> None:
    """Run only the task worker (needs PostgreSQL when an API runs elsewhere)."""
    from rendergate.bootstrap import open_services

    settings = _settings(config)
    if settings.is_single_process:
        starting.refuse_a_second_process(settings)
    configure_logging(
        settings.log_level, json_lines=settings.log_json, secrets=settings.secret_values()
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with open_services(settings, worker=True) as services:
            with metrics_port.serving(services.metrics.registry, settings):
                console.print("worker running; Ctrl-C stops it")
                await stop.wait()

    try:
        asyncio.run(run())
    except ConfigError as exc:  # a duplicate executor id, ...
        console.print(f"[red]refused:[/red] {exc.message}")
        raise typer.Exit(Exit.REFUSED) from None


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Create or upgrade the database (rendergate's tables and DBOS's) and set the
    providers' caps for the cluster: run it before a deploy starts its processes."""
    from rendergate.bootstrap import queue_limits, runnable_providers
    from rendergate.orchestration.dbos_runtime import apply_caps
    from rendergate.orchestration.dbos_setup import migrate_system_database
    from rendergate.store.sql import create_engine
    from rendergate.store.sql import migrate as migrate_tasks

    settings = _settings(config)

    async def run() -> None:
        engine = create_engine(settings.task_database_url)
        try:
            await migrate_tasks(engine)
        finally:
            await engine.dispose()

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(run())
    migrate_system_database(settings.system_database_url)
    limits = queue_limits(settings, sorted(runnable_providers(settings)))
    asyncio.run(apply_caps(settings.system_database_url, limits))
    console.print("the database is up to date; the caps of the cluster:")
    for provider, limit in limits.items():
        console.print(f"  {provider}: {limit}")


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
            _server(server, config),
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
        get_json(_server(server, config), f"/tasks/{task_id}?include_base64=false", console)
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
    code, body = asyncio.run(get_json(_server(server, config), f"/tasks?{query}", console))
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
def apps(config: ConfigOption = None) -> None:
    """List the apps this configuration offers and whether each can run here."""
    from rendergate.services.routing import app_availability

    settings = _settings(config)
    table = Table("type", "provider", "available", "title")
    reasons: list[str] = []
    for spec in sorted(_apps(settings).values(), key=lambda a: a.name):
        provider, reason = app_availability(spec, settings)
        table.add_row(spec.name, provider, "yes" if reason is None else "no", spec.title)
        if reason is not None:
            reasons.append(f"{spec.name}: {reason}")
    out = Console()
    out.print(table)
    for line in reasons:
        out.print(line, soft_wrap=True)


@keys_app.callback()
def _keys(ctx: typer.Context, config: ConfigOption = None) -> None:
    ctx.obj = _settings(config)


app.add_typer(keys_app, name="keys")


def main() -> None:
    app()
