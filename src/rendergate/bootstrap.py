"""The composition root: turns Settings into wired, opened services, and closes them again.

The API's lifespan, the worker and the CLI all enter `open_services`; nothing is
built at import time anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tomllib
from collections.abc import AsyncIterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import structlog

from rendergate.blobs.objects import ObjectBlobStore
from rendergate.config import Settings
from rendergate.domain.apps import AppSpec, parse_apps
from rendergate.domain.errors import ConfigError
from rendergate.intake.fetch import UrlFetcher
from rendergate.orchestration.dbos_runtime import DbosOrchestrator
from rendergate.providers import REGISTRY, build_providers
from rendergate.redaction import Redactor
from rendergate.services.context import Services, Slots
from rendergate.services.execution import TaskRunner
from rendergate.services.tasks import STALE_SUBMITTED_S, reconcile
from rendergate.store.base import TaskStore
from rendergate.store.cached import CachedTaskStore
from rendergate.store.sql import SqlTaskStore, create_engine, migrate

log = structlog.get_logger(__name__)

RECONCILE_EVERY_S = 60.0


def load_apps(settings: Settings) -> dict[str, AppSpec]:
    """The built-in apps, then those of RENDERGATE_APPS_FILE (which may replace them)."""
    package = resources.files("rendergate")
    builtin = tomllib.loads(package.joinpath("apps.toml").read_text(encoding="utf-8"))
    apps = parse_apps(inline_workflows(builtin, package))
    if settings.apps_file is not None:
        document = tomllib.loads(settings.apps_file.read_text(encoding="utf-8"))
        apps.update(parse_apps(inline_workflows(document, settings.apps_file.parent)))
    return apps


def inline_workflows(document: dict[str, Any], base: Traversable | Path) -> dict[str, Any]:
    """Reads each `options.workflow_file` (relative to the apps file) into `options.workflow`,
    so a broken workflow file stops start-up instead of failing tasks later."""
    apps = document.get("apps")
    for name, app in apps.items() if isinstance(apps, dict) else ():
        routes = [app, *app.get("fallbacks", [])] if isinstance(app, dict) else []
        for route in routes:
            options = route.get("options") if isinstance(route, dict) else None
            if not isinstance(options, dict) or "workflow_file" not in options:
                continue
            path = base.joinpath(str(options["workflow_file"]))
            try:
                workflow = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"app {name!r}: cannot read its workflow_file {path}: {exc}"
                ) from None
            if not isinstance(workflow, dict):
                raise ConfigError(f"app {name!r}: {path} is not an API-format workflow object")
            options["workflow"] = workflow
    return document


@contextlib.asynccontextmanager
async def open_services(settings: Settings, *, worker: bool = True) -> AsyncIterator[Services]:
    """Everything rendergate runs on, opened in order and closed in reverse."""
    if settings.is_single_process and not worker:
        raise ConfigError(
            "an API without a worker needs PostgreSQL (RENDERGATE_DATABASE_URL): "
            "SQLite allows one rendergate process, which must run the worker"
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        engine = create_engine(settings.task_database_url)
        stack.push_async_callback(engine.dispose)
        await migrate(engine)

        apps = load_apps(settings)
        routes = {route.provider for app in apps.values() for route in app.routes}
        providers = build_providers(routes, settings)  # each with its queue: fallbacks too
        for provider in providers.values():
            stack.push_async_callback(provider.aclose)

        fetcher = UrlFetcher(
            max_bytes=settings.max_upload_bytes,
            timeout_s=settings.fetch_timeout_s,
            allow=settings.fetch_allow,
        )
        await stack.enter_async_context(fetcher)

        store: TaskStore = SqlTaskStore(engine)
        if settings.is_single_process:
            store = CachedTaskStore(store)
        services = Services(
            settings=settings,
            store=store,
            blobs=ObjectBlobStore.local(settings.data_dir / "blobs"),
            apps=apps,
            providers=providers,
            fetcher=fetcher,
            redactor=Redactor(settings.secret_values()),
            large_bodies=Slots(settings.max_large_bodies),
        )
        runner = TaskRunner(services) if worker else None
        concurrency = {name: REGISTRY[name].concurrency(settings) for name in providers}
        orchestrator = DbosOrchestrator(settings, runner, concurrency)
        stack.push_async_callback(orchestrator.close)
        await orchestrator.open()
        services.orchestrator = orchestrator

        if worker:
            requeued = await reconcile(services=services)
            log.info("worker started", providers=sorted(providers), resumed=requeued)
            sweeper = asyncio.create_task(_keep_reconciling(services), name="reconcile")
            stack.callback(sweeper.cancel)
        yield services


async def _keep_reconciling(services: Services) -> None:
    """Re-queues tasks whose workflow never got queued (a crash between row and queue)."""
    while True:
        await asyncio.sleep(RECONCILE_EVERY_S)
        try:
            await reconcile(services=services, min_age_s=STALE_SUBMITTED_S)
        except Exception:  # a database hiccup must not end the sweeper
            log.exception("reconcile failed")
