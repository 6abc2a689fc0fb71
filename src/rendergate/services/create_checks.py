"""A create's request made whole and checked before anything is written: its preset
applied, a finished task's result taken as its image, its own fields checked against its
app, and each image checked whole (creating.py and batching.py alike)."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import InvalidInput, PresetNotFound
from rendergate.domain.presets import apply as apply_preset
from rendergate.domain.task import ResultRef, check_seed
from rendergate.domain.values import check_text, check_value
from rendergate.imaging.inputs import CheckedImage, check_image
from rendergate.services.parents import parent_result
from rendergate.services.presets import find_preset, reference_bytes
from rendergate.services.routing import refuse_undeclared

if TYPE_CHECKING:
    from rendergate.services.creating import Creating, NewTask

DEFAULT_APP = "preview"  # a create that names neither a type nor a preset


@dataclass(frozen=True, kw_only=True)
class Upload:
    role: str
    data: bytes
    content_type: str | None = None


def checked_fields(request: NewTask, app: AppSpec, settings: Settings) -> NewTask:
    """The request's own fields checked against its app, its params with the app's
    defaults filled in; InvalidInput naming the first field that is wrong."""
    roles = {upload.role for upload in request.uploads}
    if "image" not in roles:
        raise InvalidInput(
            "an image is required (or image_task_id: a finished task's result)", field="image"
        )
    check_value(dict(request.params), what="params", field="params")
    if request.seed is not None:
        check_seed(request.seed)
    request = dataclasses.replace(request, params=app.checked_params(request.params))
    refuse_undeclared(app, request.params, settings)
    for name in ("angle", "webhook_url"):  # a form's text fields, which nothing checked yet
        check_text(getattr(request, name), what=name, field=name)
    app.check_request(angle=request.angle, has_reference="reference" in roles)
    app.check_deadline_s(request.deadline_s)
    return request


async def with_preset(request: NewTask, creating: Creating, owner: str) -> NewTask:
    """The request with its preset's app, params and reference where it gives none of its
    own (params merge over the preset's), and the version looked up; the default app
    (preview) without a preset."""
    if not request.preset or request.preset_version is not None:  # none, or applied already
        return request if request.app else dataclasses.replace(request, app=DEFAULT_APP)
    builtin = creating.builtin_presets
    try:
        preset = await find_preset(request.preset, owner, creating.presets, builtin)
    except PresetNotFound:
        raise InvalidInput(
            f"preset {request.preset!r} not found: GET /presets lists yours and the built-in ones",
            field="preset",
        ) from None
    wins = request.preset_reference_wins
    has_reference = any(u.role == "reference" for u in request.uploads) and not wins
    applied = apply_preset(
        preset, app=request.app, params=request.params, has_reference=has_reference
    )
    uploads = request.uploads
    if applied.reference is not None:
        data = await reference_bytes(preset, builtin, creating.blobs)
        if data is not None:
            kind = applied.reference.content_type
            uploads = tuple(u for u in uploads if u.role != "reference")
            uploads = (*uploads, Upload(role="reference", data=data, content_type=kind))
    return dataclasses.replace(
        request,
        app=applied.app,
        params=applied.params,
        uploads=uploads,
        preset_version=preset.version,
        price=preset.price,
    )


async def with_parent_image(
    request: NewTask, parent: ResultRef, creating: Creating, owner: str
) -> NewTask:
    """`request` with `parent`, a finished task's result, as its image (not uploaded too)."""
    if any(upload.role == "image" for upload in request.uploads):
        raise InvalidInput("give an image or image_task_id, not both", field="image_task_id")
    data, content_type = await parent_result(
        parent, store=creating.store, blobs=creating.blobs, owner=owner
    )
    image = Upload(role="image", data=data, content_type=content_type)
    return dataclasses.replace(request, uploads=(image, *request.uploads))


async def check_upload(upload: Upload, settings: Settings) -> CheckedImage:
    """The upload checked (imaging/inputs.py), in a thread: a large image takes a while."""
    return await asyncio.to_thread(
        check_image,
        upload.data,
        role=upload.role,
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        declared_content_type=upload.content_type,
    )
