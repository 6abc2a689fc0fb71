"""A batch's results in one zip, each named by its view, angle, variation and step.

Written to a temporary file (in a thread: a dozen renders are tens of MB) rather than
held in memory, and stored uncompressed: the images are compressed already.
"""

from __future__ import annotations

import asyncio
import tempfile
import zipfile
from collections.abc import Sequence
from typing import IO

from rendergate.blobs.base import BlobNotFound, BlobStore
from rendergate.domain.batches import Batch, archive_name
from rendergate.domain.errors import ResultNotReady
from rendergate.domain.media import extension_of
from rendergate.domain.task import Task, TaskStatus

SPOOL_BYTES = 8 * 1024 * 1024  # a zip under this stays in memory


async def batch_archive(
    batch: Batch, members: Sequence[Task], blobs: BlobStore, *, only: set[int] | None = None
) -> IO[bytes]:
    """The zip of every result the batch's current members have (`only`: of those with
    these ids), rewound; ResultNotReady when none has one yet. The caller closes it."""
    files: list[tuple[str, bytes]] = []
    taken: set[str] = set()
    ids = {task.task_id for task in members}
    for task in members:
        step = task.parent is not None and task.parent.task_id in ids
        if task.status is not TaskStatus.COMPLETED or task.files_expired_at is not None:
            continue
        if only is not None and task.task_id not in only:
            continue
        for index, output in enumerate(task.outputs):
            kind = extension_of(output.content_type)
            name = archive_name(task, batch.angles, index, kind, step=step)
            if name in taken:  # two steps of one app in a chain
                name = f"{task.task_id}_{name}"
            try:
                files.append((name, await blobs.get(output.key)))
            except BlobNotFound:
                continue
            taken.add(name)
    if not files:
        what = "no kept result" if only is not None else "no result yet"
        raise ResultNotReady(f"batch {batch.batch_id} has {what}")
    return await asyncio.to_thread(_zipped, files)


def _zipped(files: list[tuple[str, bytes]]) -> IO[bytes]:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the caller closes it
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files:
            archive.writestr(name, data)
    spool.seek(0)
    return spool
