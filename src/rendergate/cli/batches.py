"""`rendergate batch` (several views of one model in one request, followed view by view with
--wait) and `rendergate batches list|show|cancel|retry|download`, on the SDK's Client like
the other client commands (cli/client.py)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from rendergate.cli.batch_progress import ViewLines
from rendergate.cli.client import TimeoutOption, answered, cannot, local_file
from rendergate.cli.common import ConfigOption, Exit, ServerOption, console, server_url
from rendergate.cli.reruns import param_changes
from rendergate.client import Batch, BatchStatus, Client

app = typer.Typer()
batches_app = typer.Typer(
    help="Batches: read, list, cancel, retry and download what `rendergate batch` made.",
    no_args_is_help=True,
)
BatchArgument = Annotated[int, typer.Argument(help="The batch id.")]
DirectoryOption = Annotated[
    Path | None,
    typer.Option("-o", "--output", file_okay=False, help="The directory [default: batch-ID]."),
]


Images = Annotated[
    list[Path], typer.Argument(exists=True, dir_okay=False, help="1 to 12 views' images.")
]
Reference = Annotated[
    Path | None, typer.Option(exists=True, dir_okay=False, help="Reference for colour tone.")
]
AppName = Annotated[
    str | None, typer.Option("--type", help="The app [default: preview, or the preset's].")
]
Params = Annotated[
    list[str] | None, typer.Option(help="key=value for the app (repeatable; JSON values).")
]
Angles = Annotated[
    list[str] | None, typer.Option(help="Each image's angle, in order (repeatable).")
]
Steps = Annotated[list[str] | None, typer.Option(help="An app run on each result (repeatable).")]
Wait = Annotated[bool, typer.Option(help="Follow it, a line per view, and save its results.")]


@app.command()
def batch(
    images: Images,
    reference: Reference = None,
    type: AppName = None,
    preset: Annotated[str | None, typer.Option(help="A preset's name.")] = None,
    param: Params = None,
    angle: Angles = None,
    variations: Annotated[int, typer.Option(help="Renders of each view, 1 to 4.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Variation k runs with seed + k.")] = None,
    then: Steps = None,
    name: Annotated[str | None, typer.Option(help="The batch's name.")] = None,
    wait: Wait = False,
    output: DirectoryOption = None,
    timeout: TimeoutOption = 3600.0,
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """Render several views of one model in one look: every view with the same app, params,
    reference and seed, each in --variations; with --wait, save every result into -o."""
    if angle and len(angle) != len(images):
        console.print(f"[red]refused:[/red] {len(angle)} --angle for {len(images)} images")
        raise typer.Exit(Exit.REFUSED)
    params = param_changes(param or [])
    with Client(server_url(server, config)) as client:
        with answered("refused"), local_file("read"):
            made = client.create_batch(
                images,
                angles=angle,
                reference=reference,
                type=type,
                preset=preset,
                params=params,
                variations=variations,
                seed=seed,
                name=name,
                then=then,
            )
        console.print(
            f"batch {made.batch_id} {made.status}: {len(made.views)} views x "
            f"{made.variations} variations ({made.type}, seed {made.seed})"
        )
        print(made.batch_id, flush=True)
        done = _waited(client, made, output, timeout) if wait else Exit.OK
    raise typer.Exit(done)


def _waited(client: Client, made: Batch, output: Path | None, timeout: float) -> Exit:
    """Follows the batch, a line per view; saves what it made. Ctrl-C stops the waiting."""
    lines = ViewLines(made)
    ended: Batch | None = None
    try:
        with lines.shown(), answered(f"reading batch {made.batch_id} failed"):
            ended = client.wait_batch(made.batch_id, timeout=timeout, on_progress=lines.update)
    except TimeoutError:
        console.print(f"[yellow]gave up waiting after {timeout:g} s[/yellow]")
    except KeyboardInterrupt:
        console.print(
            f"stopped waiting; batch {made.batch_id} goes on at the server: "
            f"`rendergate batches show {made.batch_id}` shows it, "
            f"`rendergate batches download {made.batch_id}` saves its results"
        )
        return Exit.INTERRUPTED
    if ended is None:
        return Exit.TASK_FAILED
    if ended.counts.get("completed"):
        saved = _saved(client, ended.batch_id, output)
        if saved is not Exit.OK:
            return saved
    if ended.status is not BatchStatus.COMPLETED:
        console.print(f"[red]batch {ended.status}:[/red] {_counted(ended)}")
        return Exit.TASK_FAILED
    return Exit.OK


def _saved(client: Client, batch_id: int, output: Path | None) -> Exit:
    target = output or Path.cwd() / f"batch-{batch_id}"
    with answered(f"reading batch {batch_id} failed"):
        try:
            written = client.download_batch(batch_id, target)
        except OSError as exc:
            console.print(
                f"[red]batch {batch_id} ended, but {cannot('write', exc)}[/red]; "
                f"`rendergate batches download {batch_id} -o DIR` saves its results"
            )
            return Exit.LOCAL_FILE
    console.print(f"saved {len(written)} files in {target}")
    return Exit.OK


def _counted(batch: Batch) -> str:
    return ", ".join(f"{n} {status}" for status, n in batch.counts.items() if n)


@batches_app.command("list")
def list_batches(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """Recent batches, newest first."""
    with Client(server_url(server, config)) as client, answered():
        found = list(itertools.islice(client.list_batches(limit=limit), limit))
    table = Table("name", "type", "status", "progress", "members", "created (UTC)")
    table.columns.insert(0, Column("batch_id", no_wrap=True, min_width=16))
    for each in found:
        created = each.created_at.strftime("%Y-%m-%d %H:%M:%S") if each.created_at else ""
        row = (str(each.batch_id), each.name, each.type, each.status, f"{each.progress}%")
        table.add_row(*row, _counted(each), created)
    Console().print(table)


@batches_app.command()
def show(batch_id: BatchArgument, server: ServerOption = None, config: ConfigOption = None) -> None:
    """One batch as JSON, with its members."""
    with Client(server_url(server, config)) as client, answered():
        found = client.get_batch(batch_id)
    typer.echo(json.dumps(found.raw, indent=2, ensure_ascii=False))


@batches_app.command()
def cancel(
    batch_id: BatchArgument, server: ServerOption = None, config: ConfigOption = None
) -> None:
    """Cancel every unfinished member (exit 2 if the batch ended already)."""
    with Client(server_url(server, config)) as client, answered():
        found = client.cancel_batch(batch_id)
    console.print(f"batch {batch_id} {found.status}: {_counted(found)}")


@batches_app.command()
def retry(
    batch_id: BatchArgument, server: ServerOption = None, config: ConfigOption = None
) -> None:
    """Run the failed and canceled members again (exit 2 while it runs or if none failed)."""
    with Client(server_url(server, config)) as client, answered():
        found = client.retry_batch(batch_id)
    console.print(f"batch {batch_id} {found.status}: {_counted(found)}")


@batches_app.command()
def download(
    batch_id: BatchArgument,
    output: DirectoryOption = None,
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """Save every result the batch has into a directory, named by view, angle and variation
    (view01_front_v1.png, ...); exit 4 while it has none."""
    target = output or Path.cwd() / f"batch-{batch_id}"
    with Client(server_url(server, config)) as client, answered(), local_file("write"):
        written = client.download_batch(batch_id, target)
    for path in written:
        console.print(f"saved {path}")
