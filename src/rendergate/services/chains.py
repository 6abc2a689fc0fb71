"""A create's `then` checked against the apps this server runs, before anything is stored;
workflow/chaining.py makes each step a task once the one before it completes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

from rendergate.domain.apps import AppSpec
from rendergate.domain.chains import MAX_STEPS, ThenStep, next_step_of
from rendergate.domain.errors import InvalidInput, TaskNotFound, UnknownApp
from rendergate.domain.task import Task, TaskStatus
from rendergate.domain.values import check_value
from rendergate.providers import registry
from rendergate.services.routing import RunsHere, refuse_undeclared
from rendergate.store.base import TaskStore


def checked_then(
    steps: tuple[ThenStep, ...], here: RunsHere, apps: Mapping[str, AppSpec]
) -> tuple[ThenStep, ...]:
    """Each step runnable here, with its params checked and its app's defaults filled in;
    InvalidInput naming the step (`then.0.type`, `then.1.params.scale`) otherwise."""
    return tuple(_checked_step(f"then.{i}", step, here, apps) for i, step in enumerate(steps))


def _checked_step(
    where: str, step: ThenStep, here: RunsHere, apps: Mapping[str, AppSpec]
) -> ThenStep:
    with _at(where):
        return checked_step(step, here, apps)


def checked_step(step: ThenStep, here: RunsHere, apps: Mapping[str, AppSpec]) -> ThenStep:
    """One step runnable here, its params checked and defaults filled in; InvalidInput
    naming the field (`type`, `params.scale`) otherwise."""
    app = apps.get(step.app)
    if app is None:
        known = ", ".join(sorted(apps))
        raise UnknownApp(f"unknown type {step.app!r}; known types: {known}", field="type")
    provider, _ = here.first_route(app)
    if app.requires_reference:
        raise InvalidInput(
            f"app {app.name!r} needs a reference image, and a step takes only the result before it",
            field="type",
        )
    check_value(dict(step.params), what="params", field="params")
    params = app.checked_params(step.params)
    refuse_undeclared(app, params, here.settings)
    registry(here.settings)[provider].check_params(params)
    return ThenStep(app=app.name, params=params)


@contextlib.contextmanager
def _at(where: str) -> Iterator[None]:
    """A step's refusal, placed: its field and message prefixed with the step's place."""
    try:
        yield
    except InvalidInput as exc:
        field = f"{where}.{exc.field}" if exc.field else where
        raise InvalidInput(f"{where}: {exc.message}", field=field) from None


async def children_of(tasks: Sequence[Task], store: TaskStore) -> dict[int, list[int]]:
    """Each task's children, in one query; only a completed task has a result to take."""
    completed = [task.task_id for task in tasks if task.status is TaskStatus.COMPLETED]
    return await store.children(completed) if completed else {}


async def chain_of(task: Task, store: TaskStore) -> tuple[Task, ...]:
    """`task` and the tasks of the `then` steps made after it so far, in order: what a
    chain's cost adds up."""
    chain, current = [task], task
    for _ in range(MAX_STEPS):
        step = next_step_of(current)
        if step is None:
            break
        try:
            current = await store.get(step)
        except TaskNotFound:  # not made yet
            break
        chain.append(current)
    return tuple(chain)
