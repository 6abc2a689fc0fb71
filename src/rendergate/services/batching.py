"""Creating a batch: every view and variation checked before anything is written, then
the inputs stored, and the batch's row, its members' rows and their workflows written in
one transaction, so a batch is accepted or refused whole.

Each member is an ordinary task made as a create makes one (services/creating.py), with
the batch's app, preset version, params and reference; variation k runs with the batch's
seed plus k. Each image and the reference are decoded once, however many members use them.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from rendergate.domain.apps import AppSpec
from rendergate.domain.batches import (
    Batch,
    check_batch_seed,
    check_name,
    check_variations,
    check_view_count,
)
from rendergate.domain.chains import ThenStep
from rendergate.domain.errors import UnknownApp
from rendergate.domain.limits import Adding
from rendergate.domain.task import Membership, ResultRef, Skip, Task
from rendergate.imaging.inputs import CheckedImage
from rendergate.providers import registry
from rendergate.services.admission import check_push, key_limits
from rendergate.services.chains import checked_then
from rendergate.services.create_checks import (
    Upload,
    check_upload,
    checked_fields,
    with_parent_image,
    with_preset,
)
from rendergate.services.creating import (
    RANDOM_SEEDS,
    Creating,
    NewTask,
    admitted,
    all_of,
    charge_of,
    new_row,
    new_task_id,
    within_key_limits,
)
from rendergate.services.routing import RunsHere
from rendergate.store.base import AlongWrite, BatchStore, TaskIdTaken

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True)
class NewView:
    """One view of the model: an uploaded image, or a finished task's result."""

    image: Upload | None = None
    parent: ResultRef | None = None
    angle: str = ""


@dataclass(frozen=True, kw_only=True)
class NewBatch:
    views: tuple[NewView, ...]
    app: str = ""
    preset: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    reference: Upload | None = None
    variations: int = 1
    seed: int | None = None  # None: the server picks one
    name: str = ""
    then: tuple[ThenStep, ...] = ()
    webhook_url: str = ""
    webhook_events: tuple[str, ...] = ()
    link_base: str = ""


@dataclass(frozen=True)
class Batching:
    """What a batch create uses: a create's parts, and the batches' rows."""

    creating: Creating
    batches: BatchStore


@dataclass(frozen=True)
class _Plan:
    """A checked batch, ready to write: its row, and each view's request and images."""

    batch: Batch
    app: AppSpec
    route: tuple[str, tuple[Skip, ...], str]  # provider, the routes skipped, owner
    views: list[tuple[NewTask, list[tuple[str, CheckedImage]]]]


async def create_batch(
    request: NewBatch,
    batching: Batching,
    *,
    owner: str = "",
    along: Callable[[int], AlongWrite] | None = None,
) -> tuple[Batch, list[Task]]:
    """Checks every member first, so a refused batch stores nothing; then writes it whole
    and queues its members. `along(batch_id)`: a write for the same transaction."""
    creating = batching.creating
    check_view_count(len(request.views))
    check_variations(request.variations)
    check_name(request.name)
    template = await with_preset(_template(request), creating, owner)
    app = creating.apps.get(template.app)
    if app is None:
        known = ", ".join(sorted(creating.apps))
        raise UnknownApp(f"unknown type {template.app!r}; known types: {known}", field="type")
    here = RunsHere(creating.providers, creating.settings)
    provider, skipped = here.first_route(app)
    limits = await key_limits(owner, creating.keys, creating.settings)
    template = dataclasses.replace(
        template,
        then=checked_then(request.then, here, creating.apps),
        charge=charge_of(template, app, creating.settings.currency, limits.prices),
    )
    views = [await _view_request(template, view, creating, owner) for view in request.views]
    views = [checked_fields(view, app, creating.settings) for view in views]
    seed = secrets.randbelow(RANDOM_SEEDS) if request.seed is None else request.seed
    check_batch_seed(seed, request.variations)
    await check_push(
        request.webhook_url,
        fetcher=creating.fetcher,
        webhook_secret=creating.settings.webhook_secret,
        owner=owner,
    )
    count = len(views) * request.variations
    each = template.charge.amount if template.charge else Decimal(0)
    async with within_key_limits(owner, limits, Adding(count, each * count), creating) as admit:
        registry(creating.settings)[provider].check_params(views[0].params)
        checked = await _checked_images(views, creating.settings)
        batch = _batch_row(request, template, app, seed, owner, creating.clock())
        plan = _Plan(batch, app, (provider, skipped, owner), list(zip(views, checked, strict=True)))
        batch, members, queued = await _store(plan, batching, admitted(admit, along))
    log.info("batch created", batch_id=batch.batch_id, members=len(members), app=app.name)
    if not queued:
        for task in members:
            try:
                await creating.orchestrator.start(task)
            except Exception:  # stored: the reconcile sweep queues it shortly
                log.warning("queuing a batch member failed; reconcile will", task_id=task.task_id)
    return batch, members


def _template(request: NewBatch) -> NewTask:
    """What every member asks for, before its own image and seed."""
    uploads = (request.reference,) if request.reference is not None else ()
    return NewTask(
        app=request.app,
        preset=request.preset,
        params=dict(request.params),
        uploads=uploads,
        webhook_url=request.webhook_url,
        webhook_events=request.webhook_events,
        link_base=request.link_base,
        then=request.then,
    )


async def _view_request(
    template: NewTask, view: NewView, creating: Creating, owner: str
) -> NewTask:
    request = dataclasses.replace(template, angle=view.angle)
    if view.image is not None:
        return dataclasses.replace(request, uploads=(view.image, *request.uploads))
    if view.parent is not None:
        request = dataclasses.replace(request, parent=view.parent)
        return await with_parent_image(request, view.parent, creating, owner)
    return request  # refused by _checked_fields: a view needs an image


async def _checked_images(
    views: Sequence[NewTask], settings: Any
) -> list[list[tuple[str, CheckedImage]]]:
    """Each view's images decoded and checked; the shared reference only once."""
    decoded: dict[int, CheckedImage] = {}
    checked = []
    for view in views:
        images = []
        for upload in view.uploads:
            key = id(upload.data)
            if key not in decoded:
                decoded[key] = await check_upload(upload, settings)
            images.append((upload.role, decoded[key]))
        checked.append(images)
    return checked


def _batch_row(
    request: NewBatch, template: NewTask, app: AppSpec, seed: int, owner: str, now: datetime
) -> Batch:
    return Batch(
        batch_id=new_task_id(),
        owner=owner,
        name=request.name,
        app=app.name,
        preset=template.preset,
        preset_version=template.preset_version,
        params=dict(template.params),
        seed=seed,
        variations=request.variations,
        angles=tuple(view.angle for view in request.views),
        then=tuple(step.as_json() for step in template.then),
        webhook_url=request.webhook_url,
        link_base=request.link_base,
        created_at=now,
    )


def _members(plan: _Plan, now: datetime) -> list[Task]:
    batch, members = plan.batch, []
    for view, (request, checked) in enumerate(plan.views):
        for variation in range(batch.variations):
            member = Membership(batch.batch_id, view, variation)
            varied = dataclasses.replace(request, seed=batch.seed + variation, member=member)
            members.append(new_row(new_task_id(), varied, plan.route, checked, now=now))
    return members


async def _store(
    plan: _Plan, batching: Batching, along: Callable[[int], AlongWrite] | None
) -> tuple[Batch, list[Task], bool]:
    """Writes the inputs, then the rows in one transaction (with the workflows where the
    orchestrator shares the database: True); inputs of rows not written are removed."""
    creating = batching.creating
    for _ in range(5):
        now = creating.clock()
        members = _members(plan, now)
        written: list[str] = []
        try:
            for task, (_, checked) in zip(members, _each_member(plan), strict=True):
                for role, image in checked:
                    await creating.blobs.put(task.inputs[role].key, image.data)
                    written.append(task.inputs[role].key)
            queuing = [creating.orchestrator.queuing(task) for task in members]
            writes = [batching.batches.adding(plan.batch), *(w for w in queuing if w)]
            if along is not None:
                writes.append(along(plan.batch.batch_id))
            await creating.store.add_all(members, along=all_of(writes))
            return plan.batch, members, all(w is not None for w in queuing)
        except TaskIdTaken:
            await _remove(written, creating)
            plan = dataclasses.replace(
                plan, batch=dataclasses.replace(plan.batch, batch_id=new_task_id())
            )
        except BaseException:
            await _remove(written, creating)
            raise
    raise RuntimeError("could not draw free task ids")  # pragma: no cover - 2^53 ids


def _each_member(plan: _Plan) -> list[tuple[NewTask, list[tuple[str, CheckedImage]]]]:
    return [view for view in plan.views for _ in range(plan.batch.variations)]


async def _remove(keys: list[str], creating: Creating) -> None:
    for key in keys:
        try:
            await creating.blobs.delete(key)
        except Exception:  # a leftover input is removed by retention
            log.warning("removing an input of a batch not written failed")
