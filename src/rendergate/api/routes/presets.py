"""/presets: a key's saved looks (an app, its params, a reference image), and the built-in
ones. POST makes one, PUT makes its next version, DELETE removes every version; a task
made with a preset keeps naming the version it ran with."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from rendergate.api.bodies import as_model, decoded_base64, json_model, read_body, strict_json
from rendergate.api.deps import CallerDep, ServicesDep
from rendergate.api.errors import envelope_error
from rendergate.api.examples import KEY_OR_OPEN, TINY_PNG_BASE64, errors, ok
from rendergate.api.multipart import FormSpec, read_form, text_of
from rendergate.api.present import envelope
from rendergate.api.schemas import Envelope
from rendergate.domain.errors import UnsupportedInput
from rendergate.domain.presets import Preset
from rendergate.services.presets import (
    PresetDraft,
    Presetting,
    delete_preset,
    find_preset,
    list_presets,
    reference_bytes,
    save_preset,
)

router = APIRouter(prefix="/presets", tags=["presets"])
IMAGES = ("image/png", "image/jpeg", "image/webp", "application/octet-stream")
PresetName = Annotated[str, Path(max_length=64, description="The preset's name.")]
FORM = FormSpec(
    files=frozenset({"reference"}),
    texts=frozenset({"name", "type", "params", "description", "label"}),
    file_limit=0,
)


class PresetJson(BaseModel):
    """POST or PUT /presets as JSON; the reference image as base64 (a data: URI is fine)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=64, description="Its name (POST); PUT's is the path's.")
    type: str = Field("preview", max_length=64, description="The app it runs.")
    params: dict[str, Any] = Field(default_factory=dict)
    description: str = Field("", max_length=500)
    label: str = Field(
        "",
        max_length=64,
        description='Its name on a page, one line ("Dusk, photoreal"); empty: the name. '
        "PUT replaces it as it does the description.",
    )
    reference_base64: str | None = Field(
        None, description="Its reference image; PUT without one keeps the previous version's."
    )


class PresetPublic(BaseModel):
    name: str
    version: int
    type: str
    params: dict[str, Any]
    description: str
    label: str = Field(description="Its name on a page; empty: show `name`.")
    reference: bool = Field(
        description="Whether it carries a reference image, served at GET /presets/{name}/reference."
    )
    built_in: bool
    created_at: datetime


PRESET_DATA = {
    "name": "facade-dusk",
    "version": 2,
    "type": "preview",
    "params": {"strength": 0.9, "smoothing": 0.5},
    "description": "Blue hour for the facade views",
    "label": "Facade, blue hour",
    "reference": True,
    "built_in": False,
    "created_at": "2026-12-06T10:00:00Z",
}
ONE = ok({"code": 0, "msg": "success", "data": PRESET_DATA})
LIST = ok({"code": 0, "msg": "success", "data": [PRESET_DATA]})
GONE = ok({"code": 0, "msg": "success", "data": {"name": "facade-dusk", "deleted": True}})
FORM_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "type": {"type": "string"},
        "params": {"type": "string", "description": "A JSON object."},
        "description": {"type": "string"},
        "label": {"type": "string", "description": "Its name on a page; at most 64."},
        "reference": {"type": "string", "format": "binary"},
    },
}
BODY: dict[str, Any] = {
    **KEY_OR_OPEN,
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": FORM_SCHEMA,
                "example": {
                    "name": "facade-dusk",
                    "type": "preview",
                    "params": '{"strength": 0.9}',
                },
            },
            "application/json": {
                "schema": PresetJson.model_json_schema(),
                "example": {
                    "name": "facade-dusk",
                    "type": "preview",
                    "params": {"strength": 0.9},
                    "reference_base64": TINY_PNG_BASE64,
                },
            },
        },
    },
}


def public(preset: Preset) -> PresetPublic:
    return PresetPublic(
        name=preset.name,
        version=preset.version,
        type=preset.app,
        params=dict(preset.params),
        description=preset.description,
        label=preset.label,
        reference=preset.reference is not None,
        built_in=preset.built_in,
        created_at=preset.created_at,
    )


@router.get(
    "",
    summary="List presets",
    response_model=Envelope[list[PresetPublic]],
    responses={200: LIST, **errors(401)},
    openapi_extra=KEY_OR_OPEN,
)
async def get_presets(services: ServicesDep, caller: CallerDep) -> JSONResponse:
    """The caller's own presets by name, then the built-in ones."""
    found = await list_presets(caller or "", services.unpack(Presetting))
    return envelope([public(preset).model_dump(mode="json") for preset in found])


@router.post(
    "",
    status_code=201,
    summary="Make a preset",
    response_model=Envelope[PresetPublic],
    responses={201: ONE, **errors(401, 409, 413, 415, 422)},
    openapi_extra=BODY,
)
async def post_preset(request: Request, services: ServicesDep, caller: CallerDep) -> JSONResponse:
    """Multipart (`name`, `type`, `params` as a JSON string, `description`, `label`,
    `reference` file) or JSON (PresetJson). 409 if the caller has a preset of that name."""
    draft = await _read_draft(request, services.settings.max_upload_bytes, name=None)
    preset = await save_preset(draft, caller or "", services.unpack(Presetting), edit=False)
    return envelope(public(preset).model_dump(mode="json"), status_code=201)


@router.get(
    "/{name}",
    summary="Read a preset",
    response_model=Envelope[PresetPublic],
    responses={200: ONE, **errors(401, 404)},
    openapi_extra=KEY_OR_OPEN,
)
async def get_preset(name: PresetName, services: ServicesDep, caller: CallerDep) -> JSONResponse:
    preset = await find_preset(name, caller or "", services.presets, services.builtin_presets)
    return envelope(public(preset).model_dump(mode="json"))


@router.get(
    "/{name}/reference",
    summary="A preset's reference image",
    response_class=Response,
    responses={
        200: {
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in IMAGES},
            "description": "The image, of the type it was uploaded as",
        },
        **errors(401, 404),
    },
    openapi_extra=KEY_OR_OPEN,
)
async def get_preset_reference(
    name: PresetName, services: ServicesDep, caller: CallerDep
) -> Response:
    builtin = services.builtin_presets
    preset = await find_preset(name, caller or "", services.presets, builtin)
    data = await reference_bytes(preset, builtin, services.blobs)
    if data is None or preset.reference is None:
        return envelope_error(404, f"preset {name!r} has no reference image")
    return Response(
        data,
        media_type=preset.reference.content_type,
        headers={"Cache-Control": "private, max-age=60"},
    )


@router.put(
    "/{name}",
    summary="Edit a preset (a new version)",
    response_model=Envelope[PresetPublic],
    responses={200: ONE, **errors(401, 404, 409, 413, 415, 422)},
    openapi_extra=BODY,
)
async def put_preset(
    name: PresetName, request: Request, services: ServicesDep, caller: CallerDep
) -> JSONResponse:
    """The same body as POST; the new version replaces type, params, description and label
    (one left out is empty), and the reference if one is given. Built-in presets are
    edited in the apps file."""
    draft = await _read_draft(request, services.settings.max_upload_bytes, name=name)
    preset = await save_preset(draft, caller or "", services.unpack(Presetting), edit=True)
    return envelope(public(preset).model_dump(mode="json"))


@router.delete(
    "/{name}",
    summary="Delete a preset",
    responses={200: GONE, **errors(401, 404)},
    openapi_extra=KEY_OR_OPEN,
)
async def remove_preset(name: PresetName, services: ServicesDep, caller: CallerDep) -> JSONResponse:
    """Every version goes; tasks made with it keep their params and reference."""
    await delete_preset(name, caller or "", services.unpack(Presetting))
    return envelope({"name": name, "deleted": True})


async def _read_draft(request: Request, max_upload_bytes: int, *, name: str | None) -> PresetDraft:
    """The body's preset; `name` the path's (PUT), or None to take the body's (POST)."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        spec = dataclasses.replace(FORM, file_limit=max_upload_bytes)
        parts = await read_form(content_type, request.stream(), spec)
        texts = {key: text_of(part) for key, part in parts.items() if key in FORM.texts}
        params = strict_json(texts.get("params") or "{}", what="params", field="params")
        fields: dict[str, Any] = {key: value for key, value in texts.items() if key != "params"}
        if not fields.get("type"):
            fields.pop("type", None)  # an empty type is the default one, as a create's is
        draft = _draft(as_model({**fields, "params": params}, PresetJson), name)
        if (reference := parts.get("reference")) is None:
            return draft
        data, kind = bytes(reference.data), reference.content_type
        return dataclasses.replace(draft, reference=data, reference_type=kind)
    if media_type == "application/json":
        model = await json_model(await read_body(request), PresetJson)
        draft = _draft(model, name)
        if not model.reference_base64:
            return draft
        data = await decoded_base64(model.reference_base64, field="reference_base64")
        return dataclasses.replace(draft, reference=data)
    raise UnsupportedInput(
        f"content type {media_type or 'missing'!r} is not accepted; "
        "send multipart/form-data or application/json"
    )


def _draft(model: PresetJson, name: str | None) -> PresetDraft:
    return PresetDraft(
        name=name if name is not None else model.name,
        app=model.type,
        params=model.params,
        description=model.description,
        label=model.label,
    )
