"""Reads POST /batches bodies (multipart or JSON) into a NewBatch, within the size limits."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from fastapi import Request

from rendergate.api.batch_schemas import BatchCreateJson, ViewJson
from rendergate.api.bodies import (
    decoded_base64,
    form_push,
    form_then,
    json_model,
    parse_params,
    read_body,
)
from rendergate.api.multipart import FormSpec, Part, read_repeating_form, text_of
from rendergate.api.task_fields import form_integer, form_seed, image_task
from rendergate.domain.batches import MAX_VIEWS, check_variations
from rendergate.domain.chains import parse_then
from rendergate.domain.errors import InvalidInput, UnsupportedInput
from rendergate.domain.events import parse_webhook_events
from rendergate.services.batching import NewBatch, NewView
from rendergate.services.create_checks import Upload
from rendergate.services.ports import Fetcher

FORM = FormSpec(
    files=frozenset({"image", "reference"}),
    texts=frozenset({"angle", "type", "preset", "params", "variations", "seed", "name", "then"})
    | frozenset({"webhook_url", "webhook_events"}),
    file_limit=0,
    repeats={"image": MAX_VIEWS, "angle": MAX_VIEWS},
)


async def read_new_batch(request: Request, *, max_upload_bytes: int, fetcher: Fetcher) -> NewBatch:
    """The body's batch: its images uploaded (each within `max_upload_bytes`) or fetched."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        spec = dataclasses.replace(FORM, file_limit=max_upload_bytes)
        parts, repeated = await read_repeating_form(content_type, request.stream(), spec)
        return _from_form(parts, repeated)
    if media_type == "application/json":
        return await _from_json(
            await json_model(await read_body(request), BatchCreateJson), fetcher
        )
    raise UnsupportedInput(
        f"content type {media_type or 'missing'!r} is not accepted; "
        "send multipart/form-data or application/json"
    )


def _from_form(parts: Mapping[str, Part], repeated: Mapping[str, list[Part]]) -> NewBatch:
    images = repeated.get("image", [])
    angles = [text_of(part).strip() for part in repeated.get("angle", [])]
    if angles and len(angles) != len(images):
        raise InvalidInput(
            f"{len(angles)} angles for {len(images)} images: give one angle per image, in "
            "the same order, or none",
            field="angle",
        )
    views = tuple(
        NewView(
            image=Upload(role="image", data=bytes(part.data), content_type=part.content_type),
            angle=angles[i] if angles else "",
        )
        for i, part in enumerate(images)
    )
    texts = {name: text_of(part) for name, part in parts.items() if name in FORM.texts}
    reference = parts.get("reference")
    push = form_push(texts)
    return NewBatch(
        views=views,
        app=texts.get("type", "").strip(),
        preset=texts.get("preset", "").strip(),
        params=parse_params(texts.get("params") or "{}"),
        reference=None
        if reference is None
        else Upload(
            role="reference", data=bytes(reference.data), content_type=reference.content_type
        ),
        variations=form_integer(texts.get("variations", ""), check_variations) or 1,
        seed=form_seed(texts.get("seed", "")),
        name=texts.get("name", "").strip(),
        then=form_then(texts.get("then", "")),
        webhook_url=push.webhook_url,
        webhook_events=parse_webhook_events(push.webhook_events, url=push.webhook_url),
    )


async def _from_json(model: BatchCreateJson, fetcher: Fetcher) -> NewBatch:
    views = tuple([await _json_view(view, i, fetcher) for i, view in enumerate(model.views)])
    reference = await _json_reference(model, fetcher)
    url = model.webhook_url or ""
    return NewBatch(
        views=views,
        app=model.type,
        preset=model.preset,
        params=model.params,
        reference=reference,
        variations=model.variations,
        seed=model.seed,
        name=model.name,
        then=parse_then([step.model_dump() for step in model.then]),
        webhook_url=url,
        webhook_events=parse_webhook_events(model.webhook_events, url=url),
    )


async def _json_view(view: ViewJson, index: int, fetcher: Fetcher) -> NewView:
    field = f"views.{index}"
    given = [view.image_base64, view.image_url, view.image_task_id]
    if sum(value is not None for value in given) != 1:
        raise InvalidInput(
            f"{field}: give exactly one of image_base64, image_url and image_task_id",
            field=field,
        )
    parent = image_task(view.image_task_id, view.image_task_index)
    if view.image_base64 is not None:
        data = await decoded_base64(view.image_base64, field=f"{field}.image_base64")
        return NewView(image=Upload(role="image", data=data), angle=view.angle)
    if view.image_url is not None:
        data, content_type = await fetcher.fetch(view.image_url, role="image")
        upload = Upload(role="image", data=data, content_type=content_type)
        return NewView(image=upload, angle=view.angle)
    return NewView(parent=parent, angle=view.angle)


async def _json_reference(model: BatchCreateJson, fetcher: Fetcher) -> Upload | None:
    if model.reference_base64 and model.reference_url:
        raise InvalidInput(
            "give reference_base64 or reference_url, not both", field="reference_base64"
        )
    if model.reference_base64:
        data = await decoded_base64(model.reference_base64, field="reference_base64")
        return Upload(role="reference", data=data)
    if model.reference_url:
        data, content_type = await fetcher.fetch(model.reference_url, role="reference")
        return Upload(role="reference", data=data, content_type=content_type)
    return None
