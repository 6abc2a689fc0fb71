"""`rendergate usage`: every key's tasks and money over a range of UTC days, for the
operator. It opens the database itself (as `rendergate keys` does) and reads the usage
rollup that GET /usage reads (by provider key, the task rows); keys are named by their
name, provider keys by their id, never a secret."""

from __future__ import annotations

import csv
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

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
from rendergate.config.settings import Settings
from rendergate.domain.errors import InvalidInput
from rendergate.domain.money import Money

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from rendergate.services.usage import UsageLine, UsageReport

app = typer.Typer()
out = Console()
FIGURES = ("tasks", "completed", "failed", "canceled", "unknown cost")
MONEY = ("spent", "charged", "refunded", "net")


@app.command()
def usage(
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="Group by any of key, day, app, preset, provider_key (comma-separated; "
            "provider_key: the pooled provider key that ran the tasks, not with day)",
        ),
    ] = "key",
    since: Annotated[
        str | None, typer.Option(help="First UTC day, YYYY-MM-DD (default: the 1st of this month)")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last UTC day, inclusive (default: today)")
    ] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout, one line a group")] = False,
    config: ConfigOption = None,
) -> None:
    """Tasks created, completed, failed and canceled, what they cost upstream and what they
    were charged (refunds apart), per group, across every key."""
    settings = settings_or_exit(config)
    tell_database(settings)
    report = _read(settings, by=by, since=since, until=until)
    if as_csv:
        _write_csv(report)
        return
    table = Table(*report.by, "currency", *FIGURES, *MONEY)
    for line in report.lines:
        table.add_row(*_cells(line, report.by))
    for total in report.totals:
        table.add_row(*_cells(total, report.by), style="bold")
    out.print(table)
    console.print(f"{report.since} to {report.until} (UTC days, inclusive); last rows: totals")


def _read(settings: Settings, *, by: str, since: str | None, until: str | None) -> UsageReport:
    """The rollup's report over every key; a bad option told in one line, exit 2."""
    from rendergate.services.usage import BY, day_range, grouping, read_usage
    from rendergate.store.usage_reads import SqlUsage

    try:
        grouped = grouping(by, allowed=tuple(BY), field="--by")
        days = day_range(since, until, today=datetime.now(UTC).date())
    except InvalidInput as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from None

    async def run(engine: AsyncEngine) -> UsageReport:
        return await read_usage(
            SqlUsage(engine), owner=None, by=grouped, days=days, currency=settings.currency
        )

    return with_database(settings, run)


def _cells(line: UsageLine, by: tuple[str, ...]) -> list[str]:
    """A group's values, then its figures; a total's group cells say so."""
    group = [line.group.get(name, "total") for name in by]
    counts = [line.tasks, line.completed, line.failed, line.canceled, line.unknown_cost]
    amounts = [line.spent, line.charged, line.refunded, line.net]
    money = [Money(amount, line.currency).text for amount in amounts]
    return [*group, line.currency, *map(str, counts), *money]


def _write_csv(report: UsageReport) -> None:
    """The groups only (no totals: a spreadsheet sums them), amounts as decimal strings."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow([*report.by, "currency", *(name.replace(" ", "_") for name in FIGURES + MONEY)])
    for line in report.lines:
        writer.writerow(_cells(line, report.by))
