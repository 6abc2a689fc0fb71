"""The emulated tasks' lives, driven by loop timers rather than a coroutine per task.

A task holds one of the key's `concurrency` slots while QUEUED (for `queue_s`) and RUNNING
(for `run_s`), then ends SUCCESS or FAILED and frees its slot. A task sent with
usePersonalQueue while every slot is taken waits, still QUEUED, in `waiting` until one
frees. Timers are cheap, so thousands of tasks cost only their records. With the `hold`
knob a task moves only when `advance` says so: a test sees each phase for certain.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from rendergate_emulators.runninghub_model import (
    CANCELED_REASON,
    HubKnobs,
    HubTask,
    TaskEnding,
)

TWITTER_EPOCH_MS = 1288834974657  # snowflake ids from this epoch have 19 digits today


class TaskBook:
    def __init__(self, knobs: HubKnobs, on_finish: Callable[[HubTask], None]) -> None:
        self.knobs = knobs
        self.tasks: dict[str, HubTask] = {}
        self.waiting: deque[str] = deque()
        self.active = 0  # tasks holding a slot
        self.peak_active = 0  # the most that ever held one at once
        self._on_finish = on_finish
        self._last_id = 0
        self._closed = False

    def new_task_id(self) -> str:
        """A snowflake-like id such as RunningHub's "1983070826507472898"."""
        candidate = (int(time.time() * 1000) - TWITTER_EPOCH_MS) << 22
        self._last_id = max(candidate, self._last_id + 1)
        return str(self._last_id)

    @property
    def busy(self) -> bool:
        return self.active >= self.knobs.concurrency

    @property
    def unfinished(self) -> int:
        return self.active + len(self.waiting)

    def add(self, record: HubTask) -> None:
        self.tasks[record.task_id] = record
        if self.busy:
            self.waiting.append(record.task_id)
        else:
            self._take_slot(record)

    def cancel(self, task_id: str) -> bool:
        """Ends an unfinished task as FAILED (reason TaskCanceled); False if already ended."""
        record = self.tasks[task_id]
        if record.status not in ("QUEUED", "RUNNING"):
            return False
        if record.timer is not None:
            record.timer.cancel()
            record.timer = None
        record.held = None
        if record.slotted_mono is None:
            self.waiting.remove(task_id)
            self._end(record, TaskEnding.CANCELED, free_slot=False)
        else:
            self._end(record, TaskEnding.CANCELED, free_slot=True)
        return True

    def advance(self, task_id: str) -> str:
        """With `hold`: moves a task on one phase (QUEUED to RUNNING, RUNNING to its end);
        returns its new status."""
        record = self.tasks[task_id]
        step, record.held = record.held, None
        if step is None:
            raise ValueError(f"task {task_id} is {record.status}, not held in a phase")
        step(task_id)
        return record.status

    def fill_slots(self) -> None:
        """Starts waiting tasks while slots are free (also after `concurrency` grows)."""
        while self.waiting and not self.busy:
            self._take_slot(self.tasks[self.waiting.popleft()])

    def open(self) -> None:
        self._closed = False

    def close(self) -> None:
        """Stops every timer: unfinished tasks stay as they are."""
        self._closed = True
        for record in self.tasks.values():
            if record.timer is not None:
                record.timer.cancel()
                record.timer = None

    def count_by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.tasks.values():
            counts[record.status] = counts.get(record.status, 0) + 1
        return counts

    # -- transitions -----------------------------------------------------------------------

    def _take_slot(self, record: HubTask) -> None:
        self.active += 1
        self.peak_active = max(self.peak_active, self.active)
        record.slotted_mono = time.monotonic()
        self._schedule(record, record.queue_s, self._start)

    def _start(self, task_id: str) -> None:
        record = self.tasks[task_id]
        record.status = "RUNNING"
        record.started_mono, record.started_wall = time.monotonic(), time.time()
        self._schedule(record, record.run_s, self._finish)

    def _finish(self, task_id: str) -> None:
        record = self.tasks[task_id]
        record.timer = None
        self._end(record, record.planned.outcome, free_slot=True)

    def _end(self, record: HubTask, outcome: TaskEnding, *, free_slot: bool) -> None:
        record.outcome = outcome
        record.status = "SUCCESS" if outcome in (TaskEnding.SUCCESS, TaskEnding.EMPTY) else "FAILED"
        record.finished_mono, record.finished_wall = time.monotonic(), time.time()
        if outcome is TaskEnding.CANCELED:
            record.failed_reason = CANCELED_REASON
        elif outcome is TaskEnding.FAILED:
            record.failed_reason = record.planned.failed_reason
        if free_slot:
            self.active -= 1
        self._on_finish(record)
        self.fill_slots()

    def _schedule(self, record: HubTask, delay: float, step: Callable[[str], None]) -> None:
        if self._closed:
            return
        if self.knobs.hold:
            record.held = step
            return
        loop = asyncio.get_running_loop()
        record.timer = loop.call_later(delay, step, record.task_id)
