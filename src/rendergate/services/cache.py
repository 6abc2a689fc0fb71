"""A bounded cache of finished tasks.

A completed, failed or canceled task never changes again, so any process may keep it
without invalidation; status polls of finished tasks then skip the database.
"""

from __future__ import annotations

from rendergate.domain.task import Task
from rendergate.lru import Lru


class FinishedTasks(Lru[int, Task]):
    """Finished tasks by id; unfinished ones are refused, since they still change."""

    def remember(self, task: Task) -> None:
        if task.status.is_terminal:
            self.put(task.task_id, task)
