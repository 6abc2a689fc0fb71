"""Running a task again (POST /tasks/{id}/rerun): a new task from the stored inputs of one of
the caller's own, with its app, params and seed unless the request changes them. The request
it builds goes through create_task like any other (limits, checks, routing, webhooks,
Idempotency-Key), and the new task names the original in `rerun_of`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rendergate.blobs.base import BlobNotFound, BlobStore
from rendergate.domain.errors import InputsUnavailable
from rendergate.domain.task import Task
from rendergate.services.create_checks import Upload
from rendergate.services.creating import NewTask
from rendergate.store.base import TaskStore


@dataclass(frozen=True, kw_only=True)
class Rerun:
    """What a re-run changes; None keeps the original's."""

    app: str | None = None
    params: Mapping[str, Any] | None = None  # over the original's; a null removes the key
    seed: int | Literal["random"] | None = None  # "random": a new one, the server's pick
    preset: str | None = None  # a look that replaces the original's (app, params, reference)


@dataclass(frozen=True)
class Rerunning:
    """What a re-run reads: the original's row, and its stored inputs."""

    store: TaskStore
    blobs: BlobStore


async def rerun_request(
    task_id: int, rerun: Rerun, rerunning: Rerunning, *, caller: str | None, link_base: str
) -> NewTask:
    """The create that runs task `task_id` again, as `rerun` changes it. `caller`: the id of
    the caller's API key (None in open mode): another key's task is TaskNotFound."""
    original = await rerunning.store.get(task_id, owner=caller)
    uploads = await stored_inputs(original, rerunning.blobs)
    if rerun.preset:
        return _with_preset(original, uploads, rerun, link_base)
    same_app = rerun.app is None or rerun.app == original.app
    return NewTask(
        app=original.app if rerun.app is None else rerun.app,
        angle=original.angle,
        params=merged(original.params, rerun.params),
        uploads=uploads,
        webhook_url=original.webhook_url,
        webhook_events=original.webhook_events,
        deadline_s=original.deadline_s if same_app else None,  # within the original app's
        link_base=link_base,
        seed=_seed(original, rerun.seed),
        rerun_of=original.task_id,
    )


def _with_preset(
    original: Task, uploads: tuple[Upload, ...], rerun: Rerun, link_base: str
) -> NewTask:
    """The re-run in another look: the preset's app (or the one asked for), its params with
    the request's merged over them, and its reference in place of the original's (which
    stays where the preset has none); the original's image, angle, seed and webhook."""
    assert rerun.preset
    return NewTask(
        app=rerun.app or "",  # none: the preset's
        preset=rerun.preset,
        preset_reference_wins=True,
        angle=original.angle,
        params=merged({}, rerun.params),
        uploads=uploads,
        webhook_url=original.webhook_url,
        webhook_events=original.webhook_events,
        link_base=link_base,
        seed=_seed(original, rerun.seed),
        rerun_of=original.task_id,
    )


def merged(params: Mapping[str, Any], changes: Mapping[str, Any] | None) -> dict[str, Any]:
    """`changes` over `params`, one level deep (RFC 7396 JSON merge patch, at the top): each key
    given replaces the original's value, and a null removes the key."""
    result = dict(params)
    for key, value in (changes or {}).items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def _seed(original: Task, asked: int | Literal["random"] | None) -> int | None:
    """The re-run's seed: the one asked for, the original's, or None for a new one (which
    create_task draws, so a retry with the same Idempotency-Key is the same request)."""
    if isinstance(asked, int):
        return asked
    return original.seed if asked is None else None


async def stored_inputs(task: Task, blobs: BlobStore) -> tuple[Upload, ...]:
    """The task's inputs as they were uploaded, read back from storage."""
    if task.files_expired_at is not None:
        on = task.files_expired_at.date().isoformat()
        raise InputsUnavailable(
            f"the inputs of task {task.task_id} were removed on {on}, as the retention of "
            "this server says: send the images again with POST /tasks"
        )
    uploads = []
    for role, ref in task.inputs.items():
        try:
            data = await blobs.get(ref.key)
        except BlobNotFound as exc:
            raise InputsUnavailable(
                f"the stored {role} of task {task.task_id} is missing: send the images "
                "again with POST /tasks"
            ) from exc
        uploads.append(Upload(role=role, data=data, content_type=ref.content_type))
    return tuple(uploads)
