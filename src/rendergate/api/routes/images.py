"""A task's stored inputs, and any stored image at a small width: what a page needs to show
the "before" of a task from history, and many results at once without their full size."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from rendergate.api.deps import CallerDep, ServicesDep
from rendergate.api.examples import KEY_OR_OPEN, errors
from rendergate.api.present import base_url
from rendergate.api.routes.tasks import TaskId
from rendergate.domain.media import extension_of
from rendergate.domain.task import MAX_OUTPUT_INDEX
from rendergate.imaging.thumbnail import CONTENT_TYPE, WIDTHS, check_width
from rendergate.services import tasks as use_cases
from rendergate.services.thumbnails import InputRole, Role, Source, input_bytes, require_source

router = APIRouter(prefix="/tasks", tags=["tasks"])
IMMUTABLE = "private, max-age=31536000, immutable"  # one key's, never a shared cache's
FILE_ERRORS = (401, 404, 410, 413, 422, 500)
GONE = {410: "Retention removed the task's files (or our storage lost this one)"}


def binary(description: str, *media_types: str) -> dict[str, Any]:
    """A file answer's OpenAPI entry. application/octet-stream is listed last, as GET
    /tasks/{id}/image lists it: a generated client (openapi-python-client) models no image
    type, and with it reads the bytes instead of dropping the route's answer."""
    schema = {"schema": {"type": "string", "format": "binary"}}
    kinds = (*media_types, "application/octet-stream")
    return {"description": description, "content": dict.fromkeys(kinds, schema)}


def cached(etag: str, name: str) -> dict[str, str]:
    return {
        "Cache-Control": IMMUTABLE,
        "ETag": etag,
        "Content-Disposition": f'inline; filename="{name}"',
    }


def unchanged(request: Request, headers: dict[str, str]) -> Response | None:
    """A 304 when the client holds this very file (stored files never change); asked only
    once the file is known to be there."""
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return None


@router.get(
    "/{task_id}/input",
    summary="A stored input of the task: its image (the screenshot) or its reference",
    response_class=Response,
    responses={
        200: binary(
            "The input's bytes, as stored at create. A task whose image was a finished "
            "task's result (image_task_id, a chain's step) answers with its copy of that "
            'result, and a `Link: <…/tasks/{parent}/image?index=i>; rel="via"` header '
            "names where it came from",
            "image/png",
            "image/jpeg",
            "image/webp",
            "image/bmp",
            "image/gif",
            "image/tiff",
        ),
        304: {"description": "If-None-Match named this input's ETag: the client has it"},
        **errors(*FILE_ERRORS, described={404: "No such task, or no input of that role", **GONE}),
    },
    openapi_extra=KEY_OR_OPEN,
)
async def get_task_input(
    task_id: TaskId,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    role: Annotated[
        InputRole, Query(description="image: the screenshot sent; reference: the look's image")
    ] = "image",
) -> Response:
    task = await use_cases.get_task(
        task_id, store=services.store, finished=services.finished, caller=caller
    )
    require_source(task, Source(role))
    name = f"{task_id}-{role}.{extension_of(task.inputs[role].content_type)}"
    headers = cached(f'"{task_id}-{role}"', name)
    if task.parent is not None and role == "image":
        parent = task.parent
        link = f"{base_url(request, services.settings)}/tasks/{parent.task_id}/image"
        headers["Link"] = f'<{link}?index={parent.index}>; rel="via"'
    if (answered := unchanged(request, headers)) is not None:
        return answered
    data, content_type = await input_bytes(task, role, blobs=services.blobs)
    return Response(data, media_type=content_type, headers=headers)


@router.get(
    "/{task_id}/thumbnail",
    summary="A result or input of the task at a small width, as WebP",
    response_class=Response,
    responses={
        200: binary(
            "The image scaled to `width` pixels wide, its aspect kept, never enlarged (a "
            "narrower image keeps its own size); made on the first request, then stored "
            "until retention removes the task's files",
            CONTENT_TYPE,
        ),
        304: {"description": "If-None-Match named this thumbnail's ETag: the client has it"},
        **errors(
            *FILE_ERRORS,
            415,
            described={
                404: "No such task, no result at that index (yet), or no input of that role",
                415: "The stored file is not an image (a provider's other output)",
                **GONE,
            },
        ),
    },
    openapi_extra=KEY_OR_OPEN,
)
async def get_task_thumbnail(
    task_id: TaskId,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    width: Annotated[
        int,
        Query(description="Pixels wide: 160, 320, 640 or 1280", json_schema_extra={"enum": WIDTHS}),
    ],
    role: Annotated[
        Role, Query(description="result (the default), or the input image or reference")
    ] = "result",
    index: Annotated[
        int, Query(ge=0, le=MAX_OUTPUT_INDEX, description="Which output, for role=result")
    ] = 0,
) -> Response:
    """Always served by rendergate, even where results are presigned storage links."""
    source, width = Source(role, index).checked(), check_width(width)
    task = await use_cases.get_task(
        task_id, store=services.store, finished=services.finished, caller=caller
    )
    require_source(task, source)
    name = f"{task_id}-{role}-{index}-w{width}.webp"
    headers = cached(f'"{task_id}-{role}-{index}-w{width}"', name)
    if (answered := unchanged(request, headers)) is not None:
        return answered
    data = await services.thumbnails.thumbnail(
        task, source, width, blobs=services.blobs, metrics=services.metrics
    )
    return Response(data, media_type=CONTENT_TYPE, headers=headers)
