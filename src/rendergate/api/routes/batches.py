"""/batches: several views of one model in one request; read, list, cancel, retry, and
every result in one zip. The members' event stream is in batch_events.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from rendergate.api.batch_bodies import read_new_batch
from rendergate.api.batch_examples import BATCH_BODY, BATCH_EXAMPLE, BATCH_LIST_EXAMPLE
from rendergate.api.batch_schemas import BatchList
from rendergate.api.deps import CallerDep, ServicesDep
from rendergate.api.examples import KEY_OR_OPEN, errors, ok
from rendergate.api.present import base_url, envelope
from rendergate.api.routes.tasks import IdempotencyKey
from rendergate.api.schemas import Envelope
from rendergate.domain.task import MAX_SAFE_INTEGER
from rendergate.services import batches as use_cases
from rendergate.services.archive import batch_archive
from rendergate.services.batch_once import create_batch_once
from rendergate.services.batch_public import BatchPublic, present_batch
from rendergate.services.batches import Settling
from rendergate.services.batching import Batching
from rendergate.services.creating import Creating
from rendergate.services.idempotency import CreatingOnce
from rendergate.services.links import recorded_base
from rendergate.services.picks import picks_of
from rendergate.services.tasks import Cancelling

router = APIRouter(prefix="/batches", tags=["batches"])
BatchId = Annotated[
    int, Path(ge=0, le=MAX_SAFE_INTEGER, description="The id POST /batches returned.")
]
CREATE_DESCRIPTION = """Takes multipart/form-data (`image` repeated, 1 to 12 files; `angle`
repeated in the same order, optional; one `reference` file; `type`, `preset`, `params` as a
JSON string, `variations` 1 to 4, `seed`, `name`, `then` as a JSON list of {type, params}
or app names with commas, `webhook_url`, `webhook_events`) or JSON (`views`: a list of
{image_base64 | image_url | image_task_id, angle}, and the same fields). Every member is a
task of its own (GET /tasks/{id}); variation k of a view runs with `seed` + k. The batch is
accepted or refused whole: the key's limits count every member, and one bad image refuses
it and stores nothing. An Idempotency-Key covers the whole batch."""


@router.post(
    "",
    status_code=201,
    summary="Create a batch: several views of one model, in one look",
    description=CREATE_DESCRIPTION,
    response_model=Envelope[BatchPublic],
    responses={201: ok(BATCH_EXAMPLE), **errors(401, 409, 413, 415, 422, 429, 500, 503)},
    openapi_extra={**BATCH_BODY, **KEY_OR_OPEN},
)
async def create_batch(
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    settings = services.settings
    new = await read_new_batch(
        request, max_upload_bytes=settings.max_upload_bytes, fetcher=services.fetcher
    )
    new = replace(new, link_base=recorded_base(request.scope))
    creating = services.unpack(Creating)
    batching = services.unpack(Batching, creating=creating)
    once = services.unpack(CreatingOnce, creating=creating) if idempotency_key else None
    batch, replayed = await create_batch_once(
        new, batching, owner=caller or "", key=idempotency_key, once=once
    )
    batch, summary = await use_cases.read_batch(batch.batch_id, services.batches, caller=caller)
    response = envelope(present_batch(batch, summary, base=base_url(request, settings)), 201)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@router.get(
    "",
    summary="List batches, newest first",
    response_model=Envelope[BatchList],
    responses={200: ok(BATCH_LIST_EXAMPLE), **errors(401, 413, 422, 500)},
    openapi_extra=KEY_OR_OPEN,
)
async def list_batches(
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of a page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    q: Annotated[
        str, Query(max_length=100, description="Only batches whose name holds this, in any case")
    ] = "",
    members: Annotated[
        bool, Query(description="false leaves each batch's `tasks` empty, for a light list")
    ] = True,
) -> JSONResponse:
    """A cursor carries no `q`: ask each page with the same one."""
    found, next_cursor = await use_cases.list_batches(
        services.batches, caller=caller, cursor=cursor, limit=limit, name=q
    )
    base = base_url(request, services.settings)
    page = [present_batch(b, summary, base=base, members=members) for b, summary in found]
    return envelope(BatchList(batches=page, next_cursor=next_cursor))


@router.get(
    "/{batch_id}",
    summary="Get a batch, with its members",
    response_model=Envelope[BatchPublic],
    responses={200: ok(BATCH_EXAMPLE), **errors(401, 404, 413, 422, 500)},
    openapi_extra=KEY_OR_OPEN,
)
async def get_batch(
    batch_id: BatchId, request: Request, services: ServicesDep, caller: CallerDep
) -> JSONResponse:
    batch, summary = await use_cases.read_batch_placed(
        batch_id, services.batches, services.store, caller=caller
    )
    return envelope(present_batch(batch, summary, base=base_url(request, services.settings)))


@router.post(
    "/{batch_id}/cancel",
    summary="Cancel every unfinished member",
    response_model=Envelope[BatchPublic],
    responses={200: ok(BATCH_EXAMPLE), **errors(401, 404, 409, 413, 422, 500)},
    openapi_extra=KEY_OR_OPEN,
)
async def cancel_batch(
    batch_id: BatchId, request: Request, services: ServicesDep, caller: CallerDep
) -> JSONResponse:
    """Members that finished keep their results; the batch ends `canceled` (409 when it
    has ended already)."""
    batch, summary = await use_cases.cancel_batch(
        batch_id, services.unpack(Cancelling), services.unpack(Settling), caller=caller
    )
    return envelope(present_batch(batch, summary, base=base_url(request, services.settings)))


@router.post(
    "/{batch_id}/retry",
    summary="Run the failed and canceled members again",
    response_model=Envelope[BatchPublic],
    responses={200: ok(BATCH_EXAMPLE), **errors(401, 404, 409, 413, 422, 429, 500)},
    openapi_extra=KEY_OR_OPEN,
)
async def retry_batch(
    batch_id: BatchId, request: Request, services: ServicesDep, caller: CallerDep
) -> JSONResponse:
    """Each failed or canceled member runs again from its stored inputs with its seed, as a
    new member in its place (`rerun_of` names the old one); 409 while the batch runs or
    when none failed."""
    batch, summary, _ = await use_cases.retry_batch(
        batch_id,
        services.unpack(Creating),
        services.unpack(Settling),
        caller=caller,
        link_base=recorded_base(request.scope),
    )
    return envelope(present_batch(batch, summary, base=base_url(request, services.settings)))


@router.get(
    "/{batch_id}/archive",
    summary="Every result of the batch in one zip",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "A zip of the results",
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in ("application/zip", "application/octet-stream")
            },
        },
        **errors(
            401, 404, 413, 422, 500, described={404: "No such batch, or no (kept) result yet"}
        ),
    },
    openapi_extra=KEY_OR_OPEN,
)
async def get_batch_archive(
    batch_id: BatchId,
    services: ServicesDep,
    caller: CallerDep,
    kept: Annotated[
        bool, Query(description="Only the picks: kept members and the steps made from them")
    ] = False,
) -> StreamingResponse:
    """Named view01_<angle>_v1.png, ...: view, angle, variation, then each step's app."""
    batch, summary = await use_cases.read_batch(batch_id, services.batches, caller=caller)
    only = picks_of(summary.members) if kept else None
    archive = await batch_archive(batch, summary.members, services.blobs, only=only)

    def chunks() -> object:
        try:
            while chunk := archive.read(1024 * 1024):
                yield chunk
        finally:
            archive.close()

    name = f"batch-{batch_id}.zip"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(chunks(), media_type="application/zip", headers=headers)  # type: ignore[arg-type]
