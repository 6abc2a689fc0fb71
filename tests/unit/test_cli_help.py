"""`rendergate --help` and each command's: a paragraph of a docstring is one flowing
paragraph on screen, wherever the source broke its lines."""

from __future__ import annotations

import inspect

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from rendergate.cli.main import app

WIDE = 400  # room for any paragraph on one line


def help_of(*command: str) -> list[str]:
    done = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": str(WIDE)})
    assert done.exit_code == 0, done.output
    return done.output.splitlines()


def paragraphs(text: str | None) -> list[str]:
    """Each paragraph as one line, as shown (markdown's backticks are not)."""
    cleaned = inspect.cleandoc(text or "").replace("`", "")
    return [" ".join(p.split()) for p in cleaned.split("\n\n")]


def commands(group: TyperGroup, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of the group and of every command under it."""
    found = [path]
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            found += commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


ROOT = typer.main.get_command(app)
assert isinstance(ROOT, TyperGroup)


def command_at(path: tuple[str, ...]) -> typer.core.TyperCommand | TyperGroup:
    found: typer.core.TyperCommand | TyperGroup = ROOT
    for name in path:
        assert isinstance(found, TyperGroup)
        found = found.commands[name]  # type: ignore[assignment]
    return found


@pytest.mark.parametrize("path", commands(ROOT), ids=lambda p: " ".join(p) or "rendergate")
def test_each_paragraph_of_a_help_is_one_line(path: tuple[str, ...]) -> None:
    command = command_at(path)
    shown = help_of(*path)
    for paragraph in paragraphs(command.help):
        assert any(paragraph in line for line in shown), (paragraph, shown)
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            summary = paragraphs(sub.help)[0]
            assert any(name in line and summary in line for line in shown), (summary, shown)


def test_option_help_keeps_its_brackets() -> None:
    shown = "\n".join(help_of("serve"))
    assert "Listen address [default: 127.0.0.1]" in shown
    assert "Listen port [default: 8000]" in shown
