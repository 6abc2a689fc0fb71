"""/webhooks: where providers call us back (RENDERGATE_PUBLIC_URL must reach it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from rendergate.api.deps import ServicesDep
from rendergate.api.examples import errors, ok
from rendergate.api.schemas import Acknowledged
from rendergate.domain.errors import InputTooLarge
from rendergate.domain.task import MAX_SAFE_INTEGER
from rendergate.services.provider_events import receive_webhook

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
MAX_WEBHOOK_BYTES = 1024 * 1024


@router.post(
    "/{provider}/{task_id}/{token}",
    summary="A provider's callback for one task",
    response_model=Acknowledged,
    responses={
        200: ok({"code": 0, "msg": "success", "data": None}),
        **errors(
            404,
            408,
            413,
            422,
            500,
            described={404: "No such task, or the provider or token is not the task's"},
        ),
    },
)
async def provider_webhook(
    provider: Annotated[str, Path(max_length=64)],
    task_id: Annotated[int, Path(ge=0, le=MAX_SAFE_INTEGER)],
    token: Annotated[str, Path(max_length=128)],
    request: Request,
    services: ServicesDep,
) -> JSONResponse:
    """Each task's URL carries its own secret token, given to the provider at submit time.
    Repeats are harmless: the event only makes rendergate ask the provider again."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_WEBHOOK_BYTES:
            raise InputTooLarge("webhook body is over 1 MB")
    await receive_webhook(
        provider_name=provider,
        task_id=task_id,
        token=token,
        headers=dict(request.headers),
        body=body,
        store=services.store,
        providers=services.providers,
        wake=services.wake,
    )
    return JSONResponse({"code": 0, "msg": "success", "data": None})
