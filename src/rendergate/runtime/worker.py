"""What a worker runs, all in one place: its place in the cluster (membership: heartbeat,
fence, reaper), DBOS running the task workflows, the reconcile sweep, retention, and the
webhook deliveries. An API-only process (PostgreSQL) opens DBOS only to enqueue.

The composition root (bootstrap.py) calls `join_cluster` and `dbos` before it builds the
Services (the orchestrator is one of them), and `run` after.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from rendergate import __version__
from rendergate.config.settings import Settings
from rendergate.delivery.runner import Delivering, delivering
from rendergate.providers.base import Provider
from rendergate.runtime.caps import queue_limits
from rendergate.runtime.dbos_orchestrator import DbosOrchestrator
from rendergate.runtime.dbos_runtime import slots_in_use
from rendergate.runtime.membership import Membership, new_executor_id
from rendergate.services import retention
from rendergate.services.balances import keep_watching, watches
from rendergate.services.batches import Settling, settle_all, settling_on_end
from rendergate.services.context import Services
from rendergate.services.retention import Pruning, Turn
from rendergate.store.deliveries import SqlDeliveries
from rendergate.store.patient import PatientTaskStore
from rendergate.store.workers import WorkerInfo, WorkerRows
from rendergate.workflow.execution import Running, TaskRunner
from rendergate.workflow.reconcile import STALE_SUBMITTED_S, Reconciling, reconcile

log = structlog.get_logger(__name__)

RECONCILE_EVERY_S = 60.0


@dataclass
class Cluster:
    """This process's place: its executor id, and a worker's membership (PostgreSQL)."""

    executor_id: str
    membership: Membership | None = None
    runners: list[TaskRunner] = field(default_factory=list)  # the one a fence stops


async def join_cluster(
    settings: Settings,
    engine: AsyncEngine | None,
    stack: contextlib.AsyncExitStack,
    *,
    worker: bool,
) -> Cluster:
    """A worker's row in the workers table, left (state stopped) after DBOS has closed, so
    the reaper never resumes a task this process still runs. An API process is "api"."""
    if not worker:
        return Cluster("api")
    me = WorkerInfo(
        executor_id=settings.executor_id or new_executor_id(),
        host=socket.gethostname(),
        pid=os.getpid(),
        app_version=__version__,
    )
    cluster = Cluster(me.executor_id)
    if engine is None:
        return cluster

    async def fence() -> None:  # stop running tasks now; the supervisor starts a new worker
        for runner in cluster.runners:
            await runner.stop()
        os.kill(os.getpid(), signal.SIGTERM)

    ttl_s = settings.worker_dead_after_s
    cluster.membership = Membership(
        WorkerRows(engine, ttl_s=ttl_s), me, ttl_s=ttl_s, on_fenced=fence
    )
    await cluster.membership.join()
    stack.push_async_callback(cluster.membership.leave)
    return cluster


def dbos(
    settings: Settings, providers: Mapping[str, Provider], cluster: Cluster
) -> DbosOrchestrator:
    """The orchestrator, not yet open: `run` opens it once the Services exist."""
    return DbosOrchestrator(settings, queue_limits(settings, providers), cluster.executor_id)


async def run(
    services: Services, cluster: Cluster, stack: contextlib.AsyncExitStack, *, worker: bool
) -> None:
    """Opens DBOS (running this worker's workflows, or only enqueuing), then the worker's
    loops, each stopped when the services close."""
    orchestrator = services.orchestrator
    if not isinstance(orchestrator, DbosOrchestrator):
        raise TypeError("a worker runs DBOS's orchestrator")
    runner = None
    if worker:
        patient = PatientTaskStore(services.store)  # waits out outages
        runner = TaskRunner(services.unpack(Running, store=patient), slots_in_use=slots_in_use)
        cluster.runners.append(runner)
    stack.push_async_callback(orchestrator.close)
    await orchestrator.open(runner)
    if runner is None:  # an API process: no loops of its own
        return
    if cluster.membership is not None:
        await cluster.membership.tick()  # at once: a worker of an earlier run may have left tasks
        in_background(stack, cluster.membership.run(), "membership")
    await _start_reconciling(services, stack, cluster.membership)
    for watch in watches(services.providers, services.metrics, runner.funds.topped_up):
        in_background(stack, keep_watching(watch, _turn(cluster.membership)), "balance")
    if isinstance(rows := services.deliveries, SqlDeliveries):
        parts = services.unpack(Delivering, rows=rows)
        in_background(stack, await delivering(parts, stack), "deliveries")


def in_background(
    stack: contextlib.AsyncExitStack, loop: Coroutine[Any, Any, None], name: str
) -> None:
    """Runs a forever-loop until the services close."""
    running = asyncio.create_task(loop, name=name)

    async def stop() -> None:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    stack.push_async_callback(stop)


async def _start_reconciling(
    services: Services, stack: contextlib.AsyncExitStack, membership: Membership | None
) -> None:
    reconciling = services.unpack(Reconciling)
    requeued = await _reconcile_in_turn(reconciling, membership, min_age_s=0.0)
    log.info("worker started", providers=sorted(services.providers), resumed=requeued)
    in_background(stack, _keep_reconciling(reconciling, membership), "reconcile")
    settling = services.unpack(Settling)
    in_background(stack, _keep_settling(settling, membership), "batches")
    stack.enter_context(settling_on_end(settling))
    pruning = services.unpack(Pruning, retention_days=services.settings.retention_days)
    if retention.configured(pruning):
        in_background(stack, retention.keep_pruning(pruning, _turn(membership)), "retention")


async def _reconcile_in_turn(
    reconciling: Reconciling, membership: Membership | None, *, min_age_s: float
) -> int:
    """One worker of the cluster sweeps at a time; the others skip that round."""
    async with _turn(membership)() as mine:
        return await reconcile(reconciling, min_age_s=min_age_s) if mine else 0


def _turn(membership: Membership | None) -> Turn:
    """One worker of the cluster at a time (alone, always this one)."""
    if membership is None:
        return lambda: contextlib.nullcontext(True)
    return membership.turn


async def _keep_settling(settling: Settling, membership: Membership | None) -> None:
    """Records the end of batches whose last member's workflow could not (it died first)."""
    while True:
        try:
            async with _turn(membership)() as mine:
                if mine:
                    await settle_all(settling)
        except Exception:  # a database hiccup must not end the sweeper
            log.exception("settling batches failed")
        await asyncio.sleep(RECONCILE_EVERY_S)


async def _keep_reconciling(reconciling: Reconciling, membership: Membership | None) -> None:
    """Re-queues tasks whose workflow never got queued (a crash between row and queue)."""
    while True:
        await asyncio.sleep(RECONCILE_EVERY_S)
        try:
            await _reconcile_in_turn(reconciling, membership, min_age_s=STALE_SUBMITTED_S)
        except Exception:  # a database hiccup must not end the sweeper
            log.exception("reconcile failed")
