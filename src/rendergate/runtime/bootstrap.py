"""The composition root: turns Settings into wired, opened services, and closes them again.

The API's lifespan, the worker and the CLI all enter `open_services`; nothing is
built at import time anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate import __version__
from rendergate.blobs.base import BlobStore
from rendergate.blobs.setup import open_blobs
from rendergate.config.apps_file import load_apps
from rendergate.config.settings import Settings
from rendergate.delivery.runner import delivering
from rendergate.domain.apps import AppSpec
from rendergate.domain.errors import ConfigError
from rendergate.domain.task import Task
from rendergate.intake.fetch import UrlFetcher
from rendergate.providers import build_providers, registry
from rendergate.providers.base import Provider
from rendergate.providers.http import client_session
from rendergate.redaction import Redactor
from rendergate.runtime import data_lock
from rendergate.runtime.caps import queue_limits, routed
from rendergate.runtime.dbos_orchestrator import DbosOrchestrator
from rendergate.runtime.dbos_runtime import slots_in_use
from rendergate.runtime.membership import Membership, new_executor_id
from rendergate.runtime.pg_wakes import PostgresWakes
from rendergate.services import retention
from rendergate.services.changes import Changes
from rendergate.services.context import Orchestrator, Services, Slots, utc_now
from rendergate.services.keys import KeyRing
from rendergate.services.metrics import Metrics
from rendergate.services.retention import Turn
from rendergate.store.base import TaskStore
from rendergate.store.cached import CachedTaskStore
from rendergate.store.deliveries import SqlDeliveries, WriteTurn
from rendergate.store.events import SqlEventLog
from rendergate.store.gauges import SqlGauges
from rendergate.store.idempotency import SqlIdempotency
from rendergate.store.keys import KeyStore
from rendergate.store.patient import PatientTaskStore
from rendergate.store.sql import SqlTaskStore, create_engine, migrate
from rendergate.store.workers import WorkerInfo, WorkerRows
from rendergate.workflow.execution import TaskRunner
from rendergate.workflow.reconcile import STALE_SUBMITTED_S, reconcile

log = structlog.get_logger(__name__)

RECONCILE_EVERY_S = 60.0


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
    """Everything rendergate runs on, opened in order and closed in reverse. The keyword
    arguments replace a part (tests pass fakes); what is passed in is not closed here. With
    an `orchestrator` passed in, DBOS is not started (nor the reconcile sweep)."""
    if settings.is_single_process and not worker and orchestrator is None:
        raise ConfigError(
            "an API without a worker needs PostgreSQL (RENDERGATE_DATABASE_URL): "
            "SQLite allows one rendergate process, which must run the worker"
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        if settings.is_single_process and store is None:  # the process opening SQLite
            stack.enter_context(data_lock.holding(settings.data_dir))
        if apps is None:
            apps = load_apps(settings)
        engine, changes, metrics, write_turn = None, Changes(), Metrics(), None
        if store is None:
            store, engine, write_turn = await _open_store(settings, stack, changes, metrics)
        if providers is None:
            providers = await _open_providers(apps, settings, stack)
        services = Services(
            settings=settings,
            store=store,
            blobs=blobs if blobs is not None else await open_blobs(settings),
            apps=apps,
            providers=providers,
            fetcher=await stack.enter_async_context(_fetcher(settings)),
            redactor=Redactor(settings.secret_values()),
            large_bodies=Slots(
                "large uploads", settings.max_large_bodies, settings.max_large_bodies_per_key
            ),
            streams=Slots("event streams", None, settings.max_streams_per_key, retry_after_s=10),
            clock=clock or utc_now,
            keys=KeyRing(KeyStore(engine) if engine is not None else None, open_mode=settings.open),
            claims=SqlIdempotency(engine) if engine is not None else None,
            changes=changes,
            metrics=metrics,
        )
        if engine is not None:
            services.gauges = SqlGauges(engine)
            services.events = SqlEventLog(engine)
            services.deliveries = SqlDeliveries(engine, write_turn)
        if orchestrator is not None:
            services.orchestrator = orchestrator
        else:
            await _run_tasks(services, engine, stack, worker=worker)
        yield services


async def _run_tasks(
    services: Services,
    engine: AsyncEngine | None,
    stack: contextlib.AsyncExitStack,
    *,
    worker: bool,
) -> None:
    """DBOS, and for a worker its place in the cluster and the reconcile sweep."""
    settings = services.settings
    if engine is not None and not settings.is_single_process:  # across processes
        wakes = services.wakes = PostgresWakes(engine, services.wakeups, services.changes)
        _in_background(stack, wakes.listen(), "wakes")
    if not worker:
        services.orchestrator = await _open_dbos(services, stack, runner=None)
        return
    runner = TaskRunner(
        services,
        store=PatientTaskStore(services.store),  # waits out outages
        slots_in_use=slots_in_use,
    )
    membership = await _join(settings, engine, runner, stack) if engine else None
    executor_id = membership.me.executor_id if membership else new_executor_id()
    services.orchestrator = await _open_dbos(services, stack, runner, executor_id)
    if membership is not None:
        await membership.tick()  # at once: a worker of an earlier run may have left tasks
        _in_background(stack, membership.run(), "membership")
    await _start_reconciling(services, stack, membership)
    if services.deliveries is not None:
        _in_background(stack, await delivering(services, stack), "deliveries")


async def _join(
    settings: Settings, engine: AsyncEngine, runner: TaskRunner, stack: contextlib.AsyncExitStack
) -> Membership:
    """This worker's row in the workers table, left (state stopped) after DBOS has closed,
    so the reaper never resumes a task this process still runs."""
    me = WorkerInfo(
        executor_id=settings.executor_id or new_executor_id(),
        host=socket.gethostname(),
        pid=os.getpid(),
        app_version=__version__,
    )

    async def fence() -> None:  # stop running tasks now; the supervisor starts a new worker
        await runner.stop()
        os.kill(os.getpid(), signal.SIGTERM)

    ttl_s = settings.worker_dead_after_s
    rows = WorkerRows(engine, ttl_s=ttl_s)
    membership = Membership(rows, me, ttl_s=ttl_s, on_fenced=fence)
    await membership.join()
    stack.push_async_callback(membership.leave)
    return membership


async def _open_dbos(
    services: Services,
    stack: contextlib.AsyncExitStack,
    runner: TaskRunner | None,
    executor_id: str = "api",
) -> DbosOrchestrator:
    """DBOS running this process's workflows (a worker), or only enqueuing them."""
    settings = services.settings
    limits = queue_limits(settings, services.providers)
    orchestrator = DbosOrchestrator(settings, runner, limits, executor_id)
    stack.push_async_callback(orchestrator.close)
    await orchestrator.open()
    return orchestrator


async def _open_store(
    settings: Settings, stack: contextlib.AsyncExitStack, changes: Changes, metrics: Metrics
) -> tuple[TaskStore, AsyncEngine, WriteTurn]:
    """The task store, its engine, and its turn to write (SQLite's one writer, which the
    deliveries table shares)."""
    engine = create_engine(settings.task_database_url)
    stack.push_async_callback(engine.dispose)
    await migrate(engine)

    def changed(old: Task | None, new: Task, delivery: bool) -> None:
        changes.publish(new.task_id, delivery)
        metrics.task_changed(old, new)

    sql = SqlTaskStore(engine, changed=changed)
    store: TaskStore = CachedTaskStore(sql) if settings.is_single_process else sql
    return store, engine, sql.write_turn


async def _open_providers(
    apps: Mapping[str, AppSpec], settings: Settings, stack: contextlib.AsyncExitStack
) -> dict[str, Provider]:
    """Every provider some app's route names, fallbacks too (each gets its queue), on one
    HTTP session with room for a few connections per task each may run."""
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


async def _start_reconciling(
    services: Services, stack: contextlib.AsyncExitStack, membership: Membership | None
) -> None:
    requeued = await _reconcile_in_turn(services, membership, min_age_s=0.0)
    log.info("worker started", providers=sorted(services.providers), resumed=requeued)
    _in_background(stack, _keep_reconciling(services, membership), "reconcile")
    if retention.configured(services):
        _in_background(stack, retention.keep_pruning(services, _turn(membership)), "retention")


async def _reconcile_in_turn(
    services: Services, membership: Membership | None, *, min_age_s: float
) -> int:
    """One worker of the cluster sweeps at a time; the others skip that round."""
    async with _turn(membership)() as mine:
        return await reconcile(services=services, min_age_s=min_age_s) if mine else 0


def _turn(membership: Membership | None) -> Turn:
    """One worker of the cluster at a time (alone, always this one)."""
    if membership is None:
        return lambda: contextlib.nullcontext(True)
    return membership.turn


def _in_background(
    stack: contextlib.AsyncExitStack, loop: Coroutine[Any, Any, None], name: str
) -> None:
    """Runs a forever-loop until the services close."""
    running = asyncio.create_task(loop, name=name)

    async def stop() -> None:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    stack.push_async_callback(stop)


async def _keep_reconciling(services: Services, membership: Membership | None) -> None:
    """Re-queues tasks whose workflow never got queued (a crash between row and queue)."""
    while True:
        await asyncio.sleep(RECONCILE_EVERY_S)
        try:
            await _reconcile_in_turn(services, membership, min_age_s=STALE_SUBMITTED_S)
        except Exception:  # a database hiccup must not end the sweeper
            log.exception("reconcile failed")
