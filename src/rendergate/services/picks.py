"""Picks: the completed tasks their owner kept (PUT /tasks/{id}/kept), to download, share or
take further. A mark on the task's row, written as any change is (TaskWriter): its version
goes up and every copy of the task kept in a cache is told, so a read after the mark shows
it (api/finished_cache.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rendergate.domain.errors import InvalidTransition
from rendergate.domain.task import Task
from rendergate.redaction import Redactor
from rendergate.services.writer import TaskWriter
from rendergate.store.base import TaskStore


@dataclass(frozen=True)
class Picking:
    """What marking a task uses: its row and its writes, and the clock."""

    store: TaskStore
    clock: Callable[[], datetime]
    redactor: Redactor


async def mark_kept(
    task_id: int, picking: Picking, *, kept: bool, caller: str | None = None
) -> Task:
    """The task kept (or no longer); another key's is TaskNotFound, one that has not
    completed InvalidTransition. Marking it again changes nothing."""
    store, clock = picking.store, picking.clock
    task = await store.get(task_id, owner=caller)  # another key's: TaskNotFound
    writer = TaskWriter(store, clock, picking.redactor)

    def change(current: Task) -> Task:
        return current.keep(now=clock()) if kept else current.unkeep(now=clock())

    change(task)  # refuses a task that cannot be kept, saying why
    stored = await writer.apply(task_id, change, current=task)
    if stored is None:  # pragma: no cover - a completed task stays completed
        raise InvalidTransition(f"task {task_id} can no longer be kept")
    return stored


def picks_of(members: Sequence[Task]) -> set[int]:
    """The ids of a batch's picks: its kept members, and the steps made from their results
    (an upscale of a kept render), however deep."""
    picked = {task.task_id for task in members if task.kept_at is not None}
    by_parent: dict[int, list[int]] = {}
    for task in members:
        if task.parent is not None:
            by_parent.setdefault(task.parent.task_id, []).append(task.task_id)
    todo = list(picked)
    while todo:
        for child in by_parent.get(todo.pop(), ()):
            if child not in picked:
                picked.add(child)
                todo.append(child)
    return picked
