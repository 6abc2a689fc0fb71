"""POST /batches/{batch_id}/steps: an upscale (or another app of kind upscale) run now on
chosen results of a batch, the kept ones by default, as the batch's own (services/
batch_steps.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from rendergate.api.batch_examples import BATCH_DATA
from rendergate.api.bodies import json_model, read_body
from rendergate.api.deps import CallerDep, ServicesDep
from rendergate.api.examples import KEY_OR_OPEN, TASK_DATA, errors
from rendergate.api.present import base_url, envelope
from rendergate.api.routes.batches import BatchId
from rendergate.api.schemas import Envelope
from rendergate.domain.errors import UnsupportedInput
from rendergate.domain.task import MAX_SAFE_INTEGER
from rendergate.services.batch_public import BatchPublic, present_batch
from rendergate.services.batch_steps import Stepping, StepsAsked, add_steps
from rendergate.services.batches import Settling
from rendergate.services.creating import Creating
from rendergate.services.presenting import TaskPublic, present_task

router = APIRouter(prefix="/batches", tags=["batches"])
MAX_CHOSEN = 100  # a batch has at most 48 members, and their steps
TaskIdItem = Annotated[StrictInt, Field(ge=0, le=MAX_SAFE_INTEGER)]


class BatchStepsJson(BaseModel):
    """The step to run and on which of the batch's results."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(
        min_length=1, max_length=64, description='An app of kind "upscale" (GET /apps).'
    )
    params: dict[str, Any] = Field(default_factory=dict, description="The app's params.")
    tasks: list[TaskIdItem] | None = Field(
        None,
        min_length=1,
        max_length=MAX_CHOSEN,
        description="Completed tasks of this batch to run it on; left out: its kept ones "
        "(PUT /tasks/{id}/kept) other than this app's own results.",
    )


class BatchStepsPublic(BaseModel):
    steps: list[TaskPublic] = Field(
        description="One per chosen result, in order: the task running the step on it, made "
        "now, or the one made before (running or completed), which is not run or charged again."
    )
    made: int = Field(description="How many of `steps` this request made (and charged).")
    batch: BatchPublic = Field(description="The batch, with the steps among its tasks.")


STEP_DATA = {
    **TASK_DATA,
    "task_id": 4503599627370499,
    "status": "submitted",
    "progress": 0,
    "type": "upscale",
    "params": {"scale": 2},
    "parent_task_id": 4503599627370497,
    "parent_task_index": 0,
    "batch_id": BATCH_DATA["batch_id"],
    "view": 0,
    "variation": 0,
    "finished_at": None,
}
STEPS_EXAMPLE = {
    "code": 0,
    "msg": "success",
    "data": {"steps": [STEP_DATA], "made": 1, "batch": {**BATCH_DATA, "status": "processing"}},
}
FOUND_EXAMPLE = {
    "code": 0,
    "msg": "success",
    "data": {
        "steps": [{**STEP_DATA, "status": "completed", "progress": 100}],
        "made": 0,
        "batch": BATCH_DATA,
    },
}
BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": BatchStepsJson.model_json_schema(),
                "example": {"type": "upscale", "params": {"scale": 2}},
            }
        },
    }
}
FOUND = "Every chosen result had the step already: those tasks, nothing made or charged"
DESCRIBED = {
    409: "A chosen task has not completed, or none is kept and none was named",
    422: "The app is not of kind upscale (or not here), its params are wrong, or a task "
    "named is not in the batch",
}


@router.post(
    "/{batch_id}/steps",
    status_code=201,
    summary="Upscale chosen results of a batch, the kept ones by default",
    response_model=Envelope[BatchStepsPublic],
    responses={
        201: {"content": {"application/json": {"example": STEPS_EXAMPLE}}},
        200: {
            "description": FOUND,
            "model": Envelope[BatchStepsPublic],
            "content": {"application/json": {"example": FOUND_EXAMPLE}},
        },
        **errors(401, 404, 409, 410, 413, 415, 422, 429, 500, described=DESCRIBED),
    },
    openapi_extra={**BODY, **KEY_OR_OPEN},
)
async def add_batch_steps(
    batch_id: BatchId, request: Request, services: ServicesDep, caller: CallerDep
) -> JSONResponse:
    """Runs the app on each chosen result as a `then` step would (the result is its image;
    it takes the result's view, variation, seed and webhook), so it counts in the batch:
    its tasks, event stream, archive (`?kept=true` too) and cost. Charged at the key's
    price and counted against its limits, all of them or none (429). A result that has
    the step already, running or completed, is answered with it and not charged again. A
    batch that had ended runs again, and tells its end again once the steps end."""
    asked = await _asked(request)
    creating = services.unpack(Creating)
    stepping = Stepping(creating, services.unpack(Settling))
    added = await add_steps(batch_id, asked, stepping, caller=caller)
    base = base_url(request, services.settings)
    answer = BatchStepsPublic(
        steps=[present_task(task, base=base) for task in added.steps],
        made=added.made,
        batch=present_batch(added.batch, added.summary, base=base),
    )
    return envelope(answer, 201 if added.made else 200)


async def _asked(request: Request) -> StepsAsked:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedInput(
            f"content type {media_type or 'missing'!r} is not accepted; send application/json"
        )
    model = await json_model(await read_body(request), BatchStepsJson)
    tasks = None if model.tasks is None else tuple(model.tasks)
    return StepsAsked(app=model.type, params=model.params, tasks=tasks)
