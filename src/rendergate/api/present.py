"""Turns domain tasks into the public shapes (seed 004's fields first)."""

from __future__ import annotations

import base64

from fastapi import Request

from rendergate.api.finished_cache import request_base_url
from rendergate.api.schemas import ImagePublic, OutputPublic, SkipPublic, TaskPublic
from rendergate.domain.task import Task, TaskStatus
from rendergate.services.context import Services


def base_url(request: Request, services: Services) -> str:
    return request_base_url(request.scope, services)


def present_task(task: Task, *, base: str, result: bytes | None = None) -> TaskPublic:
    completed = task.status is TaskStatus.COMPLETED and bool(task.outputs)
    url = f"{base}/tasks/{task.task_id}/image"
    return TaskPublic(
        task_id=task.task_id,
        status=task.status.value,
        progress=task.progress,
        type=task.app,
        angle=task.angle,
        image=ImagePublic(
            image_base64=base64.b64encode(result).decode() if completed and result else "",
            image_url=url if completed else "",
        ),
        error_message=task.error_message,
        provider=task.provider,
        skipped_providers=[SkipPublic(provider=s.provider, reason=s.reason) for s in task.skipped],
        params=dict(task.params),
        queue_position=task.queue_position,
        outputs=[
            OutputPublic(
                index=i,
                url=f"{url}?index={i}",
                content_type=o.content_type,
                size=o.size,
                node_id=o.node_id,
                file_type=o.file_type,
            )
            for i, o in enumerate(task.outputs)
        ],
        cost=dict(task.cost) if task.cost else None,
        attempts=task.attempts,
        created_at=task.created_at,
        updated_at=task.updated_at,
        finished_at=task.finished_at,
    )
