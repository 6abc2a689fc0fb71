"""What `serve` and `worker` check before they start anything, so that a refusal is one
clear line and leaves nothing running: a second process on a SQLite data directory, an API
process on a database no one migrated, a port that is taken."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

import typer
from rich.console import Console

from rendergate.cli.common import Exit
from rendergate.config.settings import Settings
from rendergate.domain.errors import ConfigError
from rendergate.runtime import data_lock

_console = Console(stderr=True)


@contextlib.contextmanager
def alone(settings: Settings, advice: str = data_lock.ADVICE) -> Iterator[None]:
    """Holds the SQLite data directory for the block; one held by another process is
    refused in one line, saying `advice`."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(data_lock.holding(settings.data_dir, advice=advice))
        except ConfigError as exc:
            _console.print(f"[red]refused:[/red] {exc.message}", soft_wrap=True)
            raise typer.Exit(Exit.REFUSED) from None
        yield


def refuse_what_cannot_start(settings: Settings) -> None:
    """What `serve` and `worker` both refuse in one line: a broken apps file, and on SQLite
    a second process on the data dir."""
    from rendergate.config.apps_file import load_apps

    try:
        load_apps(settings)
    except ConfigError as exc:
        _console.print(f"[red]invalid apps:[/red] {exc.message}", soft_wrap=True)
        raise typer.Exit(Exit.REFUSED) from None
    if settings.is_single_process:
        refuse_a_second_process(settings)


def refuse_a_second_process(settings: Settings) -> None:
    """The clear refusal, before any output; open_services takes the lock for real."""
    with alone(settings):
        pass


def refuse_an_unmigrated_database(settings: Settings) -> None:
    """An API process needs DBOS's tables to enqueue; it does not create them."""
    from rendergate.runtime.dbos_setup import has_system_tables

    if not has_system_tables(settings.system_database_url):
        _console.print(
            "[red]refused:[/red] the database has no DBOS tables yet: run `rendergate migrate` "
            "(or start a worker) before an API process without one"
        )
        raise typer.Exit(Exit.REFUSED)


def refuse_open_mode_off_loopback(settings: Settings) -> None:
    """Without an API key anyone who reaches the server could read, cancel and download
    every task: open mode serves a loopback address only."""
    if settings.open_off_loopback:
        _console.print(
            f"[red]refused:[/red] --open serves a loopback address only, and {settings.host} "
            "is not one: anyone who can reach it could read, cancel and download every task. "
            "Create a key with `rendergate keys create NAME` and serve without --open"
        )
        raise typer.Exit(Exit.REFUSED)


def say_how_keys_apply(settings: Settings) -> None:
    """One line at start on who may call: open mode's warning, or how to make a first key."""
    from rendergate.cli.keys import with_keys

    keys = with_keys(settings, lambda store: store.all())
    if settings.open and not keys:
        _console.print(
            "[yellow]warning:[/yellow] open mode: no API key is needed until one is created, "
            "and requests that came through a proxy (Forwarded, X-Forwarded-For, "
            "X-Forwarded-Proto, X-Forwarded-Host, X-Real-IP) are refused",
            soft_wrap=True,
        )
    elif not any(key.active for key in keys):
        _console.print(
            "no API key is active, so every /tasks request is answered 401: create one with "
            "`rendergate keys create NAME`",
            soft_wrap=True,
        )


def listen(host: str, port: int) -> socket.socket:
    """The bound, listening socket uvicorn serves on, taken before the worker starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
    except OSError as exc:
        listening.close()
        _console.print(f"[red]cannot listen on {host}:{port}:[/red] {exc.strerror}")
        raise typer.Exit(3) from None
    listening.listen(2048)
    return listening
