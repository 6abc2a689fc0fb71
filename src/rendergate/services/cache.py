"""A bounded cache of finished tasks, kept until a change to one is heard.

A completed, failed or canceled task changes little, but it does change: retention removes
its files, a cancel adds a note. Every write is told to `Changes` (services/changes.py) by
this process's store or, on PostgreSQL, by any process's NOTIFY; it makes this cache forget
the task, and the next read goes to the store. Status polls of finished tasks skip the
database meanwhile.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator

from rendergate.domain.task import Task
from rendergate.lru import Lru


class RacedReads:
    """The tasks being read now, and whether a change to one was heard during a read:
    what that read returned may then be the version before, and must not be kept. Each
    read is judged on its own, so a task read without pause (polls that overlap) is still
    kept by the reads begun after its last change."""

    def __init__(self) -> None:
        self._tick = 0  # counts the changes heard
        self._reading: dict[int, int] = {}  # ids being read from the store: how many reads
        self._changed_at: dict[int, int] = {}  # of those, the tick of the last change heard

    @contextlib.contextmanager
    def reading(self, task_id: int) -> Iterator[Callable[[], bool]]:
        """Around a read; the callable says whether no change was heard since it began."""
        self._reading[task_id] = self._reading.get(task_id, 0) + 1
        began = self._tick
        try:
            yield lambda: self._changed_at.get(task_id, began) <= began
        finally:
            self._reading[task_id] -= 1
            if not self._reading[task_id]:
                del self._reading[task_id]
                self._changed_at.pop(task_id, None)

    def changed(self, task_id: int) -> None:
        self._tick += 1
        if task_id in self._reading:
            self._changed_at[task_id] = self._tick

    def all_changed(self) -> None:
        self._tick += 1
        for task_id in self._reading:
            self._changed_at[task_id] = self._tick


class FinishedTasks:
    """Finished tasks by id; unfinished ones are never kept, since they still change."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._tasks: Lru[int, Task] = Lru(capacity)
        self._reads = RacedReads()

    def get(self, task_id: int) -> Task | None:
        return self._tasks.get(task_id)

    async def load(self, task_id: int, read: Callable[[int], Awaitable[Task]]) -> Task:
        """`read(task_id)`'s task, kept if finished, unless a change to it was heard during
        the read: the read may have returned the version before it."""
        with self._reads.reading(task_id) as unchanged:
            task = await read(task_id)
            if task.status.is_terminal and unchanged():
                self._tasks.put(task_id, task)
            return task

    def forget(self, task_id: int) -> None:
        """The task changed: the next read goes to the store."""
        self._tasks.discard(task_id)
        self._reads.changed(task_id)

    def forget_all(self) -> None:
        """Anything may have changed (changes were missed while a listener reconnected)."""
        self._tasks.clear()
        self._reads.all_changed()
