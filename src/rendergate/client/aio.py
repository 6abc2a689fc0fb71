"""AsyncClient: every API call as a coroutine, on one aiohttp session."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, overload

import aiohttp

from rendergate.client import sse
from rendergate.client.batches import BatchCalls
from rendergate.client.errors import ApiError, Unreachable
from rendergate.client.files import bytes_or_file
from rendergate.client.inputs import Image, create_request
from rendergate.client.models import App, Delivery, Task, TaskEvent
from rendergate.client.money import Usage
from rendergate.client.presets import PresetCalls
from rendergate.client.studio import StudioCalls
from rendergate.client.transport import Request, Transport, backoff

DEFAULT_URL = "http://127.0.0.1:8000"
Progress = Callable[[Task], object]


class AsyncClient(PresetCalls, BatchCalls, StudioCalls):
    """A rendergate server's API. `base_url` defaults to RENDERGATE_SERVER, else
    http://127.0.0.1:8000; `api_key` to RENDERGATE_API_KEY; `timeout` bounds each request
    (seconds); `retries` is how many times a call is tried again (see transport.py)."""

    poll_interval_s = 0.5  # wait() and wait_batch() polling where there is no event stream

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
    ) -> None:
        base_url = base_url or os.environ.get("RENDERGATE_SERVER") or DEFAULT_URL
        api_key = api_key if api_key is not None else os.environ.get("RENDERGATE_API_KEY")
        self._http = Transport(base_url, api_key, timeout, retries)

    @property
    def base_url(self) -> str:
        return self._http.base_url

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.close()

    async def create(
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
        """Creates a task. `image` and `reference` are each a path, bytes or an http(s) URL
        (which the server fetches); or, instead of `image`, `image_task_id` names a finished
        task of the key's whose result (output `image_task_index`) is the image. `type` is
        the app: preview unless `preset` (a preset's name) names one; a preset also gives
        its params (`params` merge over them) and its reference unless one is given. `seed`
        (0 to 2^53-1) makes a result reproducible; unset, the server picks one and
        `task.seed` says which. `then` (up to 3 steps, each an app's name or
        `{"type": ..., "params": {...}}`) runs on the result once it completes, each step a
        task of its own (`task.children` names the next). Every try sends the same
        Idempotency-Key (a new UUID unless given), so a retry never makes a second task.
        `wait` (at most 60 s) asks the server to answer once the task finishes or that many
        seconds pass."""
        if (image is None) == (image_task_id is None):
            raise ValueError("create() takes an image or an image_task_id: exactly one of them")
        fields = {
            "type": type,
            "preset": preset,
            "image_task_id": image_task_id,
            "image_task_index": None if image_task_id is None else image_task_index,
            "angle": angle,
            "params": params or {},
            "webhook_url": webhook_url,
            "webhook_events": None if webhook_events is None else builtins.list(webhook_events),
            "deadline_s": deadline_s,
            "seed": seed,
            "then": None if then is None else [_step(s) for s in then],
        }
        request = await create_request({"image": image, "reference": reference}, fields)
        return await self._created(request, idempotency_key, wait)

    async def rerun(
        self,
        task_id: int,
        *,
        type: str | None = None,
        params: dict[str, Any] | None = None,
        seed: int | Literal["random"] | None = None,
        idempotency_key: str | None = None,
        wait: float | None = None,
    ) -> Task:
        """A new task from the stored inputs of `task_id` (nothing is uploaded), with its
        type, params and seed unless given: `params` are merged over the original's (None
        removes a key), `seed="random"` asks for a new one. `task.rerun_of` names the
        original. Idempotency-Key and `wait` as in create()."""
        changes = {"type": type, "params": params, "seed": seed}
        body = {name: value for name, value in changes.items() if value is not None}
        request = Request("POST", f"/tasks/{task_id}/rerun", json=body)
        return await self._created(request, idempotency_key, wait)

    async def _created(
        self, request: Request, idempotency_key: str | None, wait: float | None
    ) -> Task:
        """The task a create or re-run made: every try under one Idempotency-Key."""
        request.headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        if wait is not None:
            request.headers["Prefer"] = f"wait={wait:g}"
            request.timeout = aiohttp.ClientTimeout(total=wait + self._http.timeout)
        return Task.from_json((await self._http.call(request)).data())

    async def get(self, task_id: int, *, include_base64: bool = False) -> Task:
        """The task now; `include_base64` puts a completed task's result in
        `task.image.image_base64` (download() fetches it as bytes instead)."""
        query = {"include_base64": "true" if include_base64 else "false"}
        reply = await self._http.call(Request("GET", f"/tasks/{task_id}", query=query))
        return Task.from_json(reply.data())

    async def usage(
        self,
        *,
        since: date | str | None = None,
        until: date | str | None = None,
        group_by: Literal["day", "app", "preset"] = "day",
    ) -> Usage:
        """The key's own usage over UTC days `since` to `until`, inclusive (by default this
        month up to today), per day, app or preset, with totals: tasks, how they ended,
        their cost upstream and what they were charged (Decimal, with the currency)."""
        days = {"since": since, "until": until}
        query = {"group_by": group_by} | {k: str(v) for k, v in days.items() if v is not None}
        reply = await self._http.call(Request("GET", "/usage", query=query))
        return Usage.from_json(reply.data())

    async def list(
        self,
        *,
        status: str | None = None,
        type: str | None = None,
        rerun_of: int | None = None,
        limit: int = 20,
    ) -> AsyncGenerator[Task, None]:
        """Every matching task (`rerun_of`: the re-runs of that task), newest first, fetched
        `limit` (1-100) at a time as the iteration reaches each page's `next_cursor`."""
        wanted = {"status": status, "type": type, "rerun_of": rerun_of}
        query = {"limit": str(limit)} | {
            k: str(v) for k, v in wanted.items() if v not in (None, "")
        }
        async for item in self._http.pages("/tasks", query, "tasks"):
            yield Task.from_json(item)

    async def cancel(self, task_id: int) -> Task:
        """Cancels an unfinished task; Conflict if it finished already."""
        reply = await self._http.call(Request("POST", f"/tasks/{task_id}/cancel"))
        return Task.from_json(reply.data())

    async def wait(
        self,
        task_id: int,
        *,
        timeout: float = 3600.0,  # noqa: ASYNC109 (the same call as Client.wait)
        on_progress: Progress | None = None,
    ) -> Task:
        """The task once it finishes (completed, failed or canceled: check `status`),
        following its event stream, or polling where there is none. `on_progress` sees each
        state on the way. TimeoutError after `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout), contextlib.aclosing(self._follow(task_id)) as seen:
                async for task in seen:
                    if on_progress is not None:
                        on_progress(task)
                    if task.status.is_terminal:
                        return task
        except TimeoutError:
            raise TimeoutError(f"task {task_id} did not finish in {timeout:g} s") from None
        raise AssertionError("follow() ends with the terminal state")  # pragma: no cover

    async def _follow(self, task_id: int) -> AsyncGenerator[Task, None]:
        """Each state of the task until it finishes: from its event stream while there is
        one, then by polling (an older server, a proxy that buffers streams)."""
        with contextlib.suppress(ApiError, Unreachable):
            async with contextlib.aclosing(self.events(task_id)) as events:
                async for event in events:
                    yield event.task
                    if event.task.status.is_terminal:
                        return
        while True:
            task = await self.get(task_id)
            yield task
            if task.status.is_terminal:
                return
            await asyncio.sleep(self.poll_interval_s)

    async def events(
        self, task_id: int, last_event_id: int | str | None = None
    ) -> AsyncGenerator[TaskEvent, None]:
        """The task's events as they happen, ending after its terminal one (or at once, if
        `last_event_id` is that one's). A dropped connection is resumed from the last id."""
        failures = 0
        last = None if last_event_id is None else str(last_event_id)
        while True:
            try:
                async with contextlib.aclosing(self._stream(task_id, last)) as stream:
                    async for event in stream:
                        failures = 0
                        last = str(event.id) if event.id is not None else last
                        yield event
                        if event.task.status.is_terminal:
                            return
                return  # the server ended it: nothing more will come
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
                if failures >= self._http.retries:
                    raise Unreachable(self.base_url, f"the event stream broke: {exc}") from exc
            await asyncio.sleep(backoff(failures))
            failures += 1

    async def _stream(
        self, task_id: int, last_event_id: str | None
    ) -> AsyncGenerator[TaskEvent, None]:
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        timeout = self._http.stream_timeout()
        request = Request("GET", f"/tasks/{task_id}/events", headers=headers, timeout=timeout)
        async with self._http.open(request) as response:
            async for event in sse.events(response.content.iter_any()):
                yield event

    @overload
    async def download(self, task_id: int, path: None = None, *, index: int = 0) -> bytes: ...
    @overload
    async def download(
        self, task_id: int, path: str | os.PathLike[str], *, index: int = 0
    ) -> Path: ...
    async def download(
        self, task_id: int, path: str | os.PathLike[str] | None = None, *, index: int = 0
    ) -> bytes | Path:
        """A completed task's result: its bytes, or, given a `path`, the file written there
        (into a directory under the server's name for it, `<task_id>-<index>.<ext>`)."""
        request = Request("GET", f"/tasks/{task_id}/image", query={"index": str(index)})
        return await bytes_or_file(await self._http.call(request), path, f"{task_id}-{index}.png")

    async def deliveries(self, task_id: int) -> builtins.list[Delivery]:
        """The task's webhooks, each with its tries."""
        reply = await self._http.call(Request("GET", f"/tasks/{task_id}/deliveries"))
        return [Delivery.from_json(d) for d in reply.data()["deliveries"]]

    async def apps(self) -> builtins.list[App]:
        """The apps `type` can name on this server, and whether each can run there."""
        reply = await self._http.call(Request("GET", "/apps"))
        return [App.from_json(app) for app in reply.data()]


def _step(step: str | Mapping[str, Any]) -> dict[str, Any]:
    """A `then` step as the server takes it: an app's name alone, or {type, params}."""
    return {"type": step} if isinstance(step, str) else dict(step)
