"""A task's stored images as the pages show them: its inputs (the "before" of any task,
from history too) and each stored image at a small width.

Thumbnails are kept in the blob store, beside the files they are made from, under
`thumbnails/{task_id}/…`: made once for the whole cluster and for the files' whole life,
not once per process and again after each restart, since making one (a decode, a resize,
a WebP encode) is what costs on a small machine. At most four widths per stored image, each
a small fraction of its size; retention removes them with the task's files (retention.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from rendergate.blobs.base import BlobNotFound, BlobStore
from rendergate.domain.errors import InvalidInput, ResultLost, ResultNotReady
from rendergate.domain.task import Task
from rendergate.imaging.thumbnail import WIDTHS, make_thumbnail
from rendergate.services.metrics import Metrics
from rendergate.services.tasks import require_files, require_result, result_bytes

Role = Literal["result", "image", "reference"]
InputRole = Literal["image", "reference"]
ENCODES_AT_ONCE = 2  # thumbnails made at once in this process: the CPU's share for them


@dataclass(frozen=True)
class Source:
    """Which stored image of a task: a result by its index, or an input by its role."""

    role: Role = "result"
    index: int = 0

    def checked(self) -> Source:
        if self.role != "result" and self.index:
            raise InvalidInput(
                f"index is for role=result; role={self.role} has no index {self.index}",
                field="index",
                location="query",
            )
        return self

    def key(self, task_id: int, width: int) -> str:
        return f"thumbnails/{task_id}/{self.role}-{self.index}-w{width}.webp"


def require_source(task: Task, source: Source) -> None:
    """410 once retention removed the task's files; 404 for a result it has not (yet) or
    an input role it has none of."""
    if source.role == "result":
        require_result(task, source.index)
        return
    require_files(task)
    if source.role not in task.inputs:
        raise ResultNotReady(f"task {task.task_id} has no {source.role} input")


async def input_bytes(task: Task, role: InputRole, *, blobs: BlobStore) -> tuple[bytes, str]:
    """The task's stored input of that role and its content type (errors: require_source;
    410 too when our storage lost it)."""
    require_source(task, Source(role))
    ref = task.inputs[role]
    try:
        return await blobs.get(ref.key), ref.content_type
    except BlobNotFound as exc:
        raise ResultLost(f"the stored {role} of task {task.task_id} is missing") from exc


async def _source_bytes(task: Task, source: Source, blobs: BlobStore) -> bytes:
    if source.role == "result":
        return await result_bytes(task, blobs=blobs, index=source.index)
    data, _ = await input_bytes(task, source.role, blobs=blobs)
    return data


@dataclass
class Thumbnailer:
    """This process's making of thumbnails: at most ENCODES_AT_ONCE at a time, and one
    request's making shared with those asking for the same one meanwhile."""

    encodes: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(ENCODES_AT_ONCE))
    _making: dict[str, asyncio.Future[bytes]] = field(default_factory=dict)

    async def thumbnail(
        self, task: Task, source: Source, width: int, *, blobs: BlobStore, metrics: Metrics
    ) -> bytes:
        """The WebP of `source` at `width`: the stored one, else made now and stored."""
        require_source(task, source.checked())
        key = source.key(task.task_id, width)
        try:
            data = await blobs.get(key)
        except BlobNotFound:
            pass
        else:
            metrics.thumbnails.labels("stored").inc()
            return data
        making = self._making.get(key)
        if making is None:  # else another request makes it: its answer is this one's too
            making = asyncio.create_task(self._make(task, source, width, blobs, metrics))
            self._making[key] = making
            making.add_done_callback(lambda made: self._made(key, made))
        return await asyncio.shield(making)  # a client that leaves stops no one's making

    def _made(self, key: str, made: asyncio.Task[bytes]) -> None:
        del self._making[key]
        if not made.cancelled():
            made.exception()  # retrieved: no warning when every asker left before the end

    async def _make(
        self, task: Task, source: Source, width: int, blobs: BlobStore, metrics: Metrics
    ) -> bytes:
        data = await _source_bytes(task, source, blobs)
        what = f"the {source.role} of task {task.task_id}"
        async with self.encodes:
            thumbnail = await asyncio.to_thread(make_thumbnail, data, width, what=what)
        await blobs.put(source.key(task.task_id, width), thumbnail)
        metrics.thumbnails.labels("made").inc()
        return thumbnail


def thumbnail_keys(task: Task) -> Iterator[str]:
    """Every thumbnail the task's files may have, made or not (retention removes them)."""
    sources = [Source("result", i) for i in range(len(task.outputs))]
    sources += [Source(role) for role in ("image", "reference") if role in task.inputs]
    for source in sources:
        for width in WIDTHS:
            yield source.key(task.task_id, width)
