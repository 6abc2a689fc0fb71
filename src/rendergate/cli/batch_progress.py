"""`rendergate batch --wait`'s display: one line per view. On a terminal, a live progress bar
per view; elsewhere (a log, a pipe), one plain line per view as it ends, so that a log reads
as well as a screen."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from rendergate.cli.common import console
from rendergate.client import Batch, Task, TaskStatus
from rendergate.client.signals import signals_to_main


@dataclass
class ViewState:
    """What the members of one view have done: each member's status and progress."""

    label: str
    variations: int
    members: dict[int, Task] = field(default_factory=dict)
    told: bool = False

    @property
    def progress(self) -> float:
        done = sum(t.progress for t in self.members.values())
        return done / max(len(self.members), self.variations)

    @property
    def ended(self) -> bool:
        """Every member finished, and every `then` step of a completed one made too."""
        finished = [t for t in self.members.values() if t.status.is_terminal]
        return len(finished) == len(self.members) >= self.variations and not any(
            self._step_to_come(t) for t in finished
        )

    def _step_to_come(self, task: Task) -> bool:
        done = task.status is TaskStatus.COMPLETED
        return done and bool(task.then) and not any(c in self.members for c in task.children)

    def line(self) -> str:
        """`view 1 front: 2/2 completed` (then any other end: `, 1 failed`)."""
        counts: dict[str, int] = {}
        for task in self.members.values():
            if task.status.is_terminal:
                counts[task.status.value] = counts.get(task.status.value, 0) + 1
        total = max(len(self.members), self.variations)
        said = [f"{counts.pop('completed', 0)}/{total} completed"]
        said += [f"{n} {status}" for status, n in sorted(counts.items())]
        return f"{self.label}: {', '.join(said)}"


class ViewLines:
    """The batch's views, told as their members change."""

    def __init__(self, batch: Batch) -> None:
        angles = {v.view: v.angle for v in batch.views}
        count = max([*angles, *(t.view or 0 for t in batch.tasks)], default=0) + 1
        self.views = [
            ViewState(f"view {i + 1} {angles.get(i, '')}".rstrip(), batch.variations)
            for i in range(count)
        ]
        self._bar: Progress | None = None
        self._rows: list[TaskID] = []

    @contextlib.contextmanager
    def shown(self) -> Iterator[ViewLines]:
        """Live bars on a terminal, else nothing until a view ends; every view is told by
        the end."""
        if console.is_terminal:
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeElapsedColumn(),
            )
            self._bar = Progress(*columns, console=console, transient=False)
            self._rows = [self._bar.add_task(v.label, total=100) for v in self.views]
            with signals_to_main():  # its refresh thread must not swallow a ^C
                self._bar.start()
        try:
            yield self
        finally:
            if self._bar is not None:
                self._bar.stop()
            for view in self.views:
                self._tell(view)

    def update(self, task: Task) -> None:
        """A member's new state (wait_batch's on_progress)."""
        if task.view is None or not 0 <= task.view < len(self.views):
            return
        view = self.views[task.view]
        view.members[task.task_id] = task
        if self._bar is not None:
            row = self._rows[task.view]
            self._bar.update(row, completed=view.progress, description=view.line())
        elif view.ended:
            self._tell(view)

    def _tell(self, view: ViewState) -> None:
        if self._bar is None and not view.told:
            console.print(view.line())
        view.told = True
