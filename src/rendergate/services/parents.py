"""A create's image taken from a finished task's result (`image_task_id`, with
`image_task_index`): nothing is uploaded, the result is read back from our storage, and only
from one of the caller's own tasks. The new task records it as its `parent`, the first link
of a chain of post-steps (an upscale of a render)."""

from __future__ import annotations

from rendergate.blobs.base import BlobStore
from rendergate.domain.errors import (
    FilesExpired,
    InvalidInput,
    ResultLost,
    ResultNotReady,
    TaskNotFound,
)
from rendergate.domain.task import ResultRef, TaskStatus
from rendergate.services.tasks import result_bytes
from rendergate.store.base import TaskStore


async def parent_result(
    ref: ResultRef, *, store: TaskStore, blobs: BlobStore, owner: str
) -> tuple[bytes, str]:
    """The bytes and content type of `ref`'s result; a 422 naming image_task_id (or
    image_task_index) when it is no task of `owner`'s, has no such result, or its files
    are gone. `owner`: the caller's key id, "" in open mode (whose tasks have none)."""
    try:
        task = await store.get(ref.task_id, owner=owner)
    except TaskNotFound as exc:  # another key's task too: as if absent
        raise InvalidInput(f"image_task_id: {exc}", field="image_task_id") from None
    try:
        data = await result_bytes(task, blobs=blobs, index=ref.index)
    except (FilesExpired, ResultNotReady, ResultLost) as exc:
        at_index = task.status is TaskStatus.COMPLETED and isinstance(exc, ResultNotReady)
        field = "image_task_index" if at_index else "image_task_id"
        raise InvalidInput(f"{field}: {exc}", field=field) from exc
    return data, task.outputs[ref.index].content_type
