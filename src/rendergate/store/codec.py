"""Turns tasks into table rows and back; the only place that knows both shapes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rendergate.domain.task import ResultFile, Skip, Task, TaskStatus


def to_row(task: Task) -> dict[str, Any]:
    return {
        "task_id": task.task_id,
        "app": task.app,
        "provider": task.provider,
        "angle": task.angle,
        "params": dict(task.params),
        "inputs": dict(task.inputs),
        "status": task.status.value,
        "progress": task.progress,
        "queue_position": task.queue_position,
        "provider_job": dict(task.provider_job) if task.provider_job is not None else None,
        "outputs": [_output_to_json(o) for o in task.outputs],
        "cost": dict(task.cost) if task.cost is not None else None,
        "error_message": task.error_message,
        "error_kind": task.error_kind,
        "attempts": task.attempts,
        "callback_token": task.callback_token,
        "skipped": [{"provider": s.provider, "reason": s.reason} for s in task.skipped],
        "version": task.version,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "finished_at": task.finished_at,
    }


def from_row(row: Mapping[Any, Any]) -> Task:
    return Task(
        task_id=int(row["task_id"]),
        app=row["app"],
        provider=row["provider"],
        angle=row["angle"],
        params=row["params"] or {},
        inputs=row["inputs"] or {},
        status=TaskStatus(row["status"]),
        progress=int(row["progress"]),
        queue_position=row["queue_position"],
        provider_job=row["provider_job"],
        outputs=tuple(ResultFile(**o) for o in row["outputs"] or ()),
        cost=row["cost"],
        error_message=row["error_message"],
        error_kind=row["error_kind"],
        attempts=int(row["attempts"]),
        callback_token=row["callback_token"],
        skipped=tuple(
            Skip(provider=s["provider"], reason=s["reason"]) for s in row["skipped"] or ()
        ),
        version=int(row["version"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
    )


def _output_to_json(output: ResultFile) -> dict[str, Any]:
    return {
        "key": output.key,
        "content_type": output.content_type,
        "size": output.size,
        "node_id": output.node_id,
        "file_type": output.file_type,
    }
