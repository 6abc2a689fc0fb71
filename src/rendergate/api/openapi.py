"""The OpenAPI document, shaped so that clients generated from it work as they come."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from rendergate.api.batch_examples import BATCH_BODY_SCHEMAS
from rendergate.api.examples import BODY_SCHEMAS


def operation_id(route: APIRoute) -> str:
    """The route function's name (`create_task`, not FastAPI's `create_task_tasks_post`):
    generators name their methods after it. FastAPI warns of a duplicate (an error in tests)."""
    return route.name


def add_body_components(app: FastAPI) -> None:
    """POST /tasks reads its body itself, so FastAPI cannot see the two schemas that its
    requestBody refers to: they are added to the document once it is built."""
    build = app.openapi

    def document() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = build()  # FastAPI's, built once and kept
        if fresh:
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(BODY_SCHEMAS | BATCH_BODY_SCHEMAS)
        return schema

    app.openapi = document  # type: ignore[method-assign]
