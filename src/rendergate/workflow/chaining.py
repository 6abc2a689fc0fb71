"""Chains (`then`): a completed task's next step made into a task of its own.

Making a step is safe to repeat: its task's id is derived from its parent's
(domain/chains.py), so a second attempt (a workflow replayed after a crash, the reconciler's
sweep) finds the first's row instead of writing another. The workflow's finish step
(finishing.py) makes it as soon as the parent completes; the reconciler makes any a crash
left unmade."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog

from rendergate.blobs.base import BlobStore
from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.chains import ThenStep, next_step_of
from rendergate.domain.errors import AppUnavailable, InvalidInput, UnknownApp
from rendergate.domain.task import ErrorKind, ResultRef, Task
from rendergate.imaging.inputs import check_image
from rendergate.providers.base import Provider
from rendergate.services.admission import key_limits
from rendergate.services.creating import NewTask, charge_of, new_row
from rendergate.services.keys import KeyRing
from rendergate.services.parents import parent_result
from rendergate.services.routing import RunsHere
from rendergate.store.base import TaskIdTaken, TaskStore

log = structlog.get_logger(__name__)


def inherited(parent: Task, step: ThenStep) -> NewTask:
    """What a step's task takes from the task before it: its image (result 0), the steps
    after this one, and the parent's webhook, links and seed. The one place a new field a
    child should carry (a batch's id, view, variation) is added; a step asked for later on
    a batch's results is made from it too (services/batch_steps.py)."""
    return NewTask(
        app=step.app,
        params=dict(step.params),
        then=parent.then[1:],
        webhook_url=parent.webhook_url,
        webhook_events=parent.webhook_events,
        link_base=parent.link_base,
        seed=parent.seed,
        parent=ResultRef(parent.task_id, 0),
        member=parent.member,  # a batch member's steps count in its batch, in its place
    )


@dataclass(frozen=True)
class Chaining:
    """What making a step's task uses: the apps and what runs them here, the parent's
    result and the child's input in the blob store, the rows, and the keys (a step is
    charged at its key's own price, as the key's create would be)."""

    settings: Settings
    apps: Mapping[str, AppSpec]
    providers: Mapping[str, Provider]
    store: TaskStore
    blobs: BlobStore
    clock: Callable[[], datetime]
    keys: KeyRing


async def make_next_step(parent: Task, chaining: Chaining) -> Task | None:
    """The task running `parent`'s next step, written now or found written by an earlier
    attempt; None when `parent` has none to run (not completed, or no `then`). A step that
    can no longer start (its app gone from here, the result gone or too large) is made
    failed, saying why: never silently dropped. It is not counted against the key's limits:
    its parent was, when it was accepted."""
    child_id = next_step_of(parent)
    if child_id is None:
        return None
    child, image = await _child_row(parent, child_id, chaining)
    try:
        if image is not None:
            await chaining.blobs.put(child.inputs["image"].key, image)
        await chaining.store.add(child)
    except TaskIdTaken:
        return await _made_before(parent, child_id, chaining.store)
    log.info("chain step made", task_id=child_id, parent=parent.task_id, app=child.app)
    return child


async def _child_row(parent: Task, child_id: int, chaining: Chaining) -> tuple[Task, bytes | None]:
    """The step's task as first written, and its image; failed (and no image) when it
    cannot start."""
    request, now = inherited(parent, parent.then[0]), chaining.clock()
    app = chaining.apps.get(request.app)
    provider = app.provider if app is not None else ""
    try:
        if app is None:
            raise UnknownApp(f"app {request.app!r} is not configured here any more")
        provider, skipped = RunsHere(chaining.providers, chaining.settings).first_route(app)
        limits = await key_limits(parent.owner, chaining.keys, chaining.settings)
        request = dataclasses.replace(
            request,
            params=app.checked_params(request.params),
            charge=charge_of(request, app, chaining.settings.currency, limits.prices),
        )
        assert request.parent is not None  # inherited() sets it
        data, content_type = await parent_result(
            request.parent, store=chaining.store, blobs=chaining.blobs, owner=parent.owner
        )
        settings = chaining.settings
        image = await asyncio.to_thread(
            check_image,
            data,
            role="image",
            max_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_image_pixels,
            declared_content_type=content_type,
        )
    except InvalidInput as exc:
        kind = ErrorKind.CONFIG if isinstance(exc, UnknownApp | AppUnavailable) else ErrorKind.USER
        unmade = new_row(child_id, request, (provider, (), parent.owner), [], now=now)
        message = f"the step could not start: {exc.message}"
        return unmade.fail(now=now, message=message, kind=kind), None
    route = (provider, skipped, parent.owner)
    return new_row(child_id, request, route, [("image", image)], now=now), image.data


async def _made_before(parent: Task, child_id: int, store: TaskStore) -> Task | None:
    """The step's task an earlier attempt wrote; None (logged) in the one case in 2^53
    that a task drawn at random holds the id."""
    found = await store.get(child_id)
    if found.parent == ResultRef(parent.task_id, 0) and found.owner == parent.owner:
        return found
    log.error("a chain step's id is another task's: the step is not run", parent=parent.task_id)
    return None
