"""Each task as a DBOS workflow on a queue per provider.

DBOS registers workflows by decorator, so the workflow functions live at module
level; the runner they call and the queues they enqueue on are installed by
`DbosOrchestrator.open()` and removed by `close()`. Nothing runs at import time.

A task that falls back to another route gets a new workflow (`task-<id>.<skips>`) on that
provider's queue, enqueued by the workflow it leaves: DBOS records the enqueue as a step of
the old workflow, so a replay after a crash finds it instead of enqueuing again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from dbos import DBOS, DBOSClient, Queue, SetWorkflowID

from rendergate.config.settings import Settings
from rendergate.domain.errors import ConfigError, RendergateError, WorkflowErrored
from rendergate.domain.task import Task
from rendergate.domain.values import clean_text
from rendergate.runtime.dbos_setup import (
    dbos_config,
    has_system_tables,
    log_through_root,
    sqlite_engine,
)
from rendergate.runtime.step_codec import (
    submit_from_json,
    submit_to_json,
    tracked_from_json,
    tracked_to_json,
)
from rendergate.runtime.workflow_rows import (
    ERRORED,
    WORKFLOW_NAME,
    enqueue_options,
    queue_name,
    queuing_write,
    workflow_states,
)
from rendergate.services.context import WorkflowState
from rendergate.store.base import AlongWrite
from rendergate.workflow.execution import TaskRunner
from rendergate.workflow.outcomes import Finished, Moved, SubmitResult, TrackOutcome

log = structlog.get_logger(__name__)
T = TypeVar("T")

MAX_SUBMISSIONS = 5  # a provider that keeps losing the job fails the task after this many
_runner: TaskRunner | None = None
_queues: dict[str, Queue] = {}  # provider -> its queue, while a worker is open


def _active_runner() -> TaskRunner:
    if _runner is None:
        raise RuntimeError("no TaskRunner installed: DbosOrchestrator.open() was not called")
    return _runner


async def slots_in_use(provider: str) -> int:
    """The provider queue's workflows past their dequeue: its cap bounds them, and each
    may have one job at the provider (SubmitStep's check after an unanswered submit)."""
    running = await DBOS.list_workflows_async(
        queue_name=queue_name(provider), status="PENDING", load_input=False, load_output=False
    )
    return len(running)


async def _queue_for(provider: str, timeout_s: float = 30.0) -> Queue:
    """The provider's queue. A workflow that DBOS recovers at launch may get here before
    open() has registered the queues: it waits for them (bounded) instead of failing."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (queue := _queues.get(provider)) is None:
        if asyncio.get_running_loop().time() >= deadline:
            raise RuntimeError(f"no DBOS queue for provider {provider!r}")
        await asyncio.sleep(0.05)
    return queue


class StepFailed(RendergateError):
    """A step's unexpected error as DBOS records it: the error's type and a scrubbed, short
    message. The original may hold secrets (a UnicodeEncodeError carries the whole request
    body it failed on, API key included), and DBOS pickles errors into its database."""

    def __init__(self, message: str, *, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


async def _contained(task_id: int, step: Awaitable[T]) -> T:
    try:
        return await step
    except Exception as exc:
        log.error("task step failed", task_id=task_id, exc_info=exc)  # scrubbed, bounded
        detail = _active_runner().redactor.scrub(clean_text(str(exc), 200))
        kind = type(exc).__name__
        raise StepFailed(f"{kind}: {detail}" if detail else kind, kind=kind) from None


# The steps as DBOS records them: JSON in and out (step_codec.py), typed values inside.


@DBOS.step(name="rendergate.submit")
async def _submit_step(task_id: int, workflow_id: str | None) -> dict[str, Any]:
    runner = _active_runner()
    if runner.draining:  # stopping: left for another worker, never half submitted here
        await asyncio.Event().wait()  # until stop() interrupts it
    with runner.busy(task_id):
        result = await _contained(task_id, runner.submit(task_id, workflow_id))
    return submit_to_json(result)


@DBOS.step(name="rendergate.track")
async def _track_step(task_id: int) -> dict[str, Any]:
    return tracked_to_json(await _contained(task_id, _active_runner().track(task_id)))


@DBOS.step(name="rendergate.collect")
async def _collect_step(task_id: int, tracked: dict[str, Any]) -> None:
    runner = _active_runner()
    with runner.busy(task_id):
        await _contained(task_id, runner.collect(task_id, tracked_from_json(tracked)))


async def _submitted(task_id: int) -> SubmitResult:
    return submit_from_json(await _submit_step(task_id, DBOS.workflow_id))


@DBOS.step(name="rendergate.give_up")
async def _give_up_step(task_id: int) -> None:
    await _active_runner().fail(
        task_id, f"the provider lost the job {MAX_SUBMISSIONS} times", kind="provider"
    )


@DBOS.step(name="rendergate.fail_internal")
async def _internal_error_step(task_id: int, error: str) -> None:
    await _active_runner().fail(
        task_id, f"internal error while running the task ({error}); see the server log", "internal"
    )


@DBOS.workflow(name=WORKFLOW_NAME)
async def run_task(task_id: int) -> str:
    """submit -> track -> collect; a lost job goes round again, a bounded number of times.

    A bug or an unexpected error fails the task with a message instead of leaving it stuck.
    """
    with _active_runner().in_flight(task_id):
        try:
            for _ in range(MAX_SUBMISSIONS):
                submitted = await _submitted(task_id)
                if isinstance(submitted, Finished):
                    return TrackOutcome.FINISHED.value
                if isinstance(submitted, Moved):  # its own workflow, on its provider's queue
                    queue = await _queue_for(submitted.provider)
                    with SetWorkflowID(submitted.workflow_id):
                        await queue.enqueue_async(run_task, task_id)
                    return "moved"
                recorded = await _track_step(task_id)  # handed on to collect as DBOS has it
                outcome = tracked_from_json(recorded).outcome
                if outcome is TrackOutcome.LOST:
                    continue
                if outcome is TrackOutcome.SUCCEEDED:
                    await _collect_step(task_id, recorded)
                return outcome.value
            await _give_up_step(task_id)
        except Exception as exc:
            kind = exc.kind if isinstance(exc, StepFailed) else type(exc).__name__
            log.error("task workflow failed", task_id=task_id, error=kind)
            await _internal_error_step(task_id, kind)
        return TrackOutcome.FINISHED.value


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
        self,
        settings: Settings,
        runner: TaskRunner | None,
        limits: dict[str, QueueLimits],
        executor_id: str = "api",
    ) -> None:
        self._settings = settings
        self._runner = runner
        self._limits = limits
        self._executor_id = executor_id
        self._client: DBOSClient | None = None  # an API process's way in
        self._enqueuer: DBOSClient | None = None  # writes a workflow in a task row's transaction
        self._queues: dict[str, Queue] = {}
        self._engine: sa.Engine | None = None  # ours to dispose: DBOS leaves a given engine
        self._launched = False

    async def open(self) -> None:
        global _runner, _queues
        if self._runner is None:
            url = self._settings.system_database_url
            if not await asyncio.to_thread(has_system_tables, url):
                raise ConfigError(
                    "DBOS's tables are not in the database yet: run `rendergate migrate` "
                    "(or start a worker) before an API process without one"
                )
            self._client = DBOSClient(system_database_url=url)
            self._enqueuer = self._client if self._shares_database else None
            return
        if _runner is not None:
            raise RuntimeError("a DBOS worker is already running in this process")
        _runner = self._runner
        url = self._settings.system_database_url
        self._engine = sqlite_engine(url) if url.startswith("sqlite") else None
        config = dbos_config(self._settings, self._executor_id, self._engine)
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
        _queues = self._queues
        if self._shares_database:  # a worker that serves the API creates tasks too
            self._enqueuer = await asyncio.to_thread(DBOSClient, system_database_url=url)

    @property
    def _shares_database(self) -> bool:
        """DBOS's tables are in the task table's PostgreSQL database (the default there)."""
        return not self._settings.is_single_process and not self._settings.dbos_database_url

    async def close(self) -> None:
        global _runner, _queues
        if self._enqueuer is not None and self._enqueuer is not self._client:
            self._enqueuer.destroy()
        self._enqueuer = None
        if self._client is not None:
            self._client.destroy()
            self._client = None
        if self._launched:
            if self._runner is not None:
                await self._runner.stop()
            DBOS.destroy(workflow_completion_timeout_sec=0)
            # DBOS made its thread pool the loop's default and has just shut it down;
            # give the loop a working one for whatever still runs on it.
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
            self._launched = False
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
            _runner = None
            _queues = {}

    def queuing(self, task: Task) -> AlongWrite | None:
        return None if self._enqueuer is None else queuing_write(self._enqueuer, task)

    async def states(self, tasks: Sequence[Task]) -> dict[int, WorkflowState]:
        if self._client is not None:
            return await workflow_states(self._client.list_workflows_async, tasks)
        return await workflow_states(DBOS.list_workflows_async, tasks)

    async def start(self, task: Task) -> None:
        if self._client is not None:
            await self._client.enqueue_async(enqueue_options(task), task.task_id)
            return
        status = await DBOS.get_workflow_status_async(task.workflow_id)
        if status is None:
            with SetWorkflowID(task.workflow_id):
                await self._queues[task.provider].enqueue_async(run_task, task.task_id)
        elif status.status in ERRORED:
            raise WorkflowErrored(f"its workflow ended {status.status}; see the server log")
        elif status.status == "CANCELLED":
            log.warning("resuming a canceled workflow", task_id=task.task_id)
            # on its own queue: without one DBOS moves it to an internal queue with no cap
            await DBOS.resume_workflow_async(task.workflow_id, queue_name=queue_name(task.provider))
