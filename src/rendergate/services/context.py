"""What the use cases need, wired once by the composition root (bootstrap.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from rendergate.blobs.base import BlobStore
from rendergate.config import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.task import Task
from rendergate.providers.base import Provider
from rendergate.redaction import Redactor
from rendergate.services.cache import FinishedTasks
from rendergate.store.base import TaskStore


class Orchestrator(Protocol):
    """Runs each task's durable workflow; DBOS behind it, nothing of DBOS in front."""

    async def start(self, task: Task) -> None:
        """Queues the task's workflow; starting one that exists already is a no-op."""
        ...


class Fetcher(Protocol):
    """Fetches an input image by URL, safely (see intake.fetch)."""

    async def fetch(self, url: str, *, role: str) -> tuple[bytes, str | None]: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Wakeups:
    """In-process signals that wake a task's tracking loop early (webhooks, cancels)."""

    _events: dict[int, asyncio.Event] = field(default_factory=dict)

    def event_for(self, task_id: int) -> asyncio.Event:
        return self._events.setdefault(task_id, asyncio.Event())

    def wake(self, task_id: int) -> None:
        event = self._events.get(task_id)
        if event is not None:
            event.set()

    def forget(self, task_id: int) -> None:
        self._events.pop(task_id, None)


@dataclass
class Slots:
    """A count of something held at once (large request bodies being read), taken without
    waiting: a caller that finds none free is turned away instead of queued."""

    capacity: int
    in_use: int = 0

    def try_take(self) -> bool:
        if self.in_use >= self.capacity:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use = max(0, self.in_use - 1)


@dataclass
class Services:
    settings: Settings
    store: TaskStore
    blobs: BlobStore
    apps: Mapping[str, AppSpec]
    providers: Mapping[str, Provider]
    orchestrator: Orchestrator | None = None
    fetcher: Fetcher | None = None
    wakeups: Wakeups = field(default_factory=Wakeups)
    finished: FinishedTasks = field(default_factory=FinishedTasks)
    clock: Callable[[], datetime] = utc_now
    redactor: Redactor = field(default_factory=Redactor)  # scrubs secrets from stored errors
    large_bodies: Slots = field(default_factory=lambda: Slots(4))  # api/limits.py
