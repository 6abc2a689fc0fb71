"""The runner of a task's workflow steps: submit (submission.py), track (tracking.py) and
collect (collection.py), each a separate piece that receives only what it uses.

Each step reads the task from the store and is safe to run again after a crash: a task with
a provider job is not submitted twice, and a finished task is left alone. The orchestrator
(DBOS) checkpoints between steps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from rendergate.blobs.base import BlobStore
from rendergate.config.settings import Settings
from rendergate.domain.apps import AppSpec
from rendergate.domain.task import ErrorKind, Task
from rendergate.providers.base import Provider
from rendergate.redaction import Redactor
from rendergate.services.context import Wakeups
from rendergate.services.keys import KeyRing
from rendergate.services.metrics import Metrics
from rendergate.services.writer import TaskWriter
from rendergate.store.base import TaskStore
from rendergate.workflow.chaining import Chaining
from rendergate.workflow.circuit import Circuits
from rendergate.workflow.collection import CollectStep
from rendergate.workflow.finishing import FinishStep
from rendergate.workflow.funds import Funds
from rendergate.workflow.outcomes import (
    Finished,
    Made,
    Moved,
    Ran,
    RunEnd,
    SubmitResult,
    Tracked,
    TrackOutcome,
)
from rendergate.workflow.provider_calls import DEFAULT_BACKOFF, Backoff
from rendergate.workflow.submission import SubmitStep
from rendergate.workflow.tracker import Tracker
from rendergate.workflow.tracking import TrackStep
from rendergate.workflow.unanswered import SlotsInUse

log = structlog.get_logger(__name__)

DRAIN_S = 10.0  # how long a stopping worker lets submits and downloads under way finish
MAX_SUBMISSIONS = 5  # a provider that keeps losing the job fails the task after this many


@dataclass(frozen=True)
class Running:
    """What the steps use between them; each step is handed its own part of it."""

    settings: Settings
    store: TaskStore  # the worker's waits out outages (store/patient.py)
    blobs: BlobStore
    apps: Mapping[str, AppSpec]
    providers: Mapping[str, Provider]
    wakeups: Wakeups  # this process's tracking loops
    metrics: Metrics
    clock: Callable[[], datetime]
    redactor: Redactor
    keys: KeyRing  # a chain step's price is its key's


class TaskRunner:
    """The three steps over one set of parts, and the workflows running them."""

    def __init__(
        self,
        running: Running,
        backoff: Backoff = DEFAULT_BACKOFF,
        slots_in_use: SlotsInUse | None = None,  # the orchestrator's count (SubmitStep)
    ) -> None:
        settings, metrics = running.settings, running.metrics
        self.writer = TaskWriter(running.store, running.clock, running.redactor)
        self.circuits = Circuits(settings.circuit_failures, settings.circuit_open_s)
        self.funds = Funds(settings.circuit_open_s)  # the balance watch reads it too
        self.submit_step = SubmitStep(
            writer=self.writer,
            providers=running.providers,
            apps=running.apps,
            blobs=running.blobs,
            settings=settings,
            circuits=self.circuits,
            funds=self.funds,
            backoff=backoff,
            slots_in_use=slots_in_use,
            observe=metrics,
        )
        self.tracker = Tracker(writer=self.writer, wakeups=running.wakeups, observe=metrics)
        self.track_step = TrackStep(
            writer=self.writer,
            providers=running.providers,
            apps=running.apps,
            tracker=self.tracker,
        )
        self.collect_step = CollectStep(
            writer=self.writer, providers=running.providers, blobs=running.blobs, observe=metrics
        )
        chaining = Chaining(
            settings=settings,
            apps=running.apps,
            providers=running.providers,
            store=running.store,
            blobs=running.blobs,
            clock=running.clock,
            keys=running.keys,
        )
        self.finish_step = FinishStep(store=running.store, chaining=chaining)
        self.redactor = running.redactor
        self._in_flight: dict[asyncio.Task[Any], int] = {}  # workflow -> its task id
        self._busy: dict[int, int] = {}  # task id -> submits and collects under way
        self.draining = False  # stopping: no submit starts

    async def run(self, task_id: int, workflow_id: str | None = None) -> Ran:
        """The whole task, as one DBOS step: submit, track, collect, then what its end sets
        going. The row, not a checkpoint, says how far a task got, so a run again after a
        crash picks up there: a task with a job is not submitted again, a finished one is
        only finished, and what its end made before is found, not made twice."""
        end, moved = await self._through(task_id, workflow_id)
        if moved is not None:
            return Ran(end, moved)  # its next workflow runs (and finishes) it
        return Ran(end, made=await self._made(task_id))

    async def _through(self, task_id: int, workflow_id: str | None) -> tuple[RunEnd, Moved | None]:
        for _ in range(MAX_SUBMISSIONS):
            if self.draining:  # stopping: left for another worker, never half submitted here
                await asyncio.Event().wait()  # until stop() interrupts it
            with self.busy(task_id):
                submitted = await self.submit(task_id, workflow_id)
            if isinstance(submitted, Finished):
                return RunEnd.FINISHED, None
            if isinstance(submitted, Moved):
                return RunEnd.MOVED, submitted
            tracked = await self.track(task_id)
            if tracked.outcome is TrackOutcome.SUCCEEDED:
                with self.busy(task_id):
                    await self.collect(task_id, tracked)
                return RunEnd.SUCCEEDED, None
            if tracked.outcome is TrackOutcome.FINISHED:
                return RunEnd.FINISHED, None
            # TrackOutcome.LOST: the row forgot the job; submit again
        lost = f"the provider lost the job {MAX_SUBMISSIONS} times"
        await self.fail(task_id, lost, ErrorKind.PROVIDER)
        return RunEnd.FINISHED, None

    async def _made(self, task_id: int) -> tuple[Made, ...]:
        """The tasks the task's end made, to be queued; a failure leaves them to the
        reconciler (the task itself has ended already)."""
        try:
            made = await self.finish(task_id)
        except Exception as exc:
            log.error(
                "finishing the task failed; the reconciler will", task_id=task_id, exc_info=exc
            )
            return ()
        return tuple(Made(t.task_id, t.provider, t.workflow_id) for t in made)

    async def submit(self, task_id: int, workflow_id: str | None = None) -> SubmitResult:
        return await self.submit_step(task_id, workflow_id)

    async def track(self, task_id: int) -> Tracked:
        return await self.track_step(task_id)

    async def collect(self, task_id: int, tracked: Tracked) -> None:
        await self.collect_step(task_id, tracked)

    async def finish(self, task_id: int) -> tuple[Task, ...]:
        return await self.finish_step(task_id)

    async def fail(self, task_id: int, message: str, kind: ErrorKind) -> None:
        await self.writer.fail(task_id, message, kind)

    @contextlib.contextmanager
    def in_flight(self, task_id: int) -> Iterator[None]:
        """Marks the calling asyncio task as running a task's workflow, for `stop`."""
        current = asyncio.current_task()
        if current is None:
            yield
            return
        self._in_flight[current] = task_id
        try:
            yield
        finally:
            self._in_flight.pop(current, None)

    @contextlib.contextmanager
    def busy(self, task_id: int) -> Iterator[None]:
        """Marks a call that must not be cut short: a submit (a job accepted upstream must
        be recorded) or a collect (a result half downloaded is downloaded again)."""
        self._busy[task_id] = self._busy.get(task_id, 0) + 1
        try:
            yield
        finally:
            self._busy[task_id] -= 1
            if not self._busy[task_id]:
                del self._busy[task_id]

    async def stop(self, timeout_s: float = 5.0, drain_s: float = DRAIN_S) -> None:
        """Drains, then interrupts: no new submit starts here (`draining`), tracking stops at
        once (the job runs on; its handle is recorded), and a submit or collect under way
        may finish, for up to `drain_s`. What is interrupted resumes on another worker (or
        here, at the next start) without a second submit."""
        self.draining = True
        log.info("worker stopping; its tasks go on elsewhere", tasks=len(self._in_flight))
        deadline = asyncio.get_running_loop().time() + drain_s
        if self._busy:
            log.info("worker draining: finishing submits and downloads", tasks=len(self._busy))
        while True:
            for task, task_id in list(self._in_flight.items()):
                if task_id not in self._busy:
                    task.cancel()
            if not self._busy or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.05)
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        await self.tracker.aclose()
