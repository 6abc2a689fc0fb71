"""Client: AsyncClient's calls, blocking. It runs them on a private event loop in a daemon
thread of its own, one per Client, for its whole life. Over `asyncio.run` per call, that
keeps one aiohttp session (and its pooled connections) across calls, and works where a loop
is already running in the caller's thread (a notebook, an async web app). Callbacks and
iterations run in the caller's thread, so they may call the client again. The thread (and
the resolver's threads it starts) block ^C and its kin, which the kernel then delivers to
the caller's main thread, where Python raises KeyboardInterrupt."""

from __future__ import annotations

import asyncio
import builtins
import os
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Coroutine, Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from rendergate.client.aio import AsyncClient, Progress
from rendergate.client.inputs import Image
from rendergate.client.models import App, Delivery, Preset, Task, TaskEvent
from rendergate.client.money import Usage
from rendergate.client.presets import PresetLook
from rendergate.client.signals import signals_to_main
from rendergate.client.sync_batches import BlockingBatchCalls
from rendergate.client.sync_studio import BlockingStudioCalls

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.12

T = TypeVar("T")


class Client(BlockingBatchCalls, BlockingStudioCalls):
    """A rendergate server's API, blocking; the arguments are AsyncClient's. Close it (or use
    it as a context manager) to stop its thread; a client dropped unclosed is closed when
    it is collected."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
    ) -> None:
        self._async = AsyncClient(base_url, api_key, timeout=timeout, retries=retries)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="rendergate-client", daemon=True
        )
        with signals_to_main():  # else a ^C landing in it would never stop a wait here
            self._thread.start()
        self._finalizer = weakref.finalize(self, _shut_down, self._loop, self._thread, self._async)

    @property
    def base_url(self) -> str:
        return self._async.base_url

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._finalizer()

    def create(
        self,
        image: Image | None = None,
        *,
        reference: Image | None = None,
        type: str | None = None,
        preset: str | None = None,
        image_task_id: int | None = None,
        image_task_index: int = 0,
        angle: str = "",
        params: dict[str, Any] | None = None,
        webhook_url: str | None = None,
        webhook_events: Sequence[str] | None = None,
        deadline_s: float | None = None,
        seed: int | None = None,
        then: Sequence[str | Mapping[str, Any]] | None = None,
        idempotency_key: str | None = None,
        wait: float | None = None,
    ) -> Task:
        """See AsyncClient.create."""
        return self._run(
            self._async.create(
                image,
                reference=reference,
                type=type,
                preset=preset,
                image_task_id=image_task_id,
                image_task_index=image_task_index,
                angle=angle,
                params=params,
                webhook_url=webhook_url,
                webhook_events=webhook_events,
                deadline_s=deadline_s,
                seed=seed,
                then=then,
                idempotency_key=idempotency_key,
                wait=wait,
            )
        )

    def rerun(
        self,
        task_id: int,
        *,
        type: str | None = None,
        params: dict[str, Any] | None = None,
        seed: int | Literal["random"] | None = None,
        idempotency_key: str | None = None,
        wait: float | None = None,
    ) -> Task:
        """See AsyncClient.rerun."""
        return self._run(
            self._async.rerun(
                task_id,
                type=type,
                params=params,
                seed=seed,
                idempotency_key=idempotency_key,
                wait=wait,
            )
        )

    def get(self, task_id: int, *, include_base64: bool = False) -> Task:
        return self._run(self._async.get(task_id, include_base64=include_base64))

    def list(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        rerun_of: int | None = None,
        limit: int = 20,
    ) -> Iterator[Task]:
        """See AsyncClient.list: a page of `limit` fetched at a time."""
        listed = self._async.list(status=status, type=type, rerun_of=rerun_of, limit=limit)
        return self._iterate(listed)

    def cancel(self, task_id: int) -> Task:
        return self._run(self._async.cancel(task_id))

    def usage(
        self,
        *,
        since: date | str | None = None,
        until: date | str | None = None,
        group_by: Literal["day", "app", "preset"] = "day",
    ) -> Usage:
        """See AsyncClient.usage."""
        return self._run(self._async.usage(since=since, until=until, group_by=group_by))

    def wait(
        self, task_id: int, *, timeout: float = 3600.0, on_progress: Progress | None = None
    ) -> Task:
        """See AsyncClient.wait; `on_progress` is called in this thread."""
        deadline = time.monotonic() + timeout
        try:
            for task in self._iterate(self._async._follow(task_id), deadline):
                if on_progress is not None:
                    on_progress(task)
                if task.status.is_terminal:
                    return task
        except TimeoutError:
            raise TimeoutError(f"task {task_id} did not finish in {timeout:g} s") from None
        raise AssertionError("follow() ends with the terminal state")  # pragma: no cover

    def events(self, task_id: int, last_event_id: int | str | None = None) -> Iterator[TaskEvent]:
        return self._iterate(self._async.events(task_id, last_event_id))

    @overload
    def download(self, task_id: int, path: None = None, *, index: int = 0) -> bytes: ...
    @overload
    def download(self, task_id: int, path: str | os.PathLike[str], *, index: int = 0) -> Path: ...
    def download(
        self, task_id: int, path: str | os.PathLike[str] | None = None, *, index: int = 0
    ) -> bytes | Path:
        if path is None:
            return self._run(self._async.download(task_id, index=index))
        return self._run(self._async.download(task_id, path, index=index))

    def deliveries(self, task_id: int) -> builtins.list[Delivery]:
        return self._run(self._async.deliveries(task_id))

    def apps(self) -> builtins.list[App]:
        return self._run(self._async.apps())

    def presets(self) -> builtins.list[Preset]:
        return self._run(self._async.presets())

    def preset(self, name: str) -> Preset:
        return self._run(self._async.preset(name))

    def create_preset(self, name: str, **look: Unpack[PresetLook]) -> Preset:
        """See AsyncClient.create_preset."""
        return self._run(self._async.create_preset(name, **look))

    def edit_preset(self, name: str, **look: Unpack[PresetLook]) -> Preset:
        """See AsyncClient.edit_preset."""
        return self._run(self._async.edit_preset(name, **look))

    def delete_preset(self, name: str) -> None:
        self._run(self._async.delete_preset(name))

    def preset_reference(self, name: str) -> bytes:
        return self._run(self._async.preset_reference(name))

    def _run(self, call: Coroutine[Any, Any, T]) -> T:
        """Runs `call` on the client's loop and waits for it here."""
        if threading.current_thread() is self._thread:
            call.close()
            raise RuntimeError("a Client cannot be called from its own event loop")
        if not self._finalizer.alive:
            call.close()
            raise RuntimeError("this Client is closed")
        future = asyncio.run_coroutine_threadsafe(call, self._loop)
        try:
            return future.result()
        except BaseException:  # ^C while waiting: stop the call too
            future.cancel()
            raise

    def _iterate(
        self, items: AsyncGenerator[T, None], deadline: float | None = None
    ) -> Iterator[T]:
        """An async iterator stepped from this thread; TimeoutError once past `deadline`."""
        try:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                step = self._run(_next(items, left))
                if not step:
                    return
                yield step[0]
        finally:
            if self._finalizer.alive:
                self._run(items.aclose())


async def _next(items: AsyncGenerator[T, None], seconds: float | None) -> builtins.list[T]:
    """The next item as a one-item list, [] at the end."""
    async with asyncio.timeout(None if seconds is None else max(seconds, 0.0)):
        try:
            return [await anext(items)]
        except StopAsyncIteration:
            return []


def _shut_down(
    loop: asyncio.AbstractEventLoop, thread: threading.Thread, client: AsyncClient
) -> None:
    """Closes the session (and any iteration left unfinished) on its loop, then stops the
    loop and its thread."""

    async def closing() -> None:
        await client.close()
        await loop.shutdown_asyncgens()

    if thread.is_alive():
        asyncio.run_coroutine_threadsafe(closing(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
    loop.close()
