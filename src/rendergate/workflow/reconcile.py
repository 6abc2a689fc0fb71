"""The reconciler: every unfinished task has its workflow, or an end.

Run at start and every minute, by one worker at a time, as one sweep over the set: the
unfinished tasks in one query, their workflows' states in one per batch. It queues the
workflow of a task that has none (on SQLite, a crash between writing the row and queuing
it; on PostgreSQL the two are one transaction), resumes one cancelled in the orchestrator,
and fails two kinds of task that would otherwise wait forever: one whose workflow ended in
an error, and one long past its app's deadline that no worker ended. It also makes the next
step of a completed task's chain that a crash left unmade (chaining.py), found in one query.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from rendergate.blobs.base import BlobStore
from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import WorkflowErrored
from rendergate.domain.task import ErrorKind, Task
from rendergate.providers.base import Provider
from rendergate.redaction import Redactor
from rendergate.services.keys import KeyRing
from rendergate.services.ports import Orchestrator, WorkflowState
from rendergate.services.routing import RunsHere
from rendergate.services.writer import TaskWriter
from rendergate.store.base import TaskStore
from rendergate.workflow.chaining import Chaining, make_next_step
from rendergate.workflow.provider_calls import cancel_upstream

log = structlog.get_logger(__name__)

STALE_SUBMITTED_S = 30.0
DEADLINE_GRACE_S = 60.0  # past the deadline, the worker's own check has had its turn


@dataclass(frozen=True)
class Reconciling:
    """What the sweep uses: the unfinished rows and their writes, the orchestrator that
    knows and queues their workflows, the apps' deadlines, and what runs here."""

    store: TaskStore
    orchestrator: Orchestrator
    apps: Mapping[str, AppSpec]
    providers: Mapping[str, Provider]
    settings: Settings  # why a provider does not run here (RunsHere)
    clock: Callable[[], datetime]
    redactor: Redactor
    blobs: BlobStore  # a chain's next step takes its parent's result as its image
    keys: KeyRing  # and is charged at its key's price


async def reconcile(reconciling: Reconciling, *, min_age_s: float = 0.0) -> int:
    """Makes sure every unfinished task has its workflow; returns how many were (re)queued.
    Queuing is idempotent, so this is safe to repeat. Two kinds are failed instead: a task
    whose workflow ended in an error (a replay would raise it again), and one long past its
    deadline that no worker has ended (its worker is gone for good, or runs another
    version)."""
    orchestrator = reconciling.orchestrator
    now, count = reconciling.clock(), 0
    writer = TaskWriter(reconciling.store, reconciling.clock, reconciling.redactor)
    swept = [
        task
        for task in await reconciling.store.unfinished()
        if (now - task.created_at).total_seconds() >= min_age_s
    ]
    states = await orchestrator.states(swept)  # one question for the whole set
    here = RunsHere(reconciling.providers, reconciling.settings)
    for task in swept:
        if await _past_its_deadline(task, reconciling, writer):
            continue
        state = states[task.task_id]
        if state is WorkflowState.LIVE or not here.runs(task.provider):
            continue
        try:
            if state is WorkflowState.ERRORED:
                raise WorkflowErrored("its workflow ended in an error; see the server log")
            await orchestrator.start(task)
        except WorkflowErrored as exc:
            message = f"internal error: {exc.message}"
            await writer.fail(task.task_id, message, ErrorKind.INTERNAL)
            continue
        count += 1
    return count + await _make_unmade_steps(reconciling, min_age_s=min_age_s)


async def _make_unmade_steps(reconciling: Reconciling, *, min_age_s: float) -> int:
    """Makes and queues the next step of each completed chained task finished `min_age_s`
    ago or more whose step's task is not written (its workflow's finish step makes it at
    once; a crash may have cut that short); returns how many."""
    store, orchestrator = reconciling.store, reconciling.orchestrator
    chaining = Chaining(
        settings=reconciling.settings,
        apps=reconciling.apps,
        providers=reconciling.providers,
        store=store,
        blobs=reconciling.blobs,
        clock=reconciling.clock,
        keys=reconciling.keys,
    )
    before = reconciling.clock() - timedelta(seconds=min_age_s)
    count = 0
    for parent in await store.unmade_steps(finished_before=before):
        try:
            child = await make_next_step(parent, chaining)
            if child is not None and not child.status.is_terminal:
                await orchestrator.start(child)
        except Exception:  # one step that cannot be made now must not hold up the others
            log.exception("making a chain step failed; next sweep", task_id=parent.task_id)
            continue
        count += 1
    return count


async def _past_its_deadline(task: Task, reconciling: Reconciling, writer: TaskWriter) -> bool:
    """Fails (and cancels upstream) a task DEADLINE_GRACE_S past its app's deadline."""
    app = reconciling.apps.get(task.app)
    if app is None:
        return False
    deadline = app.deadline(task.created_at, task.deadline_s)
    overdue = reconciling.clock() - deadline.at
    if overdue.total_seconds() < DEADLINE_GRACE_S:
        return False
    if task.provider_job is not None:
        await cancel_upstream(reconciling.providers.get(task.provider), task.provider_job)
    await writer.fail(task.task_id, deadline.message(app), ErrorKind.TIMEOUT)
    return True
