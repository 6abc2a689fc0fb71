"""The Orchestrator adapter over DBOS: starts, resumes and lists the workflows of
dbos_runtime.py, from a worker (which runs them) or an API process (which only enqueues).

A worker installs its TaskRunner and its providers' queues for the workflows to use on
`open()`, and removes them on `close()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from dbos import DBOS, DBOSClient, Queue, SetWorkflowID

from rendergate.config.settings import Settings
from rendergate.domain.errors import ConfigError, WorkflowErrored
from rendergate.domain.task import Task
from rendergate.runtime import (  # dbos_legacy: the old workflows, registered
    dbos_runtime,
)
from rendergate.runtime.dbos_runtime import run_task
from rendergate.runtime.dbos_setup import (
    dbos_config,
    has_system_tables,
    log_through_root,
    system_engine,
)
from rendergate.runtime.fair_order import FairOrder
from rendergate.runtime.workflow_rows import (
    ERRORED,
    enqueue_options,
    queue_name,
    queuing_write,
    workflow_states,
)
from rendergate.services.ports import WorkflowState
from rendergate.store.base import AlongWrite
from rendergate.workflow.execution import TaskRunner

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class QueueLimits:
    """A provider queue's caps: across the cluster (None: none) and in each worker."""

    cluster: int | None
    worker: int | None

    def __str__(self) -> str:
        across = "no cap across the cluster" if self.cluster is None else f"{self.cluster} at once"
        return across if self.worker is None else f"{across}, {self.worker} per worker"


POLL_S = 0.5  # each queue poll is a query; 0.2 s cost 4 % of a core idle


async def _say_if_caps_differ(provider: str, queue: Queue, mine: QueueLimits) -> None:
    held = QueueLimits(
        cluster=await queue.get_global_concurrency_async(),
        worker=await queue.get_worker_concurrency_async(),
    )
    if held != mine:
        log.warning(
            "this worker's caps differ from the cluster's; the cluster's hold "
            "(`rendergate migrate` sets them)",
            provider=provider,
            cluster=str(held),
            this_worker=str(mine),
        )


async def apply_caps(url: str, limits: dict[str, QueueLimits]) -> None:
    """Sets the providers' queue caps for the whole cluster (`rendergate migrate`)."""
    client = DBOSClient(system_database_url=url)
    try:
        for provider, limit in limits.items():
            await client.register_queue_async(
                queue_name(provider),
                global_concurrency=limit.cluster,
                worker_concurrency=limit.worker,
                polling_interval_sec=POLL_S,
                on_conflict="always_update",
                application_name="rendergate",
            )
    finally:
        client.destroy()


class DbosOrchestrator:
    """Runs workflows in this process (worker) or only enqueues them (API-only, PostgreSQL).

    A worker dequeues only the queues of the providers it runs, each under its per-worker
    limit, so several workers share a provider's cap instead of the first to poll taking it.
    """

    def __init__(
        self, settings: Settings, limits: dict[str, QueueLimits], executor_id: str = "api"
    ) -> None:
        """No I/O here: `open` launches DBOS, once the runner it runs exists."""
        self._settings = settings
        self._runner: TaskRunner | None = None
        self._limits = limits
        self._executor_id = executor_id
        self._client: DBOSClient | None = None  # an API process's way in
        self._enqueuer: DBOSClient | None = None  # writes a workflow in a task row's transaction
        self._queues: dict[str, Queue] = {}
        self._engine: sa.Engine | None = None  # ours to dispose: DBOS leaves a given engine
        self._order: FairOrder | None = None  # each workflow's place in its queue's order
        self._launched = False
        self._installed = False  # this process's runner is ours (dbos_runtime)

    async def open(self, runner: TaskRunner | None = None) -> None:
        """A worker's DBOS, running `runner`'s workflows; without one, only a way to enqueue
        (an API-only process)."""
        self._runner = runner
        if self._runner is None:
            url = self._settings.system_database_url
            if not await asyncio.to_thread(has_system_tables, url):
                raise ConfigError(
                    "DBOS's tables are not in the database yet: run `rendergate migrate` "
                    "(or start a worker) before an API process without one"
                )
            self._client = DBOSClient(system_database_url=url)
            self._enqueuer = self._client if self._shares_database else None
            self._order = FairOrder(self._system_engine(url))
            return
        dbos_runtime.install_runner(self._runner)
        self._installed = True  # from here close() undoes it, whatever fails next
        url = self._settings.system_database_url
        self._order = FairOrder(self._system_engine(url))
        given = self._engine if url.startswith("sqlite") else None
        config = dbos_config(self._settings, self._executor_id, given)
        DBOS(config=config)  # type: ignore[arg-type]
        DBOS.listen_queues([queue_name(provider) for provider in self._limits])
        DBOS.launch()
        self._launched = True
        log_through_root(logging.getLogger("dbos"))
        # One process (SQLite) is the whole cluster: its settings are the caps. Several share
        # the caps that `rendergate migrate` set (or the first worker, on a fresh database).
        shared = not self._settings.is_single_process
        for provider, limit in self._limits.items():
            queue = await DBOS.register_queue_async(
                queue_name(provider),
                global_concurrency=limit.cluster,
                worker_concurrency=limit.worker,
                polling_interval_sec=POLL_S,
                on_conflict="never_update" if shared else "always_update",
            )
            await _say_if_caps_differ(provider, queue, limit)
            self._queues[provider] = queue
        dbos_runtime.install_queues(self._queues, self._order)
        if self._shares_database:  # a worker that serves the API creates tasks too
            self._enqueuer = await asyncio.to_thread(DBOSClient, system_database_url=url)

    def _system_engine(self, url: str) -> sa.Engine:
        self._engine = system_engine(url)
        return self._engine

    @property
    def _shares_database(self) -> bool:
        """DBOS's tables are in the task table's PostgreSQL database (the default there)."""
        return not self._settings.is_single_process and not self._settings.dbos_database_url

    async def _stop_worker(self) -> None:
        """Undoes a worker's open, also one that failed half-way (DBOS refused to launch):
        left installed, its runner would refuse every later worker in this process."""
        try:
            if self._launched and self._runner is not None:
                await self._runner.stop()
        finally:
            DBOS.destroy(workflow_completion_timeout_sec=0)
            # DBOS made its thread pool the loop's default and has just shut it down;
            # give the loop a working one for whatever still runs on it.
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
            self._launched = self._installed = False
            dbos_runtime.uninstall()

    async def close(self) -> None:
        if self._enqueuer is not None and self._enqueuer is not self._client:
            self._enqueuer.destroy()
        self._enqueuer = None
        if self._client is not None:
            self._client.destroy()
            self._client = None
        if self._installed:
            await self._stop_worker()
        self._order = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def queuing(self, task: Task) -> AlongWrite | None:
        return None if self._enqueuer is None else queuing_write(self._enqueuer, task)

    async def states(self, tasks: Sequence[Task]) -> dict[int, WorkflowState]:
        if self._client is not None:
            return await workflow_states(self._client.list_workflows_async, tasks)
        return await workflow_states(DBOS.list_workflows_async, tasks)

    async def start(self, task: Task) -> None:
        """Queues the task's workflow in its key's next round (fair_order.py); resumes it if
        it was canceled."""
        assert self._order is not None, "open() first"
        queue = queue_name(task.provider)
        if self._client is not None:
            place = await self._order.for_owner(queue, task.owner)
            await self._client.enqueue_async(enqueue_options(task, place), task.task_id)
            return
        status, new_place = await self._order.status_or_place(queue, task.owner, task.workflow_id)
        if new_place is not None:
            with SetWorkflowID(task.workflow_id), new_place.enqueuing():
                await self._queues[task.provider].enqueue_async(run_task, task.task_id)
        elif status in ERRORED:
            raise WorkflowErrored(f"its workflow ended {status}; see the server log")
        elif status == "CANCELLED":
            log.warning("resuming a canceled workflow", task_id=task.task_id)
            # on its own queue: without one DBOS moves it to an internal queue with no cap;
            # it keeps the key and the round it was queued with
            await DBOS.resume_workflow_async(task.workflow_id, queue_name=queue)
