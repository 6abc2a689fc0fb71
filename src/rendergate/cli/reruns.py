"""`rendergate rerun`: a task run again from its stored inputs, with other params, type or
seed, on the SDK's Client like the other client commands (cli/client.py)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import typer

from rendergate.cli.client import OutputOption, TimeoutOption, WaitOption, answered, told
from rendergate.cli.common import ConfigOption, Exit, ServerOption, console, server_url
from rendergate.client import Client

app = typer.Typer()


def param_changes(pairs: list[str]) -> dict[str, Any]:
    """`--param key=value`s: each value as JSON where it is JSON (0.9, true, null, "text",
    {...}), else as the text itself; null removes the key from the original's params."""
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key.strip():
            console.print(f"[red]refused:[/red] --param takes key=value, not {pair!r}")
            raise typer.Exit(Exit.REFUSED)
        try:
            changes[key.strip()] = json.loads(text)
        except ValueError:
            changes[key.strip()] = text
    return changes


def seed_of(text: str | None) -> int | Literal["random"] | None:
    """`--seed`: an integer, or `random` for a new one the server picks."""
    if text is None:
        return None
    if text == "random":
        return "random"
    if not (text.isascii() and text.isdigit()):
        console.print(f"[red]refused:[/red] --seed must be an integer or random, not {text!r}")
        raise typer.Exit(Exit.REFUSED)
    return int(text)


@app.command()
def rerun(
    task_id: Annotated[int, typer.Argument(help="The task to run again.")],
    param: Annotated[
        list[str] | None,
        typer.Option(help="key=value over the original's params (repeatable; null removes)."),
    ] = None,
    type: Annotated[str | None, typer.Option("--type", help="Another app to run.")] = None,
    seed: Annotated[
        str | None, typer.Option(help="Another seed, or random (default: the original's).")
    ] = None,
    wait: WaitOption = False,
    output: OutputOption = None,
    timeout: TimeoutOption = 3600.0,
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """Run a task again from its stored images, as a new task (default result file with
    --wait: `<ID>.<new task_id>.png` here)."""
    changes, chosen = param_changes(param or []), seed_of(seed)
    with Client(server_url(server, config)) as client:
        with answered("refused"):
            task = client.rerun(task_id, type=type, params=changes or None, seed=chosen)
        said = f"task {task.task_id} {task.status}: task {task_id} again, seed {task.seed}"
        done = told(client, task, said, (str(task_id), output, timeout) if wait else None)
    raise typer.Exit(done)
