"""The operator's commands: `prune` (retention by hand) and `doctor` (what works, what to
fix). They open the database and the storage themselves, not a server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from rendergate.cli.common import (
    ConfigOption,
    console,
    settings_or_exit,
    tell_database,
    with_database,
)
from rendergate.cli.starting import alone
from rendergate.config.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from rendergate.services.retention import Pruning

T = TypeVar("T")
app = typer.Typer()
out = Console()
PRUNE_BESIDE_SERVE = (
    "Its worker prunes every hour by itself when retention is set; to prune now, stop it "
    "first, or run rendergate on PostgreSQL, where prune may run beside servers"
)


def with_pruning(settings: Settings, use: Callable[[Pruning], Awaitable[T]]) -> T:
    """Runs `use` over the migrated database, the storage and the apps; closes them."""
    from rendergate.blobs.setup import open_blobs
    from rendergate.config.apps_file import load_apps
    from rendergate.redaction import Redactor
    from rendergate.services.context import utc_now
    from rendergate.services.retention import Pruning
    from rendergate.store.sql import SqlTaskStore

    async def run(engine: AsyncEngine) -> T:
        pruning = Pruning(
            store=SqlTaskStore(engine),
            blobs=await open_blobs(settings),
            apps=load_apps(settings),
            retention_days=settings.retention_days,
            clock=utc_now,
            redactor=Redactor(),
        )
        return await use(pruning)

    return with_database(settings, run)


@app.command()
def prune(
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go; remove nothing."),
    config: ConfigOption = None,
) -> None:
    """Remove finished tasks' inputs and results past their retention (a worker does it
    every hour by itself); the tasks stay, saying their files expired. On SQLite, refused
    while a server holds the data directory: its caches would not learn of the change."""
    from rendergate.services import retention

    settings = settings_or_exit(config)
    tell_database(settings)

    async def run(pruning: retention.Pruning) -> retention.Pruned:
        if not retention.configured(pruning):
            console.print("no retention is set (RENDERGATE_RETENTION_DAYS, apps' retention_days)")
            return retention.Pruned()
        return await retention.prune(pruning, dry_run=dry_run)

    with contextlib.ExitStack() as stack:
        if settings.is_single_process:  # on PostgreSQL servers hear of it (store/events.py)
            stack.enter_context(alone(settings, PRUNE_BESIDE_SERVE))
        pruned = with_pruning(settings, run)
    table = Table("task_id", "type", "finished (UTC)", "result bytes")
    for task in pruned.tasks[:20]:
        finished = task.finished_at.isoformat()[:19] if task.finished_at else ""
        table.add_row(str(task.task_id), task.app, finished, str(sum(o.size for o in task.outputs)))
    if pruned.tasks:
        out.print(table)
    verb = "would remove" if dry_run else "removed"
    console.print(
        f"{verb} the files of {len(pruned.tasks)} tasks ({pruned.result_bytes} result bytes)"
        + (f", {len(pruned.tasks) - 20} more not shown" if len(pruned.tasks) > 20 else "")
    )


@app.command()
def doctor(config: ConfigOption = None) -> None:
    """Check the configuration, database, storage, providers and public URL; say what to
    fix. Exit 1 when something is wrong."""
    from rendergate.services.doctor import examine

    settings = settings_or_exit(config)  # a bad setting is told in one line, exit 2
    tell_database(settings)
    findings = asyncio.run(examine(settings))
    table = Table("", "part", "found")
    marks = {True: "[green]ok[/green]", False: "[red]fix[/red]", None: "[dim]off[/dim]"}
    for finding in findings:
        table.add_row(marks[finding.ok], finding.part, finding.detail)
    out.print(table)
    broken = [f for f in findings if f.ok is False]
    if broken:
        console.print(f"[red]{len(broken)} to fix[/red]")
        raise typer.Exit(1)
    console.print("[green]all good[/green]")
