"""Presets' use cases: make, edit (a new version), read, list, delete; and find the one a
create names. A key's own presets come first, then the built-in ones of the apps file."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rendergate.blobs.base import BlobNotFound, BlobStore
from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import InvalidInput, PresetExists, PresetNotFound, UnknownApp
from rendergate.domain.presets import (
    BuiltinPresets,
    Preset,
    check_description,
    check_label,
    check_name,
)
from rendergate.domain.task import InputRef
from rendergate.imaging.inputs import check_image
from rendergate.services.routing import refuse_undeclared
from rendergate.store.base import PresetStore, PresetVersionTaken

EDIT_TRIES = 3  # a PUT that loses a race to another edit reads the newest and tries again


@dataclass(frozen=True)
class Presetting:
    """What the preset use cases take."""

    settings: Settings
    apps: Mapping[str, AppSpec]
    presets: PresetStore
    builtin_presets: BuiltinPresets
    blobs: BlobStore
    clock: Callable[[], datetime]


@dataclass(frozen=True, kw_only=True)
class PresetDraft:
    """A preset as a POST or PUT gives it, checked by `save_preset`."""

    name: str
    app: str
    params: Mapping[str, Any]
    description: str = ""
    label: str = ""
    reference: bytes | None = None
    reference_type: str | None = None


async def find_preset(
    name: str, owner: str, presets: PresetStore, builtin: BuiltinPresets
) -> Preset:
    """The owner's preset of that name, else the built-in one; PresetNotFound else."""
    found = await presets.latest(owner, name)
    if found is None:
        found = builtin.presets.get(name)
    if found is None:
        raise PresetNotFound(name)
    return found


async def list_presets(owner: str, presetting: Presetting) -> list[Preset]:
    """The owner's presets, then the built-in ones their names do not hide."""
    own = await presetting.presets.all(owner)
    taken = {preset.name for preset in own}
    builtin = presetting.builtin_presets.presets
    return own + [builtin[name] for name in sorted(builtin) if name not in taken]


async def save_preset(
    draft: PresetDraft, owner: str, presetting: Presetting, *, edit: bool
) -> Preset:
    """A new preset (edit=False: 409 if the owner has one of that name) or the next
    version of one (edit=True: 404 if there is none); every check runs before anything
    is stored."""
    check_name(draft.name)
    check_description(draft.description)
    check_label(draft.label)
    app = presetting.apps.get(draft.app)
    if app is None:
        known = ", ".join(sorted(presetting.apps))
        raise UnknownApp(f"unknown type {draft.app!r}; known types: {known}", field="type")
    params = app.checked_params(draft.params)
    refuse_undeclared(app, params, presetting.settings)
    reference = await _stored_reference(draft, owner, presetting)
    for _ in range(EDIT_TRIES):
        current = await presetting.presets.latest(owner, draft.name)
        if edit and current is None:
            raise PresetNotFound(draft.name)
        if not edit and current is not None:
            raise PresetExists(f"preset {draft.name!r} exists: PUT /presets/{draft.name} edits it")
        preset = Preset(
            name=draft.name,
            version=1 if current is None else current.version + 1,
            app=app.name,
            params=params,
            reference=reference if reference or current is None else current.reference,
            description=draft.description,
            label=draft.label,
            owner=owner,
            created_at=presetting.clock(),
        )
        try:
            await presetting.presets.add(preset)
            return preset
        except PresetVersionTaken:
            continue
    raise PresetExists(f"preset {draft.name!r} is being edited by another request: try again")


async def delete_preset(name: str, owner: str, presetting: Presetting) -> None:
    """Deletes every version of the owner's preset; tasks keep naming what they ran with."""
    if not await presetting.presets.delete(owner, check_name(name), presetting.clock()):
        raise PresetNotFound(name)


async def reference_bytes(
    preset: Preset, builtin: BuiltinPresets, blobs: BlobStore
) -> bytes | None:
    """The preset's reference image, for a create that takes it."""
    if preset.reference is None:
        return None
    if preset.built_in:
        return builtin.references[preset.reference.key]
    try:
        return await blobs.get(preset.reference.key)
    except BlobNotFound as exc:
        raise InvalidInput(
            f"preset {preset.name!r} has lost its reference image: PUT it again",
            field="preset",
        ) from exc


async def _stored_reference(
    draft: PresetDraft, owner: str, presetting: Presetting
) -> InputRef | None:
    """The draft's reference, checked as an upload is and stored under a key of its
    content (so a retried PUT stores it once)."""
    if draft.reference is None:
        return None
    settings = presetting.settings
    checked = await asyncio.to_thread(
        check_image,
        draft.reference,
        role="reference",
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        declared_content_type=draft.reference_type,
    )
    digest = hashlib.sha256(checked.data).hexdigest()[:32]
    key = f"presets/{owner or 'open'}/{draft.name}/{digest}.{checked.extension}"
    await presetting.blobs.put(key, checked.data)
    return InputRef(key=key, content_type=checked.content_type)
