"""Creating a task: what it stores and starts, and the requests it refuses storing nothing
(services/creating.py), on the in-memory store and the shipped fake providers."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import pytest
from PIL import Image

from rendergate.domain import errors
from rendergate.domain.task import InputRef, Task
from rendergate.services.create_checks import Upload
from rendergate.services.creating import NewTask, create_task
from rendergate.store.memory import MemoryTaskStore
from rendergate.testing import T0, RecordingOrchestrator
from support.images import make_png
from support.world import World


async def test_create_task_stores_the_task_and_its_inputs_and_starts_it_once(world: World) -> None:
    task = await world.create(fake={"polls": 2})
    assert await world.store.get(task.task_id) == task
    assert (task.status, task.app, task.provider, task.version) == ("submitted", "fake", "fake", 0)
    assert task.params == {"fake": {"polls": 2}} and task.created_at == T0
    key = f"inputs/{task.task_id}/image.png"
    assert task.inputs == {"image": InputRef(key=key, content_type="image/png")}
    assert world.blob_keys() == [key]
    assert await world.services.blobs.get(key) == make_png()
    assert world.orchestrator.task_ids == [task.task_id]


IMAGE = (Upload(role="image", data=make_png()),)
BAD_REF = (Upload(role="reference", data=b"\x89PNG broken"),)


def new(app: str, uploads: tuple[Upload, ...] = IMAGE, **fields: Any) -> NewTask:
    return NewTask(app=app, uploads=uploads, **fields)


REFUSED = [
    (new("nope"), errors.UnknownApp, "type"),
    (new("su_render"), errors.AppUnavailable, "type"),  # no RunningHub key here
    (new("fake", ()), errors.InvalidInput, "image"),
    (new("fake", (Upload(role="reference", data=make_png()),)), errors.InvalidInput, "image"),
    (new("fake", (Upload(role="image", data=b"nope"),)), errors.UnsupportedInput, "image"),
    (new("fake_ref", angle="front"), errors.InvalidInput, "reference"),
    (new("fake_ref", IMAGE + BAD_REF, angle="side"), errors.InvalidInput, "angle"),
    (new("preview", params={"strength": 7}), errors.InvalidInput, "params.strength"),
    (new("fake", IMAGE + BAD_REF), errors.UnsupportedInput, "reference"),
    (new("fake", params={"note": "\ud800"}), errors.InvalidInput, "params"),
    (new("fake", params={"x": float("inf")}), errors.InvalidInput, "params"),
    (new("fake", angle="\udfff"), errors.InvalidInput, "angle"),
]


@pytest.mark.parametrize(("request_", "error", "field_"), REFUSED)
async def test_refused_requests_store_nothing(
    world: World, request_: NewTask, error: type[errors.InvalidInput], field_: str
) -> None:
    with pytest.raises(error) as raised:
        await create_task(request_, world.creating)
    assert raised.value.field == field_
    assert world.store.tasks == {} and world.blob_keys() == []
    assert world.orchestrator.task_ids == [] and world.fake.uploads == []


class BrokenStore(MemoryTaskStore):
    """A store whose writes fail, as a full disk or a lost database connection would."""

    async def add(self, task: Task, *, along: object = None) -> None:
        raise OSError("disk full")


class BrokenOrchestrator(RecordingOrchestrator):
    async def start(self, task: Task) -> None:
        raise ConnectionError("the queue is down")


async def test_a_task_whose_row_cannot_be_written_leaves_no_inputs(world: World) -> None:
    world.services = dataclasses.replace(world.services, store=BrokenStore())
    with pytest.raises(OSError, match="disk full"):
        await world.create()
    assert world.blob_keys() == []


async def test_a_stored_task_is_answered_even_if_queuing_fails(world: World) -> None:
    """The row is the promise: reconcile queues a task whose workflow was never started."""
    world.services = dataclasses.replace(world.services, orchestrator=BrokenOrchestrator())
    task = await world.create()
    assert (await world.store.get(task.task_id)).status == "submitted"


@pytest.mark.parametrize(("fmt", "content_type"), [("BMP", "image/bmp"), ("GIF", "image/gif")])
async def test_the_provider_receives_the_content_type_the_image_check_found(
    world: World, fmt: str, content_type: str
) -> None:
    """It was re-guessed from a four-entry table, so BMP and GIF went up as octet-stream."""
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 20, 30)).save(out, fmt)
    upload = Upload(role="image", data=out.getvalue(), content_type="application/octet-stream")
    task = await create_task(NewTask(app="fake", uploads=(upload,)), world.creating)
    assert task.inputs["image"].content_type == content_type
    await world.runner.submit(task.task_id)
    assert [u.content_type for u in world.fake.uploads] == [content_type]
