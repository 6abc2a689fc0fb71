"""`rendergate presets`: list, show, create and delete a key's presets (saved looks that
`rendergate submit --preset NAME` applies), on the SDK's Client like the other client
commands (cli/client.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rendergate.cli.client import answered, local_file
from rendergate.cli.common import ConfigOption, ServerOption, console, server_url
from rendergate.cli.reruns import param_changes
from rendergate.client import Client

presets_app = typer.Typer(
    help="Presets: an app, its params and a reference image, saved under a name.",
    no_args_is_help=True,
)
NameArgument = Annotated[str, typer.Argument(help="The preset's name.")]


@presets_app.command("list")
def list_presets(server: ServerOption = None, config: ConfigOption = None) -> None:
    """The key's presets, then the server's built-in ones."""
    with Client(server_url(server, config)) as client, answered():
        found = client.presets()
    table = Table("name", "label", "type", "version", "built-in", "description")
    for preset in found:
        built_in = "yes" if preset.built_in else "no"
        version = str(preset.version)
        table.add_row(preset.name, preset.label, preset.type, version, built_in, preset.description)
    Console().print(table)


@presets_app.command()
def show(name: NameArgument, server: ServerOption = None, config: ConfigOption = None) -> None:
    """One preset as JSON."""
    with Client(server_url(server, config)) as client, answered():
        preset = client.preset(name)
    shown = {
        "name": preset.name,
        "version": preset.version,
        "type": preset.type,
        "params": dict(preset.params),
        "description": preset.description,
        "label": preset.label,
        "reference": preset.reference,
        "built_in": preset.built_in,
        "created_at": preset.created_at.isoformat() if preset.created_at else None,
    }
    typer.echo(json.dumps(shown, indent=2, ensure_ascii=False))


@presets_app.command()
def create(
    name: NameArgument,
    type: Annotated[str, typer.Option("--type", help="The app it runs.")] = "preview",
    param: Annotated[
        list[str] | None, typer.Option(help="key=value for the app (repeatable; JSON values).")
    ] = None,
    reference: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Its reference image.")
    ] = None,
    description: Annotated[str, typer.Option(help="What it is for.")] = "",
    label: Annotated[str, typer.Option(help="Its name on the page (at most 64).")] = "",
    server: ServerOption = None,
    config: ConfigOption = None,
) -> None:
    """Save a preset of the key's (exit 2 if it has one of that name)."""
    params = param_changes(param or [])
    with Client(server_url(server, config)) as client, answered("refused"), local_file("read"):
        made = client.create_preset(
            name,
            type=type,
            params=params,
            reference=reference,
            description=description,
            label=label,
        )
    console.print(f"preset {made.name} version {made.version} ({made.type})")


@presets_app.command()
def delete(name: NameArgument, server: ServerOption = None, config: ConfigOption = None) -> None:
    """Delete every version of the key's preset; tasks made with it keep what they ran with."""
    with Client(server_url(server, config)) as client, answered():
        client.delete_preset(name)
    console.print(f"deleted preset {name}")
