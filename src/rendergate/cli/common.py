"""What the `rendergate` commands share: their exit codes, console and options, and settings
read with every mistake told in one line (never a traceback)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from rendergate.config.settings import Settings, load_settings, unknown_variables
from rendergate.domain.errors import ConfigError


class Exit(IntEnum):
    """The exit codes of every `rendergate` command (cli/main.py's docstring)."""

    OK = 0
    TASK_FAILED = 1
    REFUSED = 2
    UNREACHABLE = 3
    NOT_FOUND = 4
    LOCAL_FILE = 5
    INTERRUPTED = 130  # Ctrl-C, as a shell reports a process SIGINT ended


if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
console = Console(stderr=True, soft_wrap=True)  # a message is one line, however long
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="TOML file with settings (keys as in docs/configuration.md)."),
]
ServerOption = Annotated[
    str | None,
    typer.Option("--server", envvar="RENDERGATE_SERVER", help="Base URL of a running rendergate."),
]


def settings_or_exit(config: Path | None, **overrides: Any) -> Settings:
    """The settings; a mistake is one line per problem, naming the variable, and exit 2."""
    try:
        settings = load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            name = "RENDERGATE_" + "_".join(str(part) for part in error["loc"]).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            console.print(f"[red]invalid setting[/red] {name}: {message}", soft_wrap=True)
    except (ConfigError, OSError, ValueError) as exc:
        message = exc.message if isinstance(exc, ConfigError) else str(exc)
        console.print(f"[red]invalid settings:[/red] {message}", soft_wrap=True)
    else:
        for name in unknown_variables(settings, os.environ):
            console.print(
                f"[yellow]ignored:[/yellow] {name} is not a setting (see docs/configuration.md)",
                soft_wrap=True,
            )
        return settings
    raise typer.Exit(Exit.REFUSED)


def server_url(server: str | None, config: Path | None) -> str:
    """--server, else RENDERGATE_SERVER (typer reads it), else this machine's serve."""
    if server:
        return server.rstrip("/")
    settings = settings_or_exit(config)
    return f"http://{settings.host}:{settings.port}"


def database_in_use(settings: Settings) -> str:
    """The database and data dir a command works on: the SQLite file, or the URL without its
    password."""
    from sqlalchemy import make_url

    url = make_url(settings.task_database_url)
    if url.get_backend_name() == "sqlite":
        shown = str(url.database)
    else:
        shown = url.difference_update_query(["password"]).render_as_string(hide_password=True)
    return f"database {shown} (data dir {settings.data_dir.resolve()})"


def tell_database(settings: Settings) -> None:
    """One line on stderr naming the database and data dir: a command run from another
    directory, or with other settings, says so before it works on the wrong one."""
    console.print(database_in_use(settings))


def on_database(settings: Settings, use: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Opens the task database, runs `use(engine)` and closes it: the one place a command
    holds an engine of its own."""
    from rendergate.store.sql import create_engine

    async def run() -> T:
        engine = create_engine(settings.task_database_url)
        try:
            return await use(engine)
        finally:
            await engine.dispose()

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run())


def with_database(settings: Settings, use: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Runs `use(engine)` on the migrated task database: the commands that work on the
    database themselves rather than through a server (keys, prune)."""
    from rendergate.store.sql import migrate

    async def migrated(engine: AsyncEngine) -> T:
        await migrate(engine)
        return await use(engine)

    return on_database(settings, migrated)
