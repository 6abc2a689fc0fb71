"""A world of use cases for the unit tests: the services wired by the composition root
around the in-memory store and blobs, the shipped fake and local providers, a manual clock
and an orchestrator that records what it starts (tests/unit/conftest.py: `world`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import obstore
from obstore.store import MemoryStore

from rendergate.blobs.objects import ObjectBlobStore
from rendergate.config.settings import Settings
from rendergate.domain.task import JobHandle, Task
from rendergate.providers.fake import FakeProvider
from rendergate.providers.local import LocalProvider
from rendergate.runtime.bootstrap import open_services
from rendergate.services import retention
from rendergate.services.context import Services
from rendergate.services.create_checks import Upload
from rendergate.services.creating import Creating, NewTask, create_task
from rendergate.services.tasks import Cancelling, get_task
from rendergate.store.memory import MemoryTaskStore
from rendergate.testing import ManualClock, RecordingOrchestrator
from rendergate.workflow.execution import Running, TaskRunner
from rendergate.workflow.outcomes import Finished, Submitted
from rendergate.workflow.reconcile import Reconciling
from support.images import make_png


@dataclass
class World:
    services: Services
    store: MemoryTaskStore
    objects: MemoryStore
    fake: FakeProvider
    orchestrator: RecordingOrchestrator
    clock: ManualClock
    runner: TaskRunner

    # the parts each use case takes, unpacked from the services as the edges do
    @property
    def creating(self) -> Creating:
        return self.services.unpack(Creating)

    @property
    def cancelling(self) -> Cancelling:
        return self.services.unpack(Cancelling)

    @property
    def reconciling(self) -> Reconciling:
        return self.services.unpack(Reconciling)

    @property
    def pruning(self) -> retention.Pruning:
        days = self.services.settings.retention_days
        return self.services.unpack(retention.Pruning, retention_days=days)

    async def get(self, task_id: int) -> Task:
        """The task as the API reads it (get_task)."""
        return await get_task(task_id, store=self.services.store, finished=self.services.finished)

    def blob_keys(self) -> list[str]:
        return sorted(meta["path"] for batch in obstore.list(self.objects) for meta in batch)

    async def create(self, app: str = "fake", fake: dict[str, Any] | None = None) -> Task:
        uploads = (Upload(role="image", data=make_png(), content_type="image/png"),)
        params = {"fake": fake} if fake is not None else {}
        return await create_task(NewTask(app=app, params=params, uploads=uploads), self.creating)

    async def submitted(self, task_id: int) -> JobHandle:
        """Submits the task, and the job its row records."""
        assert await self.runner.submit(task_id) == Submitted()
        job = (await self.store.get(task_id)).provider_job
        assert job is not None
        return job

    async def run(self, task_id: int) -> Task:
        assert await self.runner.submit(task_id) != Finished()
        await self.runner.collect(task_id, await self.runner.track(task_id))
        return await self.store.get(task_id)


@contextlib.asynccontextmanager
async def open_world(settings: Settings) -> AsyncIterator[World]:
    store, objects, clock = MemoryTaskStore(), MemoryStore(), ManualClock()
    fake, local, orchestrator = (
        FakeProvider(poll_interval_s=0.001),
        LocalProvider(poll_interval_s=0.02),
        RecordingOrchestrator(),
    )
    async with open_services(
        settings,
        store=store,
        blobs=ObjectBlobStore(objects),  # kept to list what it holds
        providers={"fake": fake, "local": local},
        clock=clock,
        orchestrator=orchestrator,
    ) as services:
        runner = TaskRunner(services.unpack(Running))
        yield World(services, store, objects, fake, orchestrator, clock, runner)
    await local.aclose()
