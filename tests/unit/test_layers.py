"""The arrows between the package's layers, read from the source; and the Services container
unpacked, by the edges alone, into what each use case takes."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from obstore.store import MemoryStore

from rendergate.blobs.objects import ObjectBlobStore
from rendergate.config.settings import Settings
from rendergate.delivery.push import Replaying
from rendergate.delivery.runner import Delivering
from rendergate.services.context import Services
from rendergate.services.creating import Creating
from rendergate.services.idempotency import CreatingOnce
from rendergate.services.retention import Pruning
from rendergate.services.tasks import Cancelling
from rendergate.store.memory import MemoryTaskStore
from rendergate.workflow.execution import Running
from rendergate.workflow.reconcile import Reconciling

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


EDGES = ("api/deps.py", "api/routes/", "runtime/", "cli/", "services/context.py")


def holds_services(tree: ast.Module) -> bool:
    """Whether an annotation in the module names the Services container."""
    annotations = [
        node.annotation
        for node in ast.walk(tree)
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None
    ]
    return any(
        isinstance(name, ast.Name) and name.id == "Services"
        for annotation in annotations
        for name in ast.walk(annotation)
    )


def test_each_use_case_takes_what_it_uses_and_only_the_edges_hold_the_container() -> None:
    """The container is the composition root's product (runtime/bootstrap.py): the edges
    (routes, the worker, the CLI) unpack it, and every use case below them takes its parts."""
    holding = {module for module, tree in modules() if holds_services(tree)}
    assert {module for module in holding if not module.startswith(EDGES)} == set()


USE_CASES = [Cancelling, Creating, Reconciling, Running]  # each takes parts of the same names
GIVEN = [  # and these a setting, or a view of a part, besides
    (CreatingOnce, lambda s: {"creating": s.unpack(Creating)}),
    (Pruning, lambda s: {"retention_days": 3.0}),
    (Replaying, lambda s: {"max_replays_per_key": 2}),
    (Delivering, lambda s: {"rows": s.deliveries}),
]


@pytest.mark.parametrize(("use_case", "given"), [*((u, lambda s: {}) for u in USE_CASES), *GIVEN])
def test_the_edges_unpack_each_use_case_s_parts_from_the_container(
    settings: Settings, use_case: type[Any], given: Callable[[Services], dict[str, Any]]
) -> None:
    services = Services(
        settings=settings,
        store=MemoryTaskStore(),
        blobs=ObjectBlobStore(MemoryStore()),
        apps={},
        providers={},
    )
    values = given(services)
    parts = services.unpack(use_case, **values)
    for field in dataclasses.fields(parts):
        expected = values[field.name] if field.name in values else getattr(services, field.name)
        assert getattr(parts, field.name) == expected, field.name
    if values:  # what the container does not hold must be given
        with pytest.raises(TypeError, match=f"give {use_case.__name__} its"):
            services.unpack(use_case)
    with pytest.raises(TypeError, match=f"{use_case.__name__} takes no nothing"):
        services.unpack(use_case, nothing=1, **values)
