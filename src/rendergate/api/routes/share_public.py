"""/s/{token}: what a share link shows anyone holding it, with no key (services/shares.py):
the page for a browser, the batch's shared results as JSON, each image, and their zip.

Answers are never cached (a revoke takes effect at once), never indexed, and send no
Referer onwards (the token is in the URL). The file routes, the ones that read storage,
hold a slot each while they do, a few per batch owner (`Services.shared_files`), so one
widely sent link cannot take every worker from the owner's own requests or others'."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from rendergate.api.deps import ServicesDep
from rendergate.api.examples import errors, ok
from rendergate.api.present import base_url, envelope
from rendergate.api.routes.images import binary
from rendergate.api.routes.tasks import TaskId
from rendergate.api.routes.web import CSP, TEMPLATES
from rendergate.api.schemas import Envelope
from rendergate.domain.errors import ShareExpired, ShareNotFound
from rendergate.services import tasks as task_cases
from rendergate.services.archive import batch_archive
from rendergate.services.context import Services, Slots
from rendergate.services.share_public import SharedBatchPublic, file_name, present_shared
from rendergate.services.shares import Shared, Sharing, open_share, shared_result

router = APIRouter(prefix="/s", tags=["shares"])
Token = Annotated[
    str, Path(min_length=1, max_length=100, description="The token in the link's URL.")
]
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
LINK_ERRORS = {
    404: "Unknown or revoked link, or no such result in it",
    410: "The link expired: its sender can make a new one",
}
SHARED_EXAMPLE: dict[str, Any] = {
    "name": "Villa, scheme B",
    "kept_only": True,
    "expires_at": "2026-11-30T10:00:00Z",
    "views": [{"view": 0, "angle": "front"}],
    "results": [
        {
            "task_id": 4503599627370497,
            "view": 0,
            "angle": "front",
            "variation": 1,
            "step": False,
            "name": "view01_front_v2.png",
            "image_urls": [
                "http://127.0.0.1:8000/s/q3Jx0v0V8q/tasks/4503599627370497/image?index=0"
            ],
            "files_removed": False,
        }
    ],
    "archive_url": "http://127.0.0.1:8000/s/q3Jx0v0V8q/archive",
}


@contextlib.contextmanager
def holding(slots: Slots, owner: str) -> Iterator[None]:
    slots.take(owner)  # none free: 503, or 429 when this owner's links hold their share
    try:
        yield
    finally:
        slots.release(owner)


async def _opened(token: str, services: Services) -> Shared:
    return await open_share(token, services.unpack(Sharing))


@router.get(
    "/{token}/batch",
    summary="The batch a link shares",
    response_model=Envelope[SharedBatchPublic],
    responses={
        200: ok({"code": 0, "msg": "success", "data": SHARED_EXAMPLE}),
        **errors(404, 410, 413, 422, 500, described=LINK_ERRORS),
    },
)
async def get_shared_batch(token: Token, request: Request, services: ServicesDep) -> JSONResponse:
    """No key: the link is the permission. Its name, views and shared results (the kept
    ones unless its owner chose all), each with its image links; nothing else of it."""
    shared = await _opened(token, services)
    base = f"{base_url(request, services.settings)}/s/{token}"
    response = envelope(present_shared(shared, base=base))
    response.headers.update(PRIVATE)
    return response


@router.get(
    "/{token}/tasks/{task_id}/image",
    summary="One image of a shared result",
    response_class=Response,
    responses={
        200: binary("The result's bytes", "image/png", "image/jpeg", "image/webp"),
        **errors(404, 410, 413, 422, 429, 500, 503, described=LINK_ERRORS),
    },
)
async def get_shared_image(
    token: Token,
    task_id: TaskId,
    services: ServicesDep,
    index: Annotated[int, Query(ge=0, le=63, description="Which output")] = 0,
) -> Response:
    """Only a result the link shares; any other task, of this batch or another, is 404.
    Always through this server (never a storage's signed link), so a revoke holds."""
    shared = await _opened(token, services)
    task = shared_result(shared, task_id)
    with holding(services.shared_files, shared.share.owner):
        data = await task_cases.result_bytes(task, blobs=services.blobs, index=index)
    name = file_name(task, shared, index)
    headers = {**PRIVATE, "Content-Disposition": f'inline; filename="{name}"'}
    return Response(data, media_type=task.outputs[index].content_type, headers=headers)


@router.get(
    "/{token}/archive",
    summary="Every shared result in one zip",
    response_class=StreamingResponse,
    responses={
        200: binary("A zip of the shared results", "application/zip"),
        **errors(404, 410, 413, 422, 429, 500, 503, described=LINK_ERRORS),
    },
)
async def get_shared_archive(token: Token, services: ServicesDep) -> StreamingResponse:
    """Named as the batch's own zip (view01_front_v1.png, ...); 404 with no result."""
    shared = await _opened(token, services)
    only = {task.task_id for task in shared.results}
    with holding(services.shared_files, shared.share.owner):
        archive = await batch_archive(shared.batch, shared.results, services.blobs, only=only)

    def chunks() -> Iterator[bytes]:
        try:
            while chunk := archive.read(1024 * 1024):
                yield chunk
        finally:
            archive.close()

    headers = {**PRIVATE, "Content-Disposition": 'attachment; filename="shared-results.zip"'}
    return StreamingResponse(chunks(), media_type="application/zip", headers=headers)


@router.get("/{token}", include_in_schema=False, response_class=HTMLResponse)
async def share_page(token: Token, request: Request, services: ServicesDep) -> HTMLResponse:
    """The page for a browser: the same as /batch, drawn here, so it shows with no script;
    an unknown, revoked or expired link is a page saying so, with its status."""
    headers = {**PRIVATE, "Content-Security-Policy": CSP}
    try:
        shared = await _opened(token, services)
    except (ShareNotFound, ShareExpired) as exc:
        status = 404 if isinstance(exc, ShareNotFound) else 410
        context: dict[str, Any] = {"batch": None, "message": str(exc)}
        return TEMPLATES.TemplateResponse(
            request, "share.html", context, status_code=status, headers=headers
        )
    base = f"{request.scope.get('root_path', '')}/s/{token}"  # this origin: the page's CSP
    context = {"batch": present_shared(shared, base=base), "message": ""}
    return TEMPLATES.TemplateResponse(request, "share.html", context, headers=headers)
