"""The composition root: turns Settings into wired, opened services, and closes them again.

The API's lifespan, the worker and the CLI all enter `open_services`; nothing is
built at import time anywhere else.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate.blobs.base import BlobStore
from rendergate.blobs.setup import open_blobs
from rendergate.config.apps_file import load_apps_and_presets
from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.costing import Rates
from rendergate.domain.errors import ConfigError
from rendergate.domain.presets import BuiltinPresets
from rendergate.domain.task import Task
from rendergate.intake.fetch import UrlFetcher
from rendergate.providers import build_providers, registry
from rendergate.providers.base import Provider
from rendergate.providers.http import client_session
from rendergate.redaction import Redactor
from rendergate.runtime import data_lock
from rendergate.runtime import worker as worker_side
from rendergate.runtime.caps import routed
from rendergate.runtime.pg_rounds import CatchUp
from rendergate.runtime.pg_wakes import PostgresWakes
from rendergate.runtime.pricing import rates_of
from rendergate.runtime.worker import Cluster, in_background
from rendergate.services.changes import Changes
from rendergate.services.context import Services, Slots, Wakeups, utc_now
from rendergate.services.keys import KeyRing
from rendergate.services.metrics import Metrics
from rendergate.services.ports import Orchestrator, WakeChannel
from rendergate.store.base import TaskStore
from rendergate.store.batches import SqlBatchStore
from rendergate.store.cached import CachedTaskStore
from rendergate.store.deliveries import SqlDeliveries, WriteTurn
from rendergate.store.events import SqlEventLog
from rendergate.store.gauges import SqlGauges
from rendergate.store.idempotency import SqlIdempotency
from rendergate.store.keys import KeyStore
from rendergate.store.limits import SqlAdmission
from rendergate.store.presets import SqlPresetStore
from rendergate.store.shares import SqlShareStore
from rendergate.store.sql import SqlTaskStore, create_engine, migrate
from rendergate.store.usage_reads import SqlUsage

log = structlog.get_logger(__name__)

API_ALONE_ON_SQLITE = (
    "an API without a worker needs PostgreSQL (RENDERGATE_DATABASE_URL): "
    "SQLite allows one rendergate process, which must run the worker"
)


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    worker: bool = True,
    apps: Mapping[str, AppSpec] | None = None,
    store: TaskStore | None = None,
    blobs: BlobStore | None = None,
    providers: Mapping[str, Provider] | None = None,
    clock: Callable[[], datetime] | None = None,
    orchestrator: Orchestrator | None = None,
) -> AsyncIterator[Services]:
    """Everything rendergate runs on, built once, in order, and closed in reverse; the
    Services handed out are frozen. The keyword arguments replace a part (tests pass fakes);
    what is passed in is not closed here. With an `orchestrator` passed in, DBOS is not
    started (nor the worker's loops: runtime/worker.py)."""
    if settings.is_single_process and not worker and orchestrator is None:
        raise ConfigError(API_ALONE_ON_SQLITE)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        if settings.is_single_process and store is None:  # the process opening SQLite
            stack.enter_context(data_lock.holding(settings.data_dir))
        apps, presets = _apps_and_presets(apps, settings)
        changes, metrics, wakeups = Changes(), Metrics(), Wakeups()
        opening = (settings, stack, changes, metrics, rates_of(settings, apps))
        store, engine, sql = await _open_storage(store, *opening)
        providers = await _open_providers(providers, apps, settings, stack)
        wakes = _wakes(settings, engine, wakeups, changes, stack)
        orchestrator, cluster = await _orchestration(
            orchestrator, settings, engine, providers, stack, worker=worker
        )
        services = Services(
            settings=settings,
            store=store,
            blobs=blobs if blobs is not None else await open_blobs(settings),
            apps=apps,
            builtin_presets=presets,
            providers=providers,
            orchestrator=orchestrator,
            fetcher=await stack.enter_async_context(_fetcher(settings)),
            wakeups=wakeups,
            wakes=wakes,
            redactor=Redactor(settings.secret_values()),
            clock=clock or utc_now,
            changes=changes,
            metrics=metrics,
            **sql,
            **_request_guards(settings, engine),
        )
        if cluster is not None:
            await worker_side.run(services, cluster, stack, worker=worker)
        yield services


async def _orchestration(
    orchestrator: Orchestrator | None,
    settings: Settings,
    engine: AsyncEngine | None,
    providers: Mapping[str, Provider],
    stack: contextlib.AsyncExitStack,
    *,
    worker: bool,
) -> tuple[Orchestrator, Cluster | None]:
    """The orchestrator passed in (then no cluster: nothing of DBOS starts), or DBOS on this
    process's place in the cluster, which it joins here."""
    if orchestrator is not None:
        return orchestrator, None
    cluster = await worker_side.join_cluster(settings, engine, stack, worker=worker)
    return worker_side.dbos(settings, providers, cluster), cluster


def _request_guards(settings: Settings, engine: AsyncEngine | None) -> dict[str, Any]:
    """What bounds and admits requests: the large-body and stream slots, the key ring."""
    return {
        "large_bodies": Slots(
            "large uploads", settings.max_large_bodies, settings.max_large_bodies_per_key
        ),
        "streams": Slots("event streams", None, settings.max_streams_per_key, retry_after_s=10),
        "keys": KeyRing(KeyStore(engine) if engine is not None else None, open_mode=settings.open),
    }


def _apps_and_presets(
    apps: Mapping[str, AppSpec] | None, settings: Settings
) -> tuple[Mapping[str, AppSpec], BuiltinPresets]:
    """The apps files' apps and presets; apps passed in (a test's) come without presets."""
    if apps is not None:
        return apps, BuiltinPresets()
    return load_apps_and_presets(settings)


def _sql_parts(engine: AsyncEngine, write_turn: WriteTurn) -> dict[str, Any]:
    """What only the SQL store keeps: Idempotency-Keys, event logs, deliveries, gauges,
    presets, batches, share links, the counts of key limits."""
    return {
        "claims": SqlIdempotency(engine),
        "gauges": SqlGauges(engine),
        "events": SqlEventLog(engine),
        "deliveries": SqlDeliveries(engine, write_turn),
        "presets": SqlPresetStore(engine),
        "shares": SqlShareStore(engine),
        "batches": SqlBatchStore(engine, write_turn),
        "usage": SqlUsage(engine),
        "admission": SqlAdmission(engine, write_turn),
    }


def _wakes(
    settings: Settings,
    engine: AsyncEngine | None,
    wakeups: Wakeups,
    changes: Changes,
    stack: contextlib.AsyncExitStack,
) -> WakeChannel | None:
    """Wakes across processes (PostgreSQL's LISTEN/NOTIFY); None: in this process only."""
    if engine is None or settings.is_single_process:
        return None
    catch_up = CatchUp(engine)
    stack.push_async_callback(catch_up.aclose)
    changes.catch_up_by(catch_up.caught_up)  # kept answers wait for the feed to catch up
    wakes = PostgresWakes(engine, wakeups, changes, catch_up)
    in_background(stack, wakes.listen(), "wakes")
    return wakes


async def _open_storage(
    store: TaskStore | None,
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    changes: Changes,
    metrics: Metrics,
    rates: Rates,
) -> tuple[TaskStore, AsyncEngine | None, dict[str, Any]]:
    """The task store passed in (then no engine and no SQL parts), or the SQL store opened
    here with its engine and the parts only it keeps, which share its turn to write (SQLite's
    one writer)."""
    if store is not None:
        return store, None, {}
    engine = create_engine(settings.task_database_url)
    stack.push_async_callback(engine.dispose)
    await migrate(engine)

    def changed(old: Task | None, new: Task, delivery: bool) -> None:
        changes.publish(new.task_id, delivery)
        if old is None and new.parent is not None:  # its parent's children changed
            changes.publish(new.parent.task_id, False)
        metrics.task_changed(old, new)
        if new.status.is_terminal and (old is None or not old.status.is_terminal):
            changes.ended(new)

    sql = SqlTaskStore(engine, changed=changed, rates=rates)
    opened: TaskStore = CachedTaskStore(sql) if settings.is_single_process else sql
    return opened, engine, _sql_parts(engine, sql.write_turn)


async def _open_providers(
    providers: Mapping[str, Provider] | None,
    apps: Mapping[str, AppSpec],
    settings: Settings,
    stack: contextlib.AsyncExitStack,
) -> Mapping[str, Provider]:
    """The providers passed in, or every provider some app's route names, fallbacks too (each
    gets its queue), on one HTTP session with room for a few connections per task each may
    run."""
    if providers is not None:
        return providers
    routes = routed(apps)
    entries = registry(settings)
    caps = [entries[name].concurrency(settings) or 1 for name in routes if name in entries]
    http = client_session(connections=max(100, 4 * sum(caps)))
    stack.push_async_callback(http.close)  # after the adapters: pushed first, closed last
    providers = build_providers(routes, settings, http)
    for provider in providers.values():
        stack.push_async_callback(provider.aclose)
    return providers


def _fetcher(settings: Settings) -> UrlFetcher:
    return UrlFetcher(
        max_bytes=settings.max_upload_bytes,
        timeout_s=settings.fetch_timeout_s,
        allow=settings.fetch_allow,
    )
