"""A task's workflow: one DBOS step for the whole run (runtime/dbos_runtime.py), and the
older shape, a step each for submit, track, collect and finish, still run to its end for a
workflow an earlier version queued (runtime/dbos_legacy.py)."""

from __future__ import annotations

import base64

from dbos import DBOS, SetWorkflowID

from rendergate.config.settings import Settings
from rendergate.runtime import dbos_runtime
from rendergate.runtime.dbos_legacy import run_task_v1
from rendergate.services.absent import NoOrchestrator
from rendergate.services.create_checks import Upload
from rendergate.services.creating import Creating, NewTask, create_task
from support.images import make_png
from support.server import serve


async def step_names(workflow_id: str) -> list[str]:
    return [step["function_name"] for step in await DBOS.list_workflow_steps_async(workflow_id)]


async def test_a_task_runs_as_one_step(settings: Settings) -> None:
    async with serve(settings) as server:
        task = await server.completed(
            {"type": "fake", "image_base64": base64.b64encode(make_png()).decode()}
        )
        workflow_id = f"task-{task['task_id']}"
        assert await step_names(workflow_id) == ["rendergate.run"]


async def test_a_workflow_queued_by_an_earlier_version_runs_its_own_steps(
    settings: Settings,
) -> None:
    async with serve(settings) as server:
        unqueued = server.services.unpack(Creating, orchestrator=NoOrchestrator())
        uploads = (Upload(role="image", data=make_png()),)
        task = await create_task(NewTask(app="fake", uploads=uploads), unqueued)
        queue = await dbos_runtime.queue_for("fake")
        with SetWorkflowID(task.workflow_id):  # as a worker before 0.2 would have
            await queue.enqueue_async(run_task_v1, task.task_id)
        done = await server.wait_finished(task.task_id)
        assert done["status"] == "completed"
        status = await DBOS.get_workflow_status_async(task.workflow_id)
        assert status is not None and status.name == "rendergate.run_task"
        assert await step_names(task.workflow_id) == [
            "rendergate.submit",
            "rendergate.track",
            "rendergate.collect",
            "rendergate.finish",
        ]
