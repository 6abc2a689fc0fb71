"""Each task as a DBOS workflow on a queue per provider: the workflow and its steps.

DBOS registers workflows by decorator, so the workflow functions live at module
level; the runner they call and the queues they enqueue on are installed by
`DbosOrchestrator.open()` (dbos_orchestrator.py) and removed by `close()`. Nothing runs
at import time.

A task's whole run is one step (TaskRunner.run): the task's row says how far it got, so
checkpoints between submit, track and collect bought nothing a re-run does not already do,
and each cost two system-database writes. A task that falls back to another route gets a
new workflow (`task-<id>.<skips>`) on that provider's queue, enqueued by the workflow it
leaves: DBOS records the enqueue as a step of the old workflow, so a replay after a crash
finds it instead of enqueuing again. Workflows an earlier version queued, with a step
each, run as they were recorded (dbos_legacy.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar

import structlog
from dbos import DBOS, Queue, SetWorkflowID

from rendergate.domain.errors import RendergateError
from rendergate.domain.task import ErrorKind
from rendergate.domain.values import clean_text
from rendergate.runtime.fair_order import FairOrder
from rendergate.runtime.step_codec import ran_from_json, ran_to_json
from rendergate.runtime.workflow_rows import WORKFLOW_NAME, queue_name
from rendergate.workflow.execution import TaskRunner
from rendergate.workflow.outcomes import Made, Moved, RunEnd

log = structlog.get_logger(__name__)
T = TypeVar("T")

_runner: TaskRunner | None = None
_queues: Mapping[str, Queue] = {}  # provider -> its queue, while a worker is open
_order: FairOrder | None = None  # a moved task's place in its next queue


def install_runner(runner: TaskRunner) -> None:
    """The runner this process's workflows call, before DBOS launches (and recovers any)."""
    global _runner
    if _runner is not None:
        raise RuntimeError("a DBOS worker is already running in this process")
    _runner = runner


def install_queues(queues: Mapping[str, Queue], order: FairOrder) -> None:
    """The queues a moved task's next workflow goes on, once registered, and its order."""
    global _queues, _order
    _queues, _order = queues, order


def uninstall() -> None:
    global _runner, _queues, _order
    _runner, _queues, _order = None, {}, None


def installed_order() -> FairOrder:
    if _order is None:
        raise RuntimeError("no queues installed: DbosOrchestrator.open() was not called")
    return _order


def active_runner() -> TaskRunner:
    if _runner is None:
        raise RuntimeError("no TaskRunner installed: DbosOrchestrator.open() was not called")
    return _runner


async def slots_in_use(provider: str) -> int:
    """The provider queue's workflows past their dequeue: its cap bounds them, and each
    may have one job at the provider (SubmitStep's check after an unanswered submit)."""
    running = await DBOS.list_workflows_async(
        queue_name=queue_name(provider), status="PENDING", load_input=False, load_output=False
    )
    return len(running)


async def queue_for(provider: str, timeout_s: float = 30.0) -> Queue:
    """The provider's queue. A workflow that DBOS recovers at launch may get here before
    open() has registered the queues: it waits for them (bounded) instead of failing."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (queue := _queues.get(provider)) is None:
        if asyncio.get_running_loop().time() >= deadline:
            raise RuntimeError(f"no DBOS queue for provider {provider!r}")
        await asyncio.sleep(0.05)
    return queue


class StepFailed(RendergateError):
    """A step's unexpected error as DBOS records it: the error's type and a scrubbed, short
    message. The original may hold secrets (a UnicodeEncodeError carries the whole request
    body it failed on, API key included), and DBOS pickles errors into its database."""

    def __init__(self, message: str, *, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


async def contained(task_id: int, step: Awaitable[T]) -> T:
    try:
        return await step
    except Exception as exc:
        log.error("task step failed", task_id=task_id, exc_info=exc)  # scrubbed, bounded
        detail = active_runner().redactor.scrub(clean_text(str(exc), 200))
        kind = type(exc).__name__
        raise StepFailed(f"{kind}: {detail}" if detail else kind, kind=kind) from None


# The steps as DBOS records them: JSON in and out (step_codec.py), typed values inside.


@DBOS.step(name="rendergate.run")
async def _run_step(task_id: int, workflow_id: str | None) -> dict[str, Any]:
    return ran_to_json(await contained(task_id, active_runner().run(task_id, workflow_id)))


@DBOS.step(name="rendergate.fail_internal")
async def internal_error_step(task_id: int, error: str) -> None:
    message = f"internal error while running the task ({error}); see the server log"
    await active_runner().fail(task_id, message, ErrorKind.INTERNAL)


@DBOS.workflow(name=WORKFLOW_NAME)
async def run_task(task_id: int) -> RunEnd:
    """The task's run as one step (TaskRunner.run: submit, track, collect, finish), then
    the workflows it sets going: a moved task's next route, a chain's next step. Each is
    enqueued as a step of this workflow, so a replay finds it rather than enqueuing again.

    A bug or an unexpected error fails the task with a message instead of leaving it stuck.
    """
    with active_runner().in_flight(task_id):
        try:
            ran = ran_from_json(await _run_step(task_id, DBOS.workflow_id))
        except Exception as exc:
            kind = exc.kind if isinstance(exc, StepFailed) else type(exc).__name__
            log.error("task workflow failed", task_id=task_id, error=kind)
            await internal_error_step(task_id, kind)
            return RunEnd.FINISHED
        if ran.moved is not None:
            await enqueue_moved(task_id, ran.moved)
        else:
            await enqueue_made(task_id, ran.made)
        return ran.end


async def enqueue_moved(task_id: int, moved: Moved) -> None:
    """The task's own workflow on its next provider's queue, in its key's next round there
    (fair_order.py, read outside DBOS: no step of its own)."""
    queue = await queue_for(moved.provider)
    place = await installed_order().following(queue.name, DBOS.workflow_id or "")
    with SetWorkflowID(moved.workflow_id), place.enqueuing():
        await queue.enqueue_async(run_task, task_id)


async def enqueue_made(task_id: int, made: Sequence[Made]) -> None:
    """The workflows of the tasks a task's end made; a failure leaves them to the
    reconciler (the task itself has ended already)."""
    try:
        for task in made:
            queue = await queue_for(task.provider)
            with SetWorkflowID(task.workflow_id):
                await queue.enqueue_async(run_task, task.task_id)
    except Exception as exc:
        log.error(
            "queuing a made task failed; the reconciler will",
            task_id=task_id,
            error=type(exc).__name__,
        )
