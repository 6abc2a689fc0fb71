"""PUT and DELETE /tasks/{task_id}/kept: a completed task kept as a pick, or no longer
(services/picks.py); GET /batches/{id}/archive?kept=true zips a batch's picks."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from rendergate.api.deps import CallerDep, ServicesDep
from rendergate.api.examples import KEY_OR_OPEN, TASK_DATA, errors, ok
from rendergate.api.present import base_url, envelope
from rendergate.api.routes.tasks import TaskId
from rendergate.api.schemas import Envelope
from rendergate.services.context import Services
from rendergate.services.picks import Picking, mark_kept
from rendergate.services.presenting import TaskPublic, present_task

router = APIRouter(prefix="/tasks", tags=["tasks"])
KEPT_AT = "2026-11-23T10:05:00Z"
KEPT = {"code": 0, "msg": "success", "data": {**TASK_DATA, "kept": True, "kept_at": KEPT_AT}}
UNKEPT = {"code": 0, "msg": "success", "data": {**TASK_DATA, "kept": False, "kept_at": None}}


async def _marked(
    task_id: int, request: Request, services: Services, caller: str | None, *, kept: bool
) -> JSONResponse:
    task = await mark_kept(task_id, services.unpack(Picking), kept=kept, caller=caller)
    return envelope(present_task(task, base=base_url(request, services.settings)))


@router.put(
    "/{task_id}/kept",
    summary="Keep a completed task as a pick",
    response_model=Envelope[TaskPublic],
    responses={
        200: ok(KEPT),
        **errors(401, 404, 409, 413, 422, 500, described={409: "The task has not completed"}),
    },
    openapi_extra=KEY_OR_OPEN,
)
async def keep_task(
    task_id: TaskId, request: Request, services: ServicesDep, caller: CallerDep
) -> JSONResponse:
    """Answers the task, `kept` true. Keeping it again changes nothing; a task that has not
    completed answers 409."""
    return await _marked(task_id, request, services, caller, kept=True)


@router.delete(
    "/{task_id}/kept",
    summary="No longer keep a task",
    response_model=Envelope[TaskPublic],
    responses={200: ok(UNKEPT), **errors(401, 404, 413, 422, 500)},
    openapi_extra=KEY_OR_OPEN,
)
async def unkeep_task(
    task_id: TaskId, request: Request, services: ServicesDep, caller: CallerDep
) -> JSONResponse:
    """Answers the task, `kept` false (also when it was not kept)."""
    return await _marked(task_id, request, services, caller, kept=False)
