"""Writes to tasks: a transition applied with compare-and-set, retried on a conflict.

Text from outside (a provider's error, a reason to skip it) is stored only through `fail`
and `fall_back`, which scrub it of the settings' secrets first: upstream replies may echo
our request, API key included."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from rendergate.domain.errors import InvalidTransition
from rendergate.domain.task import ErrorKind, Task
from rendergate.redaction import Redactor
from rendergate.store.base import TaskStore

log = structlog.get_logger(__name__)

MAX_CONFLICTS = 20


@dataclass(frozen=True)
class TaskWriter:
    store: TaskStore
    clock: Callable[[], datetime]
    redactor: Redactor

    async def read(self, task_id: int) -> Task:
        """The task, as a step begins: its log lines from here on name it, its provider
        and the provider's job id (bound to this workflow's context)."""
        task = await self.store.get(task_id)
        structlog.contextvars.bind_contextvars(
            task_id=task.task_id, provider=task.provider, provider_job_id=task.provider_job_id
        )
        return task

    async def apply(
        self, task_id: int, change: Callable[[Task], Task], *, current: Task | None = None
    ) -> Task | None:
        """The task after `change`, or None when its state no longer allows it. Another
        writer's save in between makes us read again and retry (optimistic locking).
        `current`: the task as the caller last read or wrote it, tried first (a read
        saved); a change since then costs the read after all."""
        for _ in range(MAX_CONFLICTS):
            hinted = current is not None
            if current is None:
                current = await self.store.get(task_id)
            try:
                new = change(current)
            except InvalidTransition:
                new = None
            if new is None or new == current:
                if hinted:  # decided on the caller's copy: decide again on the row
                    current = None
                    continue
                return None if new is None else current
            stored = await self.store.save(current, new)
            if stored is not None:
                return stored
            current = None
        raise RuntimeError(f"task {task_id}: too many concurrent writes")

    async def fail(
        self,
        task_id: int,
        message: str,
        kind: ErrorKind,
        cost: Mapping[str, Any] | None = None,
    ) -> Task | None:
        """Fails the task; `cost`: what its provider reported billing for the failed job."""
        message = self.redactor.scrub(message)
        log.info("task failed", task_id=task_id, reason=message)
        return await self.apply(
            task_id, lambda t: t.fail(now=self.clock(), message=message, kind=kind, cost=cost)
        )

    async def fall_back(self, task_id: int, to: str, reason: str) -> Task | None:
        """The task handed to route `to`, recording why its provider was passed over."""
        reason = self.redactor.scrub(reason)
        return await self.apply(
            task_id, lambda t: t.fall_back(now=self.clock(), to=to, reason=reason)
        )
