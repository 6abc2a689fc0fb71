"""Each task as a DBOS workflow on a queue per provider: the workflow and its steps.

DBOS registers workflows by decorator, so the workflow functions live at module
level; the runner they call and the queues they enqueue on are installed by
`DbosOrchestrator.open()` (dbos_orchestrator.py) and removed by `close()`. Nothing runs
at import time.

A task that falls back to another route gets a new workflow (`task-<id>.<skips>`) on that
provider's queue, enqueued by the workflow it leaves: DBOS records the enqueue as a step of
the old workflow, so a replay after a crash finds it instead of enqueuing again. It takes
its key's next round on that queue (fair_order.py, read outside DBOS: no step of its own).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import structlog
from dbos import DBOS, Queue, SetWorkflowID

from rendergate.domain.errors import RendergateError
from rendergate.domain.task import ErrorKind
from rendergate.domain.values import clean_text
from rendergate.runtime.fair_order import FairOrder
from rendergate.runtime.step_codec import (
    submit_from_json,
    submit_to_json,
    tracked_from_json,
    tracked_to_json,
)
from rendergate.runtime.workflow_rows import WORKFLOW_NAME, queue_name
from rendergate.workflow.execution import TaskRunner
from rendergate.workflow.outcomes import Finished, Moved, RunEnd, SubmitResult, TrackOutcome

log = structlog.get_logger(__name__)
T = TypeVar("T")

MAX_SUBMISSIONS = 5  # a provider that keeps losing the job fails the task after this many
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


def _active_runner() -> TaskRunner:
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


async def _queue_for(provider: str, timeout_s: float = 30.0) -> Queue:
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


async def _contained(task_id: int, step: Awaitable[T]) -> T:
    try:
        return await step
    except Exception as exc:
        log.error("task step failed", task_id=task_id, exc_info=exc)  # scrubbed, bounded
        detail = _active_runner().redactor.scrub(clean_text(str(exc), 200))
        kind = type(exc).__name__
        raise StepFailed(f"{kind}: {detail}" if detail else kind, kind=kind) from None


# The steps as DBOS records them: JSON in and out (step_codec.py), typed values inside.


@DBOS.step(name="rendergate.submit")
async def _submit_step(task_id: int, workflow_id: str | None) -> dict[str, Any]:
    runner = _active_runner()
    if runner.draining:  # stopping: left for another worker, never half submitted here
        await asyncio.Event().wait()  # until stop() interrupts it
    with runner.busy(task_id):
        result = await _contained(task_id, runner.submit(task_id, workflow_id))
    return submit_to_json(result)


@DBOS.step(name="rendergate.track")
async def _track_step(task_id: int) -> dict[str, Any]:
    return tracked_to_json(await _contained(task_id, _active_runner().track(task_id)))


@DBOS.step(name="rendergate.collect")
async def _collect_step(task_id: int, tracked: dict[str, Any]) -> None:
    runner = _active_runner()
    with runner.busy(task_id):
        await _contained(task_id, runner.collect(task_id, tracked_from_json(tracked)))


async def _submitted(task_id: int) -> SubmitResult:
    return submit_from_json(await _submit_step(task_id, DBOS.workflow_id))


@DBOS.step(name="rendergate.give_up")
async def _give_up_step(task_id: int) -> None:
    await _active_runner().fail(
        task_id, f"the provider lost the job {MAX_SUBMISSIONS} times", ErrorKind.PROVIDER
    )


@DBOS.step(name="rendergate.fail_internal")
async def _internal_error_step(task_id: int, error: str) -> None:
    message = f"internal error while running the task ({error}); see the server log"
    await _active_runner().fail(task_id, message, ErrorKind.INTERNAL)


@DBOS.step(name="rendergate.finish")
async def _finish_step(task_id: int) -> list[dict[str, Any]]:
    made = await _contained(task_id, _active_runner().finish(task_id))
    return [
        {"task_id": task.task_id, "provider": task.provider, "workflow_id": task.workflow_id}
        for task in made
    ]


@DBOS.workflow(name=WORKFLOW_NAME)
async def run_task(task_id: int) -> RunEnd:
    """submit -> track -> collect -> finish; a lost job goes round again, a bounded number
    of times.

    A bug or an unexpected error fails the task with a message instead of leaving it stuck.
    """
    with _active_runner().in_flight(task_id):
        try:
            end = await _submit_track_collect(task_id)
        except Exception as exc:
            kind = exc.kind if isinstance(exc, StepFailed) else type(exc).__name__
            log.error("task workflow failed", task_id=task_id, error=kind)
            await _internal_error_step(task_id, kind)
            end = RunEnd.FINISHED
        if end is not RunEnd.MOVED:  # a moved task finishes in its next workflow
            await _finish(task_id)
        return end


async def _finish(task_id: int) -> None:
    """The finish step (workflow/finishing.py), then the workflows of the tasks it made,
    each enqueued as a step of this workflow: a replay finds them rather than enqueuing
    again. A failure leaves them to the reconciler; the task itself has ended already."""
    try:
        for made in await _finish_step(task_id):
            queue = await _queue_for(made["provider"])
            with SetWorkflowID(made["workflow_id"]):
                await queue.enqueue_async(run_task, made["task_id"])
    except Exception as exc:
        kind = exc.kind if isinstance(exc, StepFailed) else type(exc).__name__
        log.error("finishing the task failed; the reconciler will", task_id=task_id, error=kind)


async def _submit_track_collect(task_id: int) -> RunEnd:
    for _ in range(MAX_SUBMISSIONS):
        submitted = await _submitted(task_id)
        if isinstance(submitted, Finished):
            return RunEnd.FINISHED
        if isinstance(submitted, Moved):  # its own workflow, on its provider's queue
            queue = await _queue_for(submitted.provider)
            assert _order is not None  # installed with the queues
            place = await _order.following(queue.name, DBOS.workflow_id or "")
            with SetWorkflowID(submitted.workflow_id), place.enqueuing():
                await queue.enqueue_async(run_task, task_id)
            return RunEnd.MOVED
        # Submitted: the task's row records the job, and the track step reads it there.
        recorded = await _track_step(task_id)  # handed on to collect as DBOS has it
        outcome = tracked_from_json(recorded).outcome
        if outcome is TrackOutcome.SUCCEEDED:
            await _collect_step(task_id, recorded)
            return RunEnd.SUCCEEDED
        if outcome is TrackOutcome.FINISHED:
            return RunEnd.FINISHED
        # TrackOutcome.LOST: the row forgot the job; submit again
    await _give_up_step(task_id)
    return RunEnd.FINISHED
