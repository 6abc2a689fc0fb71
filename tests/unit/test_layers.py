"""The arrows between the package's layers, read from the source: what imports what."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "rendergate"


def modules() -> Iterator[tuple[str, ast.Module]]:
    """Each module of the package, by its path inside it ("delivery/runner.py"), parsed."""
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(), str(path))


def imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_only_the_api_and_the_cli_above_it_import_the_api() -> None:
    """The API is an edge: what it shows (a task's public shape, services/presenting.py) lives
    below it, so the webhook sender does not reach up into it. The CLI serves the app."""
    upward = {
        (module, name)
        for module, tree in modules()
        if not module.startswith(("api/", "cli/"))
        for name in imported(tree)
        if name == "rendergate.api" or name.startswith("rendergate.api.")
    }
    assert upward == set()
