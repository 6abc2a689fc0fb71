"""/batches/{batch_id}/shares: the batch's owner makes, lists and revokes read-only links
to it (services/shares.py); what a link shows its holder is in share_public.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from rendergate.api.bodies import optional_json
from rendergate.api.deps import CallerDep, ServicesDep
from rendergate.api.examples import KEY_OR_OPEN, errors, ok
from rendergate.api.present import base_url, envelope
from rendergate.api.routes import share_public
from rendergate.api.routes.batches import BatchId
from rendergate.api.schemas import Envelope
from rendergate.domain.shares import DEFAULT_DAYS, MAX_DAYS, MIN_DAYS
from rendergate.domain.task import MAX_SAFE_INTEGER
from rendergate.services import shares as use_cases
from rendergate.services.share_public import SharePublic, present_share
from rendergate.services.shares import Sharing

owner_router = APIRouter(prefix="/batches", tags=["shares"])
ShareId = Annotated[
    int, Path(ge=0, le=MAX_SAFE_INTEGER, description="The share_id its POST answered.")
]
SHARE: dict[str, Any] = {
    "share_id": 6755399441055745,
    "batch_id": 4503599627370497,
    "kept_only": True,
    "state": "active",
    "created_at": "2026-11-23T10:00:00Z",
    "expires_at": "2026-11-30T10:00:00Z",
    "revoked_at": None,
    "url": None,
}
MADE = {**SHARE, "url": "http://127.0.0.1:8000/s/q3Jx0v0V8qV4vJ3o5b0HjY1N2m7W4tK9eXcZp6LrD8s"}
REVOKED = {**SHARE, "state": "revoked", "revoked_at": "2026-11-24T09:00:00Z"}
NOT_FOUND = {404: "No such batch of this key, or no such share of it"}


class ShareCreateJson(BaseModel):
    """POST /batches/{batch_id}/shares: how long the link lasts and what it shows."""

    model_config = ConfigDict(extra="forbid")

    expires_in_days: StrictInt = Field(DEFAULT_DAYS, ge=MIN_DAYS, le=MAX_DAYS)
    kept_only: StrictBool = Field(
        True, description="Only the kept results and the steps made from them; false: all."
    )


CREATE_BODY: dict[str, Any] = {
    **KEY_OR_OPEN,
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": ShareCreateJson.model_json_schema(),
                "example": {"expires_in_days": 7, "kept_only": True},
            }
        },
    },
}


class ShareList(BaseModel):
    shares: list[SharePublic]


@owner_router.post(
    "/{batch_id}/shares",
    status_code=201,
    summary="Make a read-only link to the batch",
    response_model=Envelope[SharePublic],
    responses={201: ok(MADE), **errors(401, 404, 413, 415, 422, 500)},
    openapi_extra=CREATE_BODY,
)
async def create_share(
    batch_id: BatchId,
    request: Request,
    services: ServicesDep,
    caller: CallerDep,
) -> JSONResponse:
    """Answers the link's `url` this once: only a hash of its token is kept, so it cannot be
    shown again (make another). Anyone holding it sees the batch's name, views and its kept
    results (or all, with `kept_only` false) until it expires or is revoked; never prices,
    params, seeds or providers."""
    wanted = await optional_json(request, ShareCreateJson) or ShareCreateJson.model_validate({})
    sharing = services.unpack(Sharing)
    share, token = await use_cases.make_share(
        batch_id,
        sharing,
        caller=caller,
        days=wanted.expires_in_days,
        kept_only=wanted.kept_only,
    )
    url = f"{base_url(request, services.settings)}/s/{token}"
    return envelope(present_share(share, now=sharing.clock(), url=url), 201)


@owner_router.get(
    "/{batch_id}/shares",
    summary="The batch's links",
    response_model=Envelope[ShareList],
    responses={200: ok({"shares": [SHARE]}), **errors(401, 404, 413, 422, 500)},
    openapi_extra=KEY_OR_OPEN,
)
async def list_shares(batch_id: BatchId, services: ServicesDep, caller: CallerDep) -> JSONResponse:
    """Every link made for it, expired and revoked ones too, oldest first; never a token."""
    sharing = services.unpack(Sharing)
    found = await use_cases.shares_of(batch_id, sharing, caller=caller)
    now = sharing.clock()
    return envelope(ShareList(shares=[present_share(share, now=now) for share in found]))


@owner_router.delete(
    "/{batch_id}/shares/{share_id}",
    summary="Revoke a link",
    response_model=Envelope[SharePublic],
    responses={200: ok(REVOKED), **errors(401, 404, 413, 422, 500, described=NOT_FOUND)},
    openapi_extra=KEY_OR_OPEN,
)
async def revoke_share(
    batch_id: BatchId, share_id: ShareId, services: ServicesDep, caller: CallerDep
) -> JSONResponse:
    """The link answers 404 from now on, as an unknown one does. Revoking it again
    changes nothing."""
    sharing = services.unpack(Sharing)
    share = await use_cases.revoke_share(batch_id, share_id, sharing, caller=caller)
    return envelope(present_share(share, now=sharing.clock()))


router = APIRouter()
router.include_router(owner_router)
router.include_router(share_public.router)
