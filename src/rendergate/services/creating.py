"""Creating a task: everything checked before anything is written (the app, its route,
the params, every image), then the inputs stored, the row and its workflow added together."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from rendergate.blobs.base import BlobStore
from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.chains import ThenStep
from rendergate.domain.errors import (
    InvalidInput,
    PresetNotFound,
    UnknownApp,
)
from rendergate.domain.limits import Adding, KeyLimits
from rendergate.domain.money import Money
from rendergate.domain.presets import BuiltinPresets
from rendergate.domain.presets import apply as apply_preset
from rendergate.domain.task import (
    MAX_SAFE_INTEGER,
    MIN_TASK_ID,
    InputRef,
    Membership,
    ResultRef,
    Skip,
    Task,
    check_seed,
)
from rendergate.domain.values import check_text, check_value
from rendergate.imaging.inputs import CheckedImage, check_image
from rendergate.providers import registry
from rendergate.providers.base import Provider
from rendergate.services.admission import KeyAdmission, check_push, key_limits, within_limits
from rendergate.services.chains import checked_then
from rendergate.services.keys import KeyRing
from rendergate.services.parents import parent_result
from rendergate.services.ports import Fetcher, Orchestrator
from rendergate.services.presets import find_preset, reference_bytes
from rendergate.services.routing import RunsHere, refuse_undeclared
from rendergate.store.base import AlongWrite, PresetStore, TaskIdTaken, TaskStore

log = structlog.get_logger(__name__)
DEFAULT_APP = "preview"  # a create that names neither a type nor a preset
RANDOM_SEEDS = 2**32  # the server picks seeds below this: every seed input takes them


@dataclass(frozen=True, kw_only=True)
class Upload:
    role: str
    data: bytes
    content_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class NewTask:
    app: str
    angle: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    uploads: tuple[Upload, ...] = ()
    webhook_url: str = ""
    webhook_events: tuple[str, ...] = ()  # checked by domain.events.parse_webhook_events
    deadline_s: float | None = None
    link_base: str = ""  # the base URL of the request creating it (services/links.py)
    seed: int | None = None  # None: the server picks one, and the task records it
    rerun_of: int | None = None  # the task it runs again (services/rerunning.py)
    preset: str = ""  # a preset's name: its app, params and reference unless given here
    preset_version: int | None = None  # the version it ran with, once looked up
    preset_reference_wins: bool = False  # a re-run's preset: its reference replaces the image's
    parent: ResultRef | None = None  # a finished task's result as its image (parents.py)
    member: Membership | None = None  # its place in a batch (services/batching.py)
    price: Decimal | None = None  # its preset's price, once looked up; else the app's
    charge: Money | None = None  # what its key is charged: set by create_task
    then: tuple[ThenStep, ...] = ()  # steps run on its result once it completes (chains.py)


def charge_of(
    request: NewTask, app: AppSpec, currency: str, prices: Mapping[str, Decimal] | None = None
) -> Money | None:
    """What a render is charged: its key's price for the app (`prices`), else its preset's,
    else its app's; None: no price."""
    price = request.price if request.price is not None else app.price
    price = (prices or {}).get(app.name, price)
    return None if price is None else Money(price, currency)


def new_task_id() -> int:
    return MIN_TASK_ID + secrets.randbelow(MAX_SAFE_INTEGER - MIN_TASK_ID)


@dataclass(frozen=True)
class Creating:
    """What a create uses: the apps and the providers that run them here, the checks and
    limits of its admission, the storage of its inputs, the row, and its queue."""

    settings: Settings
    apps: Mapping[str, AppSpec]
    providers: Mapping[str, Provider]
    store: TaskStore
    blobs: BlobStore
    orchestrator: Orchestrator
    fetcher: Fetcher  # vets its webhook URL
    keys: KeyRing  # each key's own limits and prices
    admission: KeyAdmission  # counts a key's usage against them
    clock: Callable[[], datetime]
    presets: PresetStore
    builtin_presets: BuiltinPresets


async def create_task(
    request: NewTask,
    creating: Creating,
    *,
    owner: str = "",
    along: Callable[[int], AlongWrite] | None = None,
) -> Task:
    """Validates everything first, so a refused request stores nothing; then queues the task.
    `owner`: the id of the caller's API key ("" in open mode); `along(task_id)`: a write
    to do in the transaction that adds the task's row (services/idempotency.py)."""
    settings, apps = creating.settings, creating.apps
    request = await _with_preset(request, creating, owner)
    app = apps.get(request.app)
    if app is None:
        known = ", ".join(sorted(apps))
        raise UnknownApp(f"unknown type {request.app!r}; known types: {known}", field="type")
    here = RunsHere(creating.providers, settings)
    provider, skipped = here.first_route(app)
    limits = await key_limits(owner, creating.keys, settings)
    request = dataclasses.replace(
        request,
        then=checked_then(request.then, here, apps),
        charge=charge_of(request, app, settings.currency, limits.prices),
    )
    if request.parent is not None:
        request = await _with_parent_image(request, request.parent, creating, owner)
    request = _checked_fields(request, app, settings)
    await check_push(
        request.webhook_url,
        fetcher=creating.fetcher,
        webhook_secret=settings.webhook_secret,
        owner=owner,
    )
    adding = Adding(1, request.charge.amount if request.charge else Decimal(0))
    async with _within_limits(owner, limits, adding, creating) as admit:
        registry(settings)[provider].check_params(request.params)
        checked = [(u.role, await _check_image(u, settings)) for u in request.uploads]
        route = (provider, skipped, owner)
        task, queued = await _store_new(
            request, route, checked, creating, along=admitted(admit, along)
        )
    log.info("task created", task_id=task.task_id, app=app.name)
    if not queued:
        try:
            await creating.orchestrator.start(task)
        except Exception:  # the task is stored: the reconcile sweep queues it shortly
            log.warning("queuing the new task failed; reconcile will", task_id=task.task_id)
    return task


def _within_limits(
    owner: str, limits: KeyLimits, adding: Adding, creating: Creating
) -> contextlib.AbstractAsyncContextManager[AlongWrite | None]:
    """The key's limits for `adding` (services/admission.py)."""
    return within_limits(
        owner,
        limits,
        adding,
        admission=creating.admission,
        settings=creating.settings,
        clock=creating.clock,
    )


def admitted(
    admit: AlongWrite | None, along: Callable[[int], AlongWrite] | None
) -> Callable[[int], AlongWrite] | None:
    """`along` with the limits' check first, in the same transaction."""
    if admit is None:
        return along
    check = admit
    return lambda row_id: _all_of([check, *([along(row_id)] if along else [])])


def _checked_fields(request: NewTask, app: AppSpec, settings: Settings) -> NewTask:
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


async def _with_preset(request: NewTask, creating: Creating, owner: str) -> NewTask:
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


async def _with_parent_image(
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


async def _check_image(upload: Upload, settings: Settings) -> CheckedImage:
    """The upload decoded and checked, in a thread: decoding takes a CPU for a while."""
    return await asyncio.to_thread(
        check_image,
        upload.data,
        role=upload.role,
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        declared_content_type=upload.content_type,
    )


async def _store_new(
    request: NewTask,
    route: tuple[str, tuple[Skip, ...], str],  # provider, the routes skipped, owner
    checked: list[tuple[str, CheckedImage]],
    creating: Creating,
    *,
    along: Callable[[int], AlongWrite] | None = None,
) -> tuple[Task, bool]:
    """Writes the inputs, then the row, and with it the workflow where the orchestrator
    shares the database (True: queued too); inputs whose row was not written are removed
    again, so a request that fails here leaves nothing behind."""
    for _ in range(5):
        task = new_row(new_task_id(), request, route, checked, now=creating.clock())
        inputs = task.inputs
        try:
            for role, image in checked:
                await creating.blobs.put(inputs[role].key, image.data)
            queuing = creating.orchestrator.queuing(task)
            writes = [w for w in (queuing, along and along(task.task_id)) if w is not None]
            await creating.store.add(task, along=_all_of(writes) if writes else None)
            return task, queuing is not None
        except TaskIdTaken:
            continue
        except BaseException:
            for ref in inputs.values():
                with contextlib.suppress(Exception):
                    await creating.blobs.delete(ref.key)
            raise
    raise RuntimeError("could not draw a free task id")  # pragma: no cover - 2^53 ids


def new_row(
    task_id: int,
    request: NewTask,
    route: tuple[str, tuple[Skip, ...], str],
    checked: list[tuple[str, CheckedImage]],
    *,
    now: datetime,
) -> Task:
    """The task as its row is first written: submitted, on its route, its inputs named."""
    provider, skipped, owner = route
    inputs = {
        role: InputRef(
            key=f"inputs/{task_id}/{role}.{image.extension}", content_type=image.content_type
        )
        for role, image in checked
    }
    return Task(
        task_id=task_id,
        app=request.app,
        provider=provider,
        skipped=skipped,
        angle=request.angle,
        params=dict(request.params),
        inputs=inputs,
        callback_token=secrets.token_urlsafe(24),
        owner=owner,
        webhook_url=request.webhook_url,
        webhook_events=request.webhook_events,
        deadline_s=request.deadline_s,
        seed=secrets.randbelow(RANDOM_SEEDS) if request.seed is None else request.seed,
        rerun_of=request.rerun_of,
        preset=request.preset,
        preset_version=request.preset_version,
        parent=request.parent,
        member=request.member,
        then=request.then,
        link_base=request.link_base,
        charge=request.charge,
        created_at=now,
        updated_at=now,
    )


def _all_of(writes: list[AlongWrite]) -> AlongWrite:
    def write(connection: Any) -> None:
        for each in writes:
            each(connection)

    return write
