"""The world the steps' tests run in (support/steps.py), wired by the composition root."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from obstore.store import MemoryStore

from rendergate.blobs.objects import ObjectBlobStore
from rendergate.config.settings import Settings, load_settings
from rendergate.providers.base import Provider
from rendergate.providers.fake import FakeProvider
from rendergate.providers.local import LocalProvider
from rendergate.runtime.bootstrap import open_services
from rendergate.store.memory import MemoryTaskStore
from rendergate.testing import ManualClock, RecordingOrchestrator
from rendergate.workflow.execution import Running, TaskRunner
from support.steps import APPS, KEY, MakeWorld, ScriptedHub, World


@pytest.fixture
async def make_world() -> AsyncIterator[MakeWorld]:
    """Worlds wired by the composition root, with the in-memory parts passed in."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            settings: Settings,
            *,
            providers: tuple[str, ...] = ("runninghub", "fake"),
            store: MemoryTaskStore | None = None,
        ) -> World:
            store = store or MemoryTaskStore()
            clock, hub, fake = ManualClock(), ScriptedHub(), FakeProvider()
            orchestrator = RecordingOrchestrator()
            available: dict[str, Provider] = {
                "runninghub": hub,
                "fake": fake,
                "local": LocalProvider(),
            }
            services = await stack.enter_async_context(
                open_services(
                    settings,
                    apps=APPS,
                    store=store,
                    blobs=ObjectBlobStore(MemoryStore()),
                    providers={name: available[name] for name in providers},
                    clock=clock,
                    orchestrator=orchestrator,
                )
            )
            runner = TaskRunner(services.unpack(Running))
            return World(services, store, hub, fake, clock, runner, orchestrator)

        yield make


@pytest.fixture
def hub_settings(settings: Settings) -> Settings:
    return load_settings(data_dir=settings.data_dir, runninghub_api_key=KEY)


@pytest.fixture
async def world(make_world: MakeWorld, hub_settings: Settings) -> World:
    return await make_world(hub_settings)
