"""Client's calls for choosing and handing on results: AsyncClient's (client/studio.py),
blocking. Kept apart from sync.py so that each stays short."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

from rendergate.client.models import Task
from rendergate.client.studio import FilePath, InputRole, ThumbnailRole
from rendergate.client.studio_models import Account, BatchSteps, Quote, Share

if TYPE_CHECKING:
    from rendergate.client.aio import AsyncClient

T = TypeVar("T")


class BlockingStudioCalls:
    """Mixed into Client, whose loop (`_run`) runs AsyncClient's calls."""

    _async: AsyncClient

    if TYPE_CHECKING:

        def _run(self, call: Coroutine[Any, Any, T]) -> T: ...

    def keep(self, task_id: int) -> Task:
        """See AsyncClient.keep."""
        return self._run(self._async.keep(task_id))

    def unkeep(self, task_id: int) -> Task:
        return self._run(self._async.unkeep(task_id))

    def quote(
        self,
        *,
        type: str | None = None,
        preset: str | None = None,
        renders: int = 1,
        then: Sequence[str] | None = None,
    ) -> Quote:
        """See AsyncClient.quote."""
        return self._run(self._async.quote(type=type, preset=preset, renders=renders, then=then))

    def account(self) -> Account:
        return self._run(self._async.account())

    def upscale_batch(
        self,
        batch_id: int,
        *,
        type: str = "upscale",
        params: dict[str, Any] | None = None,
        tasks: Sequence[int] | None = None,
    ) -> BatchSteps:
        """See AsyncClient.upscale_batch."""
        return self._run(self._async.upscale_batch(batch_id, type=type, params=params, tasks=tasks))

    def create_share(
        self, batch_id: int, *, expires_in_days: int = 7, kept_only: bool = True
    ) -> Share:
        """See AsyncClient.create_share."""
        made = self._async.create_share(
            batch_id, expires_in_days=expires_in_days, kept_only=kept_only
        )
        return self._run(made)

    def shares(self, batch_id: int) -> list[Share]:
        return self._run(self._async.shares(batch_id))

    def revoke_share(self, batch_id: int, share_id: int) -> Share:
        return self._run(self._async.revoke_share(batch_id, share_id))

    @overload
    def download_input(
        self, task_id: int, path: None = None, *, role: InputRole = "image"
    ) -> bytes: ...
    @overload
    def download_input(
        self, task_id: int, path: FilePath, *, role: InputRole = "image"
    ) -> Path: ...
    def download_input(
        self, task_id: int, path: FilePath | None = None, *, role: InputRole = "image"
    ) -> bytes | Path:
        """See AsyncClient.download_input."""
        if path is None:
            return self._run(self._async.download_input(task_id, role=role))
        return self._run(self._async.download_input(task_id, path, role=role))

    @overload
    def download_thumbnail(
        self,
        task_id: int,
        path: None = None,
        *,
        width: int,
        role: ThumbnailRole = "result",
        index: int = 0,
    ) -> bytes: ...
    @overload
    def download_thumbnail(
        self,
        task_id: int,
        path: FilePath,
        *,
        width: int,
        role: ThumbnailRole = "result",
        index: int = 0,
    ) -> Path: ...
    def download_thumbnail(
        self,
        task_id: int,
        path: FilePath | None = None,
        *,
        width: int,
        role: ThumbnailRole = "result",
        index: int = 0,
    ) -> bytes | Path:
        """See AsyncClient.download_thumbnail."""
        if path is None:
            return self._run(
                self._async.download_thumbnail(task_id, width=width, role=role, index=index)
            )
        return self._run(
            self._async.download_thumbnail(task_id, path, width=width, role=role, index=index)
        )
