"""The SDK's /presets calls and create()'s preset and image_task_id, on AsyncClient against a
real server on loopback: each call's answer as a typed Preset, each refusal as its
exception, and create's image-or-task rule checked before any request."""

from __future__ import annotations

from pathlib import Path

import pytest

from rendergate.client import (
    AsyncClient,
    Conflict,
    InvalidRequest,
    NotFound,
    Preset,
    TaskStatus,
)
from rendergate.config.settings import Settings
from support.images import make_png, make_scene
from support.server import serve

REFERENCE = make_png(48, 32, (30, 60, 200))
FAKE = {"fake": {"polls": 1}}


async def test_a_preset_is_made_read_edited_and_deleted(settings: Settings, tmp_path: Path) -> None:
    ref = tmp_path / "ref.png"
    ref.write_bytes(REFERENCE)
    async with serve(settings) as server, AsyncClient(server.url) as client:
        made = await client.create_preset(
            "facade",
            type="preview",
            params={"strength": 0.9},
            reference=ref,
            description="blue",
            label="Facade, blue",
        )
        assert isinstance(made, Preset)
        assert (made.name, made.version, made.type, made.description) == (
            "facade",
            1,
            "preview",
            "blue",
        )
        assert made.params["strength"] == 0.9 and made.reference and not made.built_in
        assert made.label == "Facade, blue"
        assert made.created_at is not None
        assert await client.preset("facade") == made
        assert await client.preset_reference("facade") == REFERENCE
        listed = await client.presets()
        assert listed[0] == made  # the key's own first, then the built-in ones
        assert {"dusk", "overcast"} <= {p.name for p in listed if p.built_in}
        assert {p.name: p.label for p in listed}["su_dusk"] == "Dusk, photoreal"

        edited = await client.edit_preset("facade", type="preview", params={"strength": 0.5})
        assert (edited.version, edited.params["strength"], edited.description) == (2, 0.5, "")
        assert edited.label == ""  # an edit replaces it, as it does the description
        assert edited.reference and await client.preset_reference("facade") == REFERENCE

        plain = await client.create_preset("plain", type="preview", reference=None)
        assert (plain.reference, plain.version) == (False, 1)
        with pytest.raises(NotFound, match="no reference image"):
            await client.preset_reference("plain")
        with pytest.raises(Conflict):
            await client.create_preset("facade", type="preview")

        await client.delete_preset("facade")
        for gone in (client.preset("facade"), client.delete_preset("facade")):
            with pytest.raises(NotFound):
                await gone
        assert "facade" not in {p.name for p in await client.presets()}


async def test_bad_presets_are_refused_with_what_is_wrong(settings: Settings) -> None:
    async with serve(settings) as server, AsyncClient(server.url) as client:
        with pytest.raises(InvalidRequest) as refused:
            await client.create_preset("warm", type="preview", params={"strength": 7})
        assert "strength" in refused.value.message
        with pytest.raises(ValueError, match="not a URL"):
            await client.create_preset("warm", type="preview", reference="https://x.test/r.png")
        with pytest.raises(NotFound):
            await client.edit_preset("nothing-here", type="preview")
        assert "warm" not in {p.name for p in await client.presets()}


async def test_create_with_a_preset_and_from_a_finished_task(settings: Settings) -> None:
    async with serve(settings) as server, AsyncClient(server.url) as client:
        await client.create_preset("bright", type="preview", params={"strength": 0.9})
        task = await client.create(make_scene(48, 32), preset="bright", params={"smoothing": 0.1})
        assert (task.type, task.preset, task.preset_version) == ("preview", "bright", 1)
        assert (task.params["strength"], task.params["smoothing"]) == (0.9, 0.1)
        done = await client.wait(task.task_id, timeout=30)
        assert done.status is TaskStatus.COMPLETED

        child = await client.create(image_task_id=task.task_id, type="fake", params=FAKE)
        assert (child.parent_task_id, child.parent_task_index) == (task.task_id, 0)
        assert (await client.wait(child.task_id, timeout=30)).status is TaskStatus.COMPLETED
        with_ref = await client.create(
            image_task_id=task.task_id,
            image_task_index=0,
            reference=REFERENCE,
            type="fake_ref",
            angle="top",
        )
        assert with_ref.parent_task_id == task.task_id

        with pytest.raises(InvalidRequest, match="preset"):
            await client.create(make_png(), preset="no-such-preset")
        with pytest.raises(InvalidRequest, match="not found"):
            await client.create(image_task_id=task.task_id + 1000, type="fake")


async def test_create_takes_an_image_or_a_task_exactly_one(settings: Settings) -> None:
    async with AsyncClient("http://127.0.0.1:9") as client:  # no request is made
        with pytest.raises(ValueError, match="exactly one"):
            await client.create()
        with pytest.raises(ValueError, match="exactly one"):
            await client.create(make_png(), image_task_id=1)
