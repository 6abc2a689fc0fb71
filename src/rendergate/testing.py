"""Doubles of rendergate's own ports, shipped beside the real ones (as store/memory.py and
providers/fake.py are), so that every test wires the same ones and asserts on their state:
a clock moved by hand, an orchestrator that records what it was asked to start, and API keys
held in a list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from rendergate.domain.errors import WorkflowErrored
from rendergate.domain.keys import ApiKey
from rendergate.domain.task import Task
from rendergate.services.ports import WorkflowState

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class ManualClock:
    """The services' clock: time that moves only when told to, plus `step` on each reading."""

    now: datetime = T0
    step: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        now, self.now = self.now, self.now + self.step
        return now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class RecordingOrchestrator:
    """An Orchestrator that runs nothing: it keeps the tasks it was asked to start. A task's
    current workflow is live once started; `errored` names tasks whose workflow ended in an
    error (start refuses them, as DBOS would)."""

    started: list[Task] = field(default_factory=list)
    errored: set[int] = field(default_factory=set)

    @property
    def task_ids(self) -> list[int]:
        return [task.task_id for task in self.started]

    @property
    def workflow_ids(self) -> list[str]:
        return [task.workflow_id for task in self.started]

    async def start(self, task: Task) -> None:
        if task.task_id in self.errored:
            raise WorkflowErrored("its workflow ended ERROR; see the server log")
        self.started.append(task)

    def queuing(self, task: Task) -> None:
        return None  # no shared database: the row first, then start()

    async def states(self, tasks: Sequence[Task]) -> dict[int, WorkflowState]:
        return {task.task_id: self._state(task) for task in tasks}

    def _state(self, task: Task) -> WorkflowState:
        if task.task_id in self.errored:
            return WorkflowState.ERRORED
        live = task.workflow_id in self.workflow_ids
        return WorkflowState.LIVE if live else WorkflowState.ABSENT


@dataclass
class KeyList:
    """A KeySource holding its keys in a list, revoked ones too."""

    keys: list[ApiKey] = field(default_factory=list)

    async def all(self) -> list[ApiKey]:
        return list(self.keys)
