"""Retention: finished tasks' inputs and results removed after their age, the task's row
kept with the time its files went (GET then says so).

Each app keeps its files `retention_days` (the apps file), else RENDERGATE_RETENTION_DAYS;
with neither, forever. A worker prunes every PRUNE_EVERY_S, one worker of the cluster at a
time (the same turn as the reconcile sweep), in batches of BATCH tasks and at most
MAX_BATCHES a round. Each task's blobs (and their thumbnails) are deleted before its row
says so, and deleting a blob that is gone is no error: a round cut short by a crash is
finished by the next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from rendergate.blobs.base import BlobStore
from rendergate.domain.apps import AppSpec
from rendergate.domain.task import Task
from rendergate.redaction import Redactor
from rendergate.services.thumbnails import thumbnail_keys
from rendergate.services.writer import TaskWriter
from rendergate.store.base import TaskStore

log = structlog.get_logger(__name__)

Turn = Callable[[], contextlib.AbstractAsyncContextManager[bool]]
"""This worker's turn among the cluster's (True: its turn), taken anew each round."""

PRUNE_EVERY_S = 3600.0
BATCH = 200
MAX_BATCHES = 50
DRY_RUN_LIMIT = 10_000


@dataclass(frozen=True)
class Rule:
    """Tasks finished before `before`, of the apps `only` names (None: any) but `besides`."""

    before: datetime
    only: tuple[str, ...] | None = None
    besides: tuple[str, ...] = ()


@dataclass
class Pruned:
    tasks: list[Task] = field(default_factory=list)

    @property
    def result_bytes(self) -> int:
        return sum(o.size for t in self.tasks for o in t.outputs)


@dataclass(frozen=True)
class Pruning:
    """What retention uses: the apps' and the default's days (RENDERGATE_RETENTION_DAYS),
    the rows, the storage of their files, and the clock."""

    store: TaskStore
    blobs: BlobStore
    apps: Mapping[str, AppSpec]
    retention_days: float | None
    clock: Callable[[], datetime]
    redactor: Redactor


def rules(pruning: Pruning, now: datetime) -> list[Rule]:
    """What retention applies: one rule per app with its own days, one for the rest."""
    own = {
        name: app.retention_days
        for name, app in pruning.apps.items()
        if app.retention_days is not None
    }
    found = [Rule(now - timedelta(days=days), only=(name,)) for name, days in own.items()]
    if pruning.retention_days is not None:
        before = now - timedelta(days=pruning.retention_days)
        found.append(Rule(before, besides=tuple(sorted(own))))
    return found


async def due(store: TaskStore, rule: Rule, *, limit: int) -> list[Task]:
    return await store.expiring(rule.before, only=rule.only, besides=rule.besides, limit=limit)


async def prune(pruning: Pruning, *, dry_run: bool = False) -> Pruned:
    """One round: removes (or, dry, lists) what retention says has gone."""
    pruned, store = Pruned(), pruning.store
    now = pruning.clock()
    writer = TaskWriter(store, pruning.clock, pruning.redactor)
    for rule in rules(pruning, now):
        if dry_run:
            pruned.tasks += await due(store, rule, limit=DRY_RUN_LIMIT)
            continue
        for _ in range(MAX_BATCHES):
            batch = await due(store, rule, limit=BATCH)
            for task in batch:
                await _expire(pruning.blobs, writer, task)
            pruned.tasks += batch
            if len(batch) < BATCH:
                break
    if pruned.tasks and not dry_run:
        log.info("files expired", tasks=len(pruned.tasks), result_bytes=pruned.result_bytes)
    return pruned


async def _expire(blobs: BlobStore, writer: TaskWriter, task: Task) -> None:
    keys: Sequence[str] = [
        *(ref.key for ref in task.inputs.values()),
        *(output.key for output in task.outputs),
    ]
    for key in keys:
        await blobs.delete(key)
    await asyncio.gather(*(blobs.delete(key) for key in thumbnail_keys(task)))  # made or not
    await writer.apply(task.task_id, lambda t: t.expire_files(now=writer.clock()))


def configured(pruning: Pruning) -> bool:
    return bool(rules(pruning, pruning.clock()))


async def keep_pruning(pruning: Pruning, turn: Turn) -> None:
    """Prunes every PRUNE_EVERY_S while this worker runs, in the cluster's turn."""
    while True:
        await asyncio.sleep(PRUNE_EVERY_S)
        try:
            async with turn() as mine:
                if mine:
                    await prune(pruning)
        except Exception:  # a database hiccup must not end the loop
            log.exception("pruning failed")
