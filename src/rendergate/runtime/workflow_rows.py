"""DBOS's workflow rows, asked about in bulk or written in another's transaction.

The reconciler's sweep asks for the states of every unfinished task's workflow at once
(one query per batch, not one call per task). On PostgreSQL a new task's workflow row is
inserted in the transaction that inserts the task's row (`queuing_write`), so neither
exists without the other; its place in the queue's order (fair_order.py) is read in that
transaction too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import sqlalchemy as sa
from dbos import DBOSClient, EnqueueOptions, WorkflowStatus

from rendergate import __version__
from rendergate.domain.task import Task
from rendergate.runtime.fair_order import Placement, label_of, placement
from rendergate.services.ports import WorkflowState
from rendergate.store.base import AlongWrite

WORKFLOW_NAME = "rendergate.run"  # a task's whole run, one step (dbos_runtime.py)
LEGACY_WORKFLOW_NAME = "rendergate.run_task"  # a step each, as before 0.2 (dbos_legacy.py)
ERRORED = {"ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}  # a replay would raise the same again
BATCH = 500  # workflow ids per query

ListWorkflows = Callable[..., Awaitable[list[WorkflowStatus]]]


def queue_name(provider: str) -> str:
    return f"provider:{provider}"


def enqueue_options(task: Task, place: Placement) -> EnqueueOptions:
    options: EnqueueOptions = {
        "queue_name": queue_name(task.provider),
        "workflow_name": WORKFLOW_NAME,
        "workflow_id": task.workflow_id,
        "app_version": __version__,
        "priority": place.priority,
    }
    if place.label is not None:
        options["queue_partition_key"] = place.label
    return options


def queuing_write(client: DBOSClient, task: Task) -> AlongWrite:
    """The task's workflow, queued by a write on the caller's connection (its transaction
    commits or rolls back both)."""

    def write(connection: Any) -> None:
        assert isinstance(connection, sa.Connection)
        place = placement(connection, queue_name(task.provider), label_of(task.owner))
        client.enqueue_in_transaction(connection, enqueue_options(task, place), task.task_id)

    return write


def state_of(status: str | None) -> WorkflowState:
    if status is None:
        return WorkflowState.ABSENT
    if status in ERRORED:
        return WorkflowState.ERRORED
    if status == "CANCELLED":
        return WorkflowState.STOPPED
    return WorkflowState.LIVE


async def workflow_states(
    list_workflows: ListWorkflows, tasks: Sequence[Task]
) -> dict[int, WorkflowState]:
    """Each task's current workflow state, BATCH workflow ids per query."""
    found: dict[str, str] = {}
    ids = [task.workflow_id for task in tasks]
    for start in range(0, len(ids), BATCH):
        rows = await list_workflows(
            workflow_ids=ids[start : start + BATCH], load_input=False, load_output=False
        )
        found.update((row.workflow_id, row.status) for row in rows)
    return {task.task_id: state_of(found.get(task.workflow_id)) for task in tasks}
