"""create_app: the FastAPI application, its lifespan entering the composition root."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from rendergate import __version__
from rendergate.api.errors import install_error_handlers
from rendergate.api.finished_cache import FinishedBodies, FinishedTaskCache, UnfinishedBodies
from rendergate.api.headers import NoSniff, docs_headers
from rendergate.api.limits import BodyLimits
from rendergate.api.openapi import add_body_components, operation_id
from rendergate.api.request_ids import RequestIds
from rendergate.api.routes import (
    account,
    batch_events,
    batch_steps,
    batches,
    events,
    health,
    images,
    metrics,
    picks,
    presets,
    reruns,
    tasks,
    usage,
    web,
    webhooks,
)
from rendergate.api.routes.shares import router as share_routes
from rendergate.api.serving import BodyTimeout
from rendergate.config.settings import Settings
from rendergate.runtime.bootstrap import open_services

STATIC = Path(__file__).parent / "static"
DESCRIPTION = """One durable async task API in front of ComfyUI clouds and local engines.

Create a task with `POST /tasks`, poll `GET /tasks/{task_id}` until `status` is
`completed` (or `failed` / `canceled`), then read `image.image_url`.
"""


def prepare_routes(app: FastAPI) -> None:
    """Has FastAPI build every route's models now, at start: it builds them lazily, on the
    first request a router sees, a third of a second of the event loop's time that every
    other request would wait out (test_hostile_input's stall probe caught it)."""
    scope = {"type": "http", "method": "GET", "path": "/", "root_path": "", "headers": []}
    for route in app.router.routes:
        route.matches(dict(scope))


def create_app(settings: Settings, *, worker: bool | None = None) -> FastAPI:
    run_worker = settings.worker if worker is None else worker

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings, worker=run_worker) as services:
            app.state.services = services
            services.changes.keep_current(app.state.unfinished_bodies)
            prepare_routes(app)
            yield

    app = FastAPI(
        title="rendergate",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from vendored assets, so /docs works offline
        generate_unique_id_function=operation_id,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    docs = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="rendergate API",
        swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger-ui/swagger-ui.css",
        swagger_favicon_url="data:,",
    )
    docs_policy = docs_headers(bytes(docs.body).decode())

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(docs.body, headers=docs_policy)

    app.state.finished_bodies = FinishedBodies()  # rendered bodies: the API's own cache
    app.state.unfinished_bodies = UnfinishedBodies()
    install_error_handlers(app)
    app.add_middleware(BodyTimeout, settings=settings)
    app.add_middleware(FinishedTaskCache)
    app.add_middleware(BodyLimits)
    app.add_middleware(RequestIds)
    app.add_middleware(NoSniff)  # added last: the outermost
    for routes in (
        tasks,
        picks,
        reruns,
        events,
        presets,
        batches,
        batch_events,
        batch_steps,
        usage,
        account,
        health,
        metrics,
    ):
        app.include_router(routes.router)
    app.include_router(images.router)  # GET /tasks/{id}/input and /thumbnail
    app.include_router(webhooks.router)
    app.include_router(share_routes)  # /batches/{id}/shares, and /s/{token} without a key
    app.include_router(web.router)  # GET /: the web page, outside the schema
    add_body_components(app)
    return app
