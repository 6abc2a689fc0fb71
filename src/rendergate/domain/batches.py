"""A batch: several views of one model rendered in one look, in one request.

Its members are ordinary tasks, one per view and variation, that share the batch's app,
preset version, params and reference; variation k of a view runs with the batch's seed
plus k. What a batch is at any moment (status, counts, progress) is read from its
members, never stored beside them, so it cannot drift from them. Only its end is stored:
once, when it was told (its webhook), so it is told once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from rendergate.domain.chains import next_step_of
from rendergate.domain.errors import InvalidInput
from rendergate.domain.task import MAX_SAFE_INTEGER, Task, TaskStatus

MAX_VIEWS = 12
MAX_VARIATIONS = 4
MAX_NAME = 200


class BatchStatus(StrEnum):
    SUBMITTED = "submitted"  # no member has started
    PROCESSING = "processing"  # some member has started, some has not finished
    COMPLETED = "completed"  # every member completed
    PARTIAL = "partial"  # every member finished, some completed and some did not
    FAILED = "failed"  # every member finished, none completed
    CANCELED = "canceled"  # canceled by request, every member finished

    @property
    def is_terminal(self) -> bool:
        return self not in (BatchStatus.SUBMITTED, BatchStatus.PROCESSING)


@dataclass(frozen=True, kw_only=True)
class Batch:
    batch_id: int
    owner: str  # the API key's id; "" in open mode
    name: str
    app: str
    preset: str = ""
    preset_version: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    seed: int  # variation k of each view runs with seed + k
    variations: int
    angles: tuple[str, ...]  # one per view, "" where none was given
    then: tuple[Mapping[str, Any], ...] = ()  # the steps run on each member's result
    webhook_url: str = ""
    link_base: str = ""
    canceled_at: datetime | None = None
    ended: BatchStatus | None = None  # the end its webhook told; None until then
    ended_at: datetime | None = None
    created_at: datetime

    @property
    def size(self) -> int:
        """How many members it was made with: each view times each variation."""
        return len(self.angles) * self.variations


def check_variations(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VARIATIONS:
        raise InvalidInput(
            f"variations must be an integer from 1 to {MAX_VARIATIONS}", field="variations"
        )
    return value


def check_view_count(count: int) -> None:
    if not 1 <= count <= MAX_VIEWS:
        raise InvalidInput(
            f"a batch has 1 to {MAX_VIEWS} views (images), not {count}", field="image"
        )


def check_batch_seed(seed: int, variations: int) -> None:
    """The seeds of its variations, seed to seed + variations - 1, must all be seeds."""
    if seed + variations - 1 > MAX_SAFE_INTEGER:
        raise InvalidInput(
            f"seed + variations - 1 must be at most {MAX_SAFE_INTEGER} (2^53-1)", field="seed"
        )


def check_name(name: str) -> str:
    if len(name) > MAX_NAME:
        raise InvalidInput(f"name is over {MAX_NAME} characters", field="name")
    return name


def queue_order(task: Task) -> tuple[datetime, int, int, int]:
    """Where a task stands in our queue: by creation, and among tasks made together (a
    batch's members) in the order they were queued, by view then variation."""
    place = task.member
    view, variation = (place.view, place.variation) if place else (-1, -1)
    return (task.created_at, view, variation, task.task_id)


def current_members(members: Iterable[Task]) -> list[Task]:
    """The members that count: a retry's new member replaces the one it runs again."""
    listed = list(members)
    replaced = {task.rerun_of for task in listed if task.rerun_of is not None}
    return [task for task in listed if task.task_id not in replaced]


@dataclass(frozen=True)
class Summary:
    """A batch as its members make it at one moment."""

    status: BatchStatus
    counts: Mapping[str, int]  # members per task status
    progress: int  # 0 to 100, over every view, variation and step
    members: tuple[Task, ...]  # the current ones, by view, variation and step


def summarize(batch: Batch, members: Sequence[Task]) -> Summary:
    """The batch's status, counts and progress from its members' states; a member that
    completed with a `then` step not yet made holds the batch open (its chain runs on)."""
    current = sorted(current_members(members), key=_order)
    made = {task.task_id for task in members}
    chain_open = sum(
        step is not None and step not in made for step in (next_step_of(t) for t in current)
    )
    counts = {status.value: 0 for status in TaskStatus}
    for task in current:
        counts[task.status.value] += 1
    return Summary(
        status=_status(batch, current, chain_open),
        counts=counts,
        progress=_progress(batch, current),
        members=tuple(current),
    )


def _order(task: Task) -> tuple[int, int, datetime, int]:
    member = task.member
    view, variation = (member.view, member.variation) if member else (0, 0)
    return view, variation, task.created_at, task.task_id


def _status(batch: Batch, current: Sequence[Task], chain_open: int) -> BatchStatus:
    if chain_open or any(not task.status.is_terminal for task in current):
        started = any(task.status is not TaskStatus.SUBMITTED for task in current)
        return BatchStatus.PROCESSING if started else BatchStatus.SUBMITTED
    completed = sum(task.status is TaskStatus.COMPLETED for task in current)
    if batch.canceled_at is not None and completed < len(current):
        return BatchStatus.CANCELED
    if completed == len(current):
        return BatchStatus.COMPLETED
    return BatchStatus.PARTIAL if completed else BatchStatus.FAILED


def _progress(batch: Batch, current: Sequence[Task]) -> int:
    """Each view-variation counts alike, each of its steps (the render, each `then`, each
    step asked for later) alike within it; a step that ended without a result ends its slot."""
    chained = 1 + len(batch.then)
    slots: dict[tuple[int, int], list[Task]] = {}
    for task in current:
        if task.member is not None:
            slots.setdefault((task.member.view, task.member.variation), []).append(task)
    if not slots:
        return 0
    total = 0.0
    for tasks in slots.values():
        ended = any(t.status.is_terminal and t.status is not TaskStatus.COMPLETED for t in tasks)
        done = sum(100 if t.status.is_terminal else t.progress for t in tasks)
        steps = max(chained, len(tasks))
        total += 1.0 if ended else min(done / (100 * steps), 1.0)
    return int(100 * total / len(slots))


ARCHIVE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def archive_name(
    task: Task, angles: Sequence[str], index: int, extension: str, *, step: bool = False
) -> str:
    """A member's result's name in the batch's zip: view, angle, variation, then the app
    of a `then` step (`step`: its parent is a member too), and the output past the first."""
    member = task.member
    view = member.view if member else 0
    angle = angles[view] if view < len(angles) else ""
    slug = ARCHIVE_NAME.sub("-", angle).strip("-")[:40]
    parts = [f"view{view + 1:02d}"]
    if slug:
        parts.append(slug)
    parts.append(f"v{(member.variation if member else 0) + 1}")
    if step:
        parts.append(task.app)
    if index:
        parts.append(f"out{index + 1}")
    return "_".join(parts) + f".{extension}"
