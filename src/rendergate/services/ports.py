"""The ports the use cases drive besides the stores: the orchestrator that runs each task's
durable workflow, the fetcher of input URLs, and the channel that wakes a tracking loop.
Each is a small Protocol; runtime/ and intake/ hold the adapters, services/absent.py the
null objects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Protocol

from rendergate.domain.task import Task
from rendergate.store.base import AlongWrite


class WorkflowState(StrEnum):
    """What the orchestrator knows of a task's current workflow (for the reconciler)."""

    ABSENT = "absent"  # never queued: a crash between the row and the queue (SQLite)
    LIVE = "live"  # queued, running, or ended as it should
    ERRORED = "errored"  # ended in an error: a replay would only raise it again
    STOPPED = "stopped"  # cancelled in the orchestrator: to be resumed on its queue


class Orchestrator(Protocol):
    """Runs each task's durable workflow; DBOS behind it, nothing of DBOS in front."""

    async def start(self, task: Task) -> None:
        """Queues the task's workflow; starting one that exists already is a no-op."""
        ...

    def queuing(self, task: Task) -> AlongWrite | None:
        """The task's queuing as a write in the transaction that adds its row, where the
        two share a database (PostgreSQL); None where they do not (then `start` after)."""
        ...

    async def states(self, tasks: Sequence[Task]) -> dict[int, WorkflowState]:
        """Each task's workflow state, by task id, asked for all of them at once."""
        ...


class Fetcher(Protocol):
    """Fetches an input image by URL, safely (see intake.fetch)."""

    async def fetch(self, url: str, *, role: str) -> tuple[bytes, str | None]: ...

    async def vet(self, url: str, *, field: str) -> None:
        """Refuses (InvalidInput) a URL we must not connect to, such as a webhook's."""
        ...


class Wake(StrEnum):
    """Why a task's tracking loop is woken before its next poll."""

    WEBHOOK = "webhook"  # the provider called back: ask it now, not from an estimate
    CANCEL = "cancel"  # canceled through the API: stop the job
    RECONNECTED = "reconnected"  # wakes may have been missed while cut off


class WakeChannel(Protocol):
    """Carries a wake from whichever process received the webhook or cancel to the one
    tracking the task: this process (Wakeups), or any (runtime/pg_wakes.py)."""

    async def send(self, task_id: int, reason: Wake) -> None: ...


Waker = Callable[[int, Wake], Awaitable[None]]
"""Wakes a task's tracking loop, in whichever process it runs (Services.wake)."""
