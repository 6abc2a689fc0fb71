"""Turns domain tasks into the public shapes (the task API's fields first)."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from rendergate.api.schemas import (
    AppPublic,
    Envelope,
    ImagePublic,
    OutputPublic,
    SkipPublic,
    TaskPublic,
)
from rendergate.domain.errors import ResultLost
from rendergate.domain.task import Task, TaskStatus
from rendergate.domain.values import renderable, safe_text
from rendergate.services.context import Services
from rendergate.services.links import answer_base
from rendergate.services.routing import RunsHere


def envelope(data: Any, status_code: int = 200) -> JSONResponse:
    """A success: `data` in the task API's {code: 0, msg, data} envelope."""
    return JSONResponse(Envelope[Any](data=data).model_dump(mode="json"), status_code=status_code)


def base_url(request: Request, services: Services) -> str:
    """The base of the image links in an answer to `request` (services/links.py)."""
    return answer_base(services.settings, request.scope)


def present_task(task: Task, *, base: str, result: bytes | ResultLost | None = None) -> TaskPublic:
    """The public shape of any stored task, whatever its row holds: text that is not valid
    Unicode and values nested too deeply to encode are mended, never a 500 (values.py). A
    `result` our storage lost is told as retention's is: no image, no link to a 410."""
    lost = isinstance(result, ResultLost)
    gone = bool(task.files_expired_at) or lost
    completed = task.status is TaskStatus.COMPLETED and bool(task.outputs) and not gone
    encoded = base64.b64encode(result).decode() if isinstance(result, bytes) else ""
    url = f"{base}/tasks/{task.task_id}/image"
    return TaskPublic(
        task_id=task.task_id,
        status=task.status,
        progress=task.progress,
        type=task.app,
        angle=safe_text(task.angle),
        image=ImagePublic(
            image_base64=encoded if completed else "",
            image_url=url if completed else "",
        ),
        error_message=str(result) if lost else safe_text(task.error_message),
        provider=task.provider,
        provider_job_id=safe_text(task.provider_job_id),
        skipped_providers=[
            SkipPublic(provider=s.provider, reason=safe_text(s.reason)) for s in task.skipped
        ],
        params=renderable(dict(task.params)),
        queue_position=task.queue_position,
        outputs=[
            OutputPublic(
                index=i,
                url="" if gone else f"{url}?index={i}",
                content_type=o.content_type,
                size=o.size,
                node_id=safe_text(o.node_id),
                file_type=safe_text(o.file_type),
            )
            for i, o in enumerate(task.outputs)
        ],
        cost=renderable(dict(task.cost)) if task.cost else None,
        attempts=task.attempts,
        created_at=task.created_at,
        updated_at=task.updated_at,
        finished_at=task.finished_at,
        files_expired_at=task.files_expired_at,
    )


def public_apps(services: Services) -> list[AppPublic]:
    """The apps a task's `type` can name, by name: GET /apps and the web page's choice."""
    apps, here = [], RunsHere(services.providers, services.settings)
    for app in sorted(services.apps.values(), key=lambda a: a.name):
        provider, reason = here.availability(app)
        apps.append(
            AppPublic(
                name=app.name,
                provider=provider,
                title=app.title,
                description=app.description,
                requires_reference=app.requires_reference,
                deadline_s=app.deadline_s,
                available=reason is None,
                unavailable_reason=reason,
            )
        )
    return apps
