"""Creating a task: everything checked before anything is written (the app, its route,
the params, every image), then the inputs stored, the row and its workflow added together."""

from __future__ import annotations

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
    UnknownApp,
)
from rendergate.domain.limits import Adding, KeyLimits
from rendergate.domain.money import Money
from rendergate.domain.presets import BuiltinPresets
from rendergate.domain.task import (
    MAX_SAFE_INTEGER,
    MIN_TASK_ID,
    InputRef,
    Membership,
    ResultRef,
    Skip,
    Task,
)
from rendergate.imaging.inputs import CheckedImage
from rendergate.providers import registry
from rendergate.providers.base import Provider
from rendergate.services.admission import KeyAdmission, check_push, key_limits, within_limits
from rendergate.services.chains import checked_then
from rendergate.services.create_checks import (
    Upload,
    check_upload,
    checked_fields,
    with_parent_image,
    with_preset,
)
from rendergate.services.keys import KeyRing
from rendergate.services.ports import Fetcher, Orchestrator
from rendergate.services.routing import RunsHere
from rendergate.store.base import AlongWrite, PresetStore, TaskIdTaken, TaskStore

log = structlog.get_logger(__name__)
RANDOM_SEEDS = 2**32  # the server picks seeds below this: every seed input takes them


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
    request = await with_preset(request, creating, owner)
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
        request = await with_parent_image(request, request.parent, creating, owner)
    request = checked_fields(request, app, settings)
    await check_push(
        request.webhook_url,
        fetcher=creating.fetcher,
        webhook_secret=settings.webhook_secret,
        owner=owner,
    )
    adding = Adding(1, request.charge.amount if request.charge else Decimal(0))
    async with within_key_limits(owner, limits, adding, creating) as admit:
        registry(settings)[provider].check_params(request.params)
        checked = [(u.role, await check_upload(u, settings)) for u in request.uploads]
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


def within_key_limits(
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
    return lambda row_id: all_of([check, *([along(row_id)] if along else [])])


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
            await creating.store.add(task, along=all_of(writes) if writes else None)
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


def all_of(writes: list[AlongWrite]) -> AlongWrite:
    def write(connection: Any) -> None:
        for each in writes:
            each(connection)

    return write
