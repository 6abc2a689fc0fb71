"""The `rendergate` command: serve, worker, migrate and keys here; the client commands
(submit, status, tasks, apps, cancel, download) in cli/client.py, rerun in cli/reruns.py,
presets in cli/presets.py, batch and batches in cli/batches.py.

Exit codes: 0 ok, 1 the task failed or was canceled, 2 the request was refused (4xx),
3 the server could not be reached or answered 5xx, 4 no such task, 5 a local file could not
be read or written, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer

from rendergate.cli import starting
from rendergate.cli.batches import app as batch_app
from rendergate.cli.batches import batches_app
from rendergate.cli.client import app as client_app
from rendergate.cli.common import (
    ConfigOption,
    Exit,
    console,
    on_database,
    settings_or_exit,
    tell_database,
)
from rendergate.cli.keys import keys_app
from rendergate.cli.ops import app as ops_app
from rendergate.cli.presets import presets_app
from rendergate.cli.reruns import app as reruns_app
from rendergate.cli.usage import app as usage_app
from rendergate.domain.errors import ConfigError
from rendergate.runtime import metrics_port
from rendergate.runtime.logs import configure_logging

app = typer.Typer(
    help="rendergate: a durable gateway for AI rendering tasks.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


def _flag(**flags: bool) -> dict[str, bool]:
    """The flags given (True), so that an unset one leaves the setting as configured."""
    return {name: True for name, given in flags.items() if given}


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port [default: 8000]")] = None,
    worker: Annotated[bool, typer.Option(help="Also run the task worker here.")] = True,
    open_mode: Annotated[
        bool,
        typer.Option(
            "--open",
            help="Open mode: no API key needed until one is created (loopback addresses "
            "only; requests through a proxy are refused).",
        ),
    ] = False,
) -> None:
    """Serve the API (and, by default, the worker) in one process."""
    import uvicorn

    from rendergate.api.app import create_app
    from rendergate.api.serving import uvicorn_config

    settings = settings_or_exit(
        config, host=host, port=port, worker=worker, **_flag(open=open_mode)
    )
    if settings.is_single_process and not settings.worker:
        console.print(
            "[red]--no-worker needs PostgreSQL[/red] (RENDERGATE_DATABASE_URL): SQLite "
            "allows one rendergate process, which must run the worker"
        )
        raise typer.Exit(Exit.REFUSED)
    starting.refuse_what_cannot_start(settings)
    if not settings.is_single_process and not settings.worker:
        starting.refuse_an_unmigrated_database(settings)
    starting.refuse_open_mode_off_loopback(settings)
    tell_database(settings)
    listening = starting.listen(settings.host, settings.port)  # before anything starts: no worker
    starting.say_how_keys_apply(settings)  # after the port: a taken one makes no database
    configure_logging(  # runs behind a port that turns out to be taken
        settings.log_level, json_lines=settings.log_json, secrets=settings.secret_values()
    )
    console.print(f"rendergate on http://{settings.host}:{settings.port}/docs")
    api = create_app(settings)
    server = uvicorn.Server(uvicorn_config(api, settings, host=settings.host, port=settings.port))
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[listening])
    if not server.started:
        raise typer.Exit(3)  # what uvicorn.run exits with when start-up fails


@app.command()
def worker(config: ConfigOption = None) -> None:
    """Run only the task worker (needs PostgreSQL when an API runs elsewhere)."""
    from rendergate.runtime.bootstrap import open_services

    settings = settings_or_exit(config)
    starting.refuse_what_cannot_start(settings)
    configure_logging(
        settings.log_level, json_lines=settings.log_json, secrets=settings.secret_values()
    )
    tell_database(settings)

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
    from rendergate.runtime.caps import queue_limits, runnable_providers
    from rendergate.runtime.dbos_orchestrator import apply_caps
    from rendergate.runtime.dbos_setup import migrate_system_database
    from rendergate.store.sql import migrate as migrate_tasks

    settings = settings_or_exit(config)
    tell_database(settings)
    console.print(f"rendergate's tables: {on_database(settings, migrate_tasks)}")
    console.print(f"DBOS's tables: {migrate_system_database(settings.system_database_url)}")
    limits = queue_limits(settings, sorted(runnable_providers(settings)))
    asyncio.run(apply_caps(settings.system_database_url, limits))
    console.print("the caps of the cluster:")
    for provider, limit in limits.items():
        console.print(f"  {provider}: {limit}")


@keys_app.callback()
def _keys(ctx: typer.Context, config: ConfigOption = None) -> None:
    ctx.obj = settings_or_exit(config)
    tell_database(ctx.obj)


app.add_typer(keys_app, name="keys")
app.add_typer(presets_app, name="presets")
app.add_typer(batches_app, name="batches")
for typer_app in (client_app, reruns_app, batch_app, ops_app, usage_app):
    app.registered_commands += typer_app.registered_commands  # submit, ..., batch; prune, doctor


def main() -> None:
    app()
