"""/tasks: create, read, list, cancel, and the stored result image."""

from __future__ import annotations

import functools
import math
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from rendergate.api.bodies import read_new_task
from rendergate.api.deps import CallerDep, ServicesDep, get_services_now
from rendergate.api.examples import (
    CREATE_BODY,
    KEY_OR_OPEN,
    LIST_EXAMPLE,
    TASK_EXAMPLE,
    errors,
    ok,
)
from rendergate.api.present import base_url, envelope
from rendergate.api.schemas import Envelope, TaskList
from rendergate.domain.media import extension_of
from rendergate.domain.task import MAX_SAFE_INTEGER, Task, TaskStatus
from rendergate.services import tasks as use_cases
from rendergate.services.batch_public import total_cost
from rendergate.services.chains import chain_of, children_of
from rendergate.services.context import Services
from rendergate.services.creating import Creating, NewTask
from rendergate.services.creating import create_task as create
from rendergate.services.idempotency import CreatingOnce, create_once
from rendergate.services.links import recorded_base
from rendergate.services.presenting import TaskPublic, present_task
from rendergate.services.streams import wait_finished, wait_moved
from rendergate.services.tasks import Cancelling

router = APIRouter(prefix="/tasks", tags=["tasks"])
MAX_WAIT_S = 60.0
TaskId = Annotated[int, Path(ge=0, le=MAX_SAFE_INTEGER, description="The id POST /tasks returned.")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retrying with the same key and request gives back the same task "
        "(header Idempotent-Replayed: true), for 24 hours",
    ),
]
PreferWait = Annotated[
    str | None,
    Header(
        max_length=200,
        description="wait=N (N up to 60): answer when the task finishes or after N "
        "seconds, whichever is first (header Preference-Applied says so)",
    ),
]
PreferChange = Annotated[
    str | None,
    Header(
        max_length=200,
        description="wait=N (N up to 60): answer once the task changes (progress, status) or "
        "finishes, or after N seconds with it as it is (header Preference-Applied says so)",
    ),
]


@router.post(
    "",
    status_code=201,
    summary="Create a task",
    response_model=Envelope[TaskPublic],
    responses={201: ok(TASK_EXAMPLE), **errors(401, 408, 409, 413, 415, 422, 429, 500, 503)},
    openapi_extra={**CREATE_BODY, **KEY_OR_OPEN},
)
async def create_task(
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
    prefer: PreferWait = None,
) -> JSONResponse:
    """Takes multipart/form-data (`image` file, `reference` file, `type`, `angle`, `params` as
    a JSON string) or JSON (`image_base64` or `image_url`, `reference_base64` or
    `reference_url`, `type`, `angle`, `params`). Answers with the new task, as GET does."""
    settings = services.settings
    new = await read_new_task(
        request, max_upload_bytes=settings.max_upload_bytes, fetcher=services.fetcher
    )
    new = replace(new, link_base=recorded_base(request.scope))
    return await created(new, request, services, caller, idempotency_key, prefer)


async def created(
    new: NewTask,
    request: Request,
    services: Services,
    caller: str | None,
    idempotency_key: str | None,
    prefer: str | None,
) -> JSONResponse:
    """Creates `new` (once per Idempotency-Key, when one came) and answers 201 with it, after
    waiting for it to finish as `Prefer: wait=N` asks: a create's answer, and a re-run's."""
    owner, creating = caller or "", services.unpack(Creating)
    if idempotency_key is None:
        task, replayed = await create(new, creating, owner=owner), False
    else:
        once = services.unpack(CreatingOnce, creating=creating)
        task, replayed = await create_once(new, once, owner=owner, key=idempotency_key)
    wait_s = preferred_wait(prefer)
    if wait_s is not None:
        changes = services.changes
        task = await wait_finished(task, store=services.store, changes=changes, seconds=wait_s)
    base = base_url(request, services.settings)
    response = envelope(present_task(task, base=base), status_code=201)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    if wait_s is not None:
        response.headers["Preference-Applied"] = f"wait={wait_s:g}"
    return response


def preferred_wait(prefer: str | None) -> float | None:
    """The seconds of a `Prefer: wait=N` (RFC 7240), at most MAX_WAIT_S; None without one."""
    for preference in (prefer or "").split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                seconds = float(value.strip().strip('"'))
            except ValueError:
                return None  # a preference it cannot honour is ignored (RFC 7240)
            return min(max(seconds, 0.0), MAX_WAIT_S) if math.isfinite(seconds) else None
    return None


@router.get(
    "",
    summary="List tasks, newest first",
    response_model=Envelope[TaskList],
    responses={200: ok(LIST_EXAMPLE), **errors(401, 413, 422, 500)},
    openapi_extra=KEY_OR_OPEN,
)
async def list_tasks(
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    status: Annotated[TaskStatus | None, Query(description="Only tasks in this status")] = None,
    type: Annotated[str | None, Query(max_length=64, description="Only this app")] = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of a page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    rerun_of: Annotated[
        int | None,
        Query(ge=1, le=2**63 - 1, description="Only the re-runs of this task"),
    ] = None,
) -> JSONResponse:
    found, next_cursor = await use_cases.list_tasks(
        store=services.store,
        status=status,
        app=type,
        cursor=cursor,
        limit=limit,
        caller=caller,
        rerun_of=rerun_of,
    )
    base = base_url(request, services.settings)
    children = await children_of(found, services.store)
    page = TaskList(
        tasks=[present_task(t, base=base, children=children.get(t.task_id, [])) for t in found],
        next_cursor=next_cursor,
    )
    return envelope(page)


@router.get(
    "/{task_id}",
    summary="Get a task",
    response_model=Envelope[TaskPublic],
    responses={200: ok(TASK_EXAMPLE), **errors(401, 404, 413, 422, 500)},
    openapi_extra=KEY_OR_OPEN,
)
async def get_task(
    task_id: TaskId,
    request: Request,
    caller: CallerDep,
    include_base64: Annotated[
        bool, Query(description="false leaves image_base64 empty, for light polling")
    ] = True,
    prefer: PreferChange = None,
) -> Response:
    """The answer of a finished task polled with include_base64=false, and of an unfinished
    one, is kept and served again by api/finished_cache.py without coming here."""
    services = get_services_now(request)
    base, wait_s = base_url(request, services.settings), preferred_wait(prefer)
    read = functools.partial(
        use_cases.get_task, task_id, store=services.store, finished=services.finished, caller=caller
    )
    if wait_s is not None:  # a long poll: the answer waits for the task to move
        moved = await wait_moved(
            await read(), store=services.store, changes=services.changes, seconds=wait_s
        )
        task = await use_cases.placed(moved, services.store)
        response = await answer_task(task, services, base=base, include_base64=include_base64)
        response.headers["Preference-Applied"] = f"wait={wait_s:g}"
    else:
        with request.app.state.unfinished_bodies.reading(task_id) as keep:
            task = await read()
            response = await answer_task(task, services, base=base, include_base64=include_base64)
            keep(task, base, bytes(response.body))
    if not include_base64 and task.status.is_terminal and not task.then:  # a chain's cost moves
        request.app.state.finished_bodies.put((task_id, base), (task.version, bytes(response.body)))
    return response


async def answer_task(
    task: Task, services: Services, *, base: str, include_base64: bool
) -> JSONResponse:
    """GET's answer: the task with its image if asked, its children, its chain's cost."""
    result = None
    if include_base64 and task.status is TaskStatus.COMPLETED and not task.files_expired_at:
        result = await use_cases.result_or_loss(task, blobs=services.blobs)
    children = (await children_of([task], services.store)).get(task.task_id, [])
    chain = total_cost(await chain_of(task, services.store)) if task.then else None
    public = present_task(task, base=base, result=result, children=children, chain_cost=chain)
    return envelope(public)


@router.post(
    "/{task_id}/cancel",
    summary="Cancel an unfinished task",
    response_model=Envelope[TaskPublic],
    responses={200: ok(TASK_EXAMPLE), **errors(401, 404, 409, 413, 422, 500)},
    openapi_extra=KEY_OR_OPEN,
)
async def cancel_task(
    task_id: TaskId, request: Request, services: ServicesDep, caller: CallerDep
) -> JSONResponse:
    """Stops tracking at once and asks the provider to stop where it can.
    A task that already finished answers 409."""
    task = await use_cases.cancel_task(task_id, services.unpack(Cancelling), caller=caller)
    return envelope(present_task(task, base=base_url(request, services.settings)))


@router.get(
    "/{task_id}/image",
    summary="The stored result image",
    response_class=Response,
    responses={
        200: {
            "description": "The result's bytes, of the type the provider produced",
            "content": {
                media_type: {"schema": {"type": "string", "format": "binary"}}
                for media_type in (
                    "image/png",
                    "image/jpeg",
                    "image/webp",
                    "application/octet-stream",
                )
            },
        },
        304: {"description": "If-None-Match named this result's ETag: the client has it"},
        307: {"description": "With RENDERGATE_RESULT_LINKS=presigned: the storage's signed link"},
        **errors(
            401,
            404,
            410,
            413,
            422,
            500,
            described={404: "No such task, or no result at that index (yet)"},
        ),
    },
    openapi_extra=KEY_OR_OPEN,
)
async def get_task_image(
    task_id: TaskId,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    index: Annotated[
        int, Query(ge=0, le=63, description="Which output, for multi-output apps")
    ] = 0,
) -> Response:
    blobs, links = services.blobs, services.settings.result_links
    task = await use_cases.get_task(
        task_id, store=services.store, finished=services.finished, caller=caller
    )
    link = await use_cases.result_link(task, blobs=blobs, result_links=links, index=index)
    if link is not None:  # RENDERGATE_RESULT_LINKS=presigned: fetched from the storage
        return RedirectResponse(link, status_code=307, headers={"Cache-Control": "no-store"})
    # A stored result never changes: its ETag is its name, and a client holding it gets a 304
    output = task.outputs[index]
    name = f"{task_id}-{index}.{extension_of(output.content_type)}"
    headers = {
        "Cache-Control": "private, max-age=31536000, immutable",  # one key's, not a proxy's
        "ETag": f'"{task_id}-{index}"',
        "Content-Disposition": f'inline; filename="{name}"',
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    data = await use_cases.result_bytes(task, blobs=blobs, index=index)
    return Response(data, media_type=output.content_type, headers=headers)
