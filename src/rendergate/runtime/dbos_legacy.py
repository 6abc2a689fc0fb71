"""Workflows queued by an earlier version, which gave submit, track, collect and finish a
DBOS step each: DBOS replays a workflow step by step by name, so one recorded that way
runs the same way to its end. New tasks run `dbos_runtime.run_task`, one step. Remove once
no worker of a version before 0.2 can have left one queued or running.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from dbos import DBOS

from rendergate.domain.task import ErrorKind
from rendergate.runtime.dbos_runtime import (
    StepFailed,
    active_runner,
    contained,
    enqueue_made,
    enqueue_moved,
    internal_error_step,
)
from rendergate.runtime.step_codec import (
    submit_from_json,
    submit_to_json,
    tracked_from_json,
    tracked_to_json,
)
from rendergate.runtime.workflow_rows import LEGACY_WORKFLOW_NAME
from rendergate.workflow.execution import MAX_SUBMISSIONS
from rendergate.workflow.outcomes import Finished, Made, Moved, RunEnd, SubmitResult, TrackOutcome

log = structlog.get_logger(__name__)


@DBOS.step(name="rendergate.submit")
async def _submit_step(task_id: int, workflow_id: str | None) -> dict[str, Any]:
    runner = active_runner()
    if runner.draining:  # stopping: left for another worker, never half submitted here
        await asyncio.Event().wait()  # until stop() interrupts it
    with runner.busy(task_id):
        result = await contained(task_id, runner.submit(task_id, workflow_id))
    return submit_to_json(result)


@DBOS.step(name="rendergate.track")
async def _track_step(task_id: int) -> dict[str, Any]:
    return tracked_to_json(await contained(task_id, active_runner().track(task_id)))


@DBOS.step(name="rendergate.collect")
async def _collect_step(task_id: int, tracked: dict[str, Any]) -> None:
    runner = active_runner()
    with runner.busy(task_id):
        await contained(task_id, runner.collect(task_id, tracked_from_json(tracked)))


async def _submitted(task_id: int) -> SubmitResult:
    return submit_from_json(await _submit_step(task_id, DBOS.workflow_id))


@DBOS.step(name="rendergate.give_up")
async def _give_up_step(task_id: int) -> None:
    await active_runner().fail(
        task_id, f"the provider lost the job {MAX_SUBMISSIONS} times", ErrorKind.PROVIDER
    )


@DBOS.step(name="rendergate.finish")
async def _finish_step(task_id: int) -> list[dict[str, Any]]:
    made = await contained(task_id, active_runner().finish(task_id))
    return [
        {"task_id": task.task_id, "provider": task.provider, "workflow_id": task.workflow_id}
        for task in made
    ]


@DBOS.workflow(name=LEGACY_WORKFLOW_NAME)
async def run_task_v1(task_id: int) -> RunEnd:
    """submit -> track -> collect -> finish; a lost job goes round again, a bounded number
    of times.

    A bug or an unexpected error fails the task with a message instead of leaving it stuck.
    """
    with active_runner().in_flight(task_id):
        try:
            end = await _submit_track_collect(task_id)
        except Exception as exc:
            kind = exc.kind if isinstance(exc, StepFailed) else type(exc).__name__
            log.error("task workflow failed", task_id=task_id, error=kind)
            await internal_error_step(task_id, kind)
            end = RunEnd.FINISHED
        if end is not RunEnd.MOVED:  # a moved task finishes in its next workflow
            await _finish(task_id)
        return end


async def _finish(task_id: int) -> None:
    """The finish step (workflow/finishing.py), then the workflows of the tasks it made,
    each enqueued as a step of this workflow: a replay finds them rather than enqueuing
    again. A failure leaves them to the reconciler; the task itself has ended already."""
    try:
        made = [Made(**recorded) for recorded in await _finish_step(task_id)]
    except Exception as exc:
        kind = exc.kind if isinstance(exc, StepFailed) else type(exc).__name__
        log.error("finishing the task failed; the reconciler will", task_id=task_id, error=kind)
        return
    await enqueue_made(task_id, made)


async def _submit_track_collect(task_id: int) -> RunEnd:
    for _ in range(MAX_SUBMISSIONS):
        submitted = await _submitted(task_id)
        if isinstance(submitted, Finished):
            return RunEnd.FINISHED
        if isinstance(submitted, Moved):  # its own workflow, on its provider's queue
            await enqueue_moved(task_id, submitted)
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
