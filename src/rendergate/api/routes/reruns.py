"""POST /tasks/{task_id}/rerun: a task run again from its stored inputs, as a new task."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from rendergate.api.bodies import read_rerun
from rendergate.api.deps import CallerDep, ServicesDep
from rendergate.api.examples import KEY_OR_OPEN, RERUN_BODY, TASK_EXAMPLE, errors, ok
from rendergate.api.routes.tasks import IdempotencyKey, PreferWait, TaskId, created
from rendergate.api.schemas import Envelope
from rendergate.services.links import recorded_base
from rendergate.services.presenting import TaskPublic
from rendergate.services.rerunning import Rerunning, rerun_request

router = APIRouter(prefix="/tasks", tags=["tasks"])
GONE = (
    "The task's inputs are gone (retention removed them): it cannot be run again; or a "
    "re-run whose Idempotency-Key is still being processed, with Retry-After"
)


@router.post(
    "/{task_id}/rerun",
    status_code=201,
    summary="Run a task again",
    response_model=Envelope[TaskPublic],
    responses={
        201: ok(TASK_EXAMPLE),
        **errors(401, 404, 408, 409, 413, 415, 422, 429, 500, described={409: GONE}),
    },
    openapi_extra={**RERUN_BODY, **KEY_OR_OPEN},
)
async def rerun_task(
    task_id: TaskId,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
    prefer: PreferWait = None,
) -> JSONResponse:
    """A new task from the same stored inputs (no upload), with the original's type, params
    and seed unless the body changes them (`params` merged over the original's; `seed`
    "random" for a new one); its `rerun_of` names the original. Only the caller's own task
    (another key's is 404); 409 once retention removed its inputs. It is created as POST
    /tasks creates, limits, Idempotency-Key and Prefer: wait included."""
    rerun = await read_rerun(request)
    new = await rerun_request(
        task_id,
        rerun,
        services.unpack(Rerunning),
        caller=caller,
        link_base=recorded_base(request.scope),
    )
    return await created(new, request, services, caller, idempotency_key, prefer)
