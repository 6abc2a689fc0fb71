"""Client's /batches calls: AsyncClient's (client/batches.py), blocking. Kept apart from
sync.py so that each stays short."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rendergate.client.batches import BatchOptions, BatchProgress, View, ended
from rendergate.client.models import Batch

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.12

    from rendergate.client.aio import AsyncClient

T = TypeVar("T")


class BlockingBatchCalls:
    """Mixed into Client, whose loop (`_run`, `_iterate`) runs AsyncClient's calls."""

    _async: AsyncClient

    if TYPE_CHECKING:

        def _run(self, call: Coroutine[Any, Any, T]) -> T: ...
        def _iterate(
            self, items: AsyncGenerator[T, None], deadline: float | None = None
        ) -> Iterator[T]: ...

    def create_batch(self, images: Sequence[View], **options: Unpack[BatchOptions]) -> Batch:
        """See AsyncClient.create_batch."""
        return self._run(self._async.create_batch(images, **options))

    def get_batch(self, batch_id: int) -> Batch:
        return self._run(self._async.get_batch(batch_id))

    def list_batches(
        self, *, q: str = "", members: bool = True, limit: int = 20
    ) -> Iterator[Batch]:
        """See AsyncClient.list_batches: a page of `limit` fetched at a time."""
        return self._iterate(self._async.list_batches(q=q, members=members, limit=limit))

    def cancel_batch(self, batch_id: int) -> Batch:
        return self._run(self._async.cancel_batch(batch_id))

    def retry_batch(self, batch_id: int) -> Batch:
        return self._run(self._async.retry_batch(batch_id))

    def wait_batch(
        self, batch_id: int, *, timeout: float = 3600.0, on_progress: BatchProgress | None = None
    ) -> Batch:
        """See AsyncClient.wait_batch; `on_progress` is called in this thread."""
        deadline = time.monotonic() + timeout
        try:
            for item in self._iterate(self._async._follow_batch(batch_id), deadline):
                if (batch := ended(item, on_progress)) is not None:
                    return batch
        except TimeoutError:
            raise TimeoutError(f"batch {batch_id} did not finish in {timeout:g} s") from None
        raise AssertionError("_follow_batch() ends with the batch")  # pragma: no cover

    def download_batch(
        self, batch_id: int, directory: str | Path, *, kept: bool = False
    ) -> list[Path]:
        """See AsyncClient.download_batch."""
        return self._run(self._async.download_batch(batch_id, directory, kept=kept))
