"""AsyncClient's /batches calls: several views of one model in one request, each rendered in
`variations` with one app, preset, params, reference and seed. Kept apart from aio.py so that
each stays short."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import uuid
import zipfile
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypedDict

import aiohttp

from rendergate.client import sse
from rendergate.client.errors import ApiError, Unreachable
from rendergate.client.inputs import Image, is_url, multipart, read_image
from rendergate.client.models import Batch, Task
from rendergate.client.transport import NO_ANSWER, Request, Transport

View = Image | int  # a path, bytes, an http(s) URL, or a finished task's id (its result)
Step = str | Mapping[str, Any]  # an app's name, or {"type": ..., "params": {...}}
BatchProgress = Callable[[Task], object]


class BatchOptions(TypedDict, total=False):
    """create_batch()'s arguments after the images (Client's create_batch takes them so)."""

    angles: Sequence[str] | None
    reference: Image | None
    type: str | None
    preset: str | None
    params: dict[str, Any] | None
    variations: int
    seed: int | None
    name: str | None
    then: Sequence[Step] | None
    webhook_url: str | None
    idempotency_key: str | None


class BatchCalls:
    """Mixed into AsyncClient, whose transport `_http` and `poll_interval_s` it uses."""

    _http: Transport
    poll_interval_s: float

    async def create_batch(
        self,
        images: Sequence[View],
        *,
        angles: Sequence[str] | None = None,
        reference: Image | None = None,
        type: str | None = None,
        preset: str | None = None,
        params: dict[str, Any] | None = None,
        variations: int = 1,
        seed: int | None = None,
        name: str | None = None,
        then: Sequence[Step] | None = None,
        webhook_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Batch:
        """A batch of 1 to 12 views, each run `variations` (1 to 4) times: variation k with
        `seed` + k (the server picks `seed` unless given). `images` are paths or bytes (sent
        as one multipart upload), http(s) URLs the server fetches, or ids of finished tasks
        whose results are the images; `angles`, one per image, name them in the zip. `type`,
        `preset`, `params` and `reference` as in create(); `then` lists steps run on each
        result (app names, or {type, params}). Accepted or refused whole; every try sends
        the same Idempotency-Key (a new UUID unless given), so a retry makes no second batch."""
        if angles is not None and len(angles) != len(images):
            raise ValueError(f"{len(angles)} angles for {len(images)} images: give one each")
        fields = {
            "type": type,
            "preset": preset,
            "params": params or {},
            "variations": variations,
            "seed": seed,
            "name": name,
            "then": None if then is None else [_step(s) for s in then],
            "webhook_url": webhook_url,
        }
        given = {key: value for key, value in fields.items() if value is not None}
        request = await _batch_request(images, list(angles or ()), reference, given)
        request.headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        return Batch.from_json((await self._http.call(request)).data())

    async def get_batch(self, batch_id: int) -> Batch:
        """The batch now, with its members."""
        return Batch.from_json((await self._http.call(Request("GET", _path(batch_id)))).data())

    async def list_batches(
        self, *, q: str = "", members: bool = True, limit: int = 20
    ) -> AsyncGenerator[Batch, None]:
        """Every batch of the key's (`q`: whose name holds it, in any case), newest first,
        fetched `limit` (1-100) at a time as the iteration reaches each page's
        `next_cursor`. `members` False leaves each batch's `tasks` empty: a light list."""
        query = {"limit": str(limit), "members": "true" if members else "false"}
        if q:
            query["q"] = q
        async for item in self._http.pages("/batches", query, "batches"):
            yield Batch.from_json(item)

    async def cancel_batch(self, batch_id: int) -> Batch:
        """Cancels every unfinished member (finished ones keep their results); Conflict when
        the batch has ended already."""
        return await self._posted(f"{_path(batch_id)}/cancel")

    async def retry_batch(self, batch_id: int) -> Batch:
        """Runs the failed and canceled members again, each as a new member in its place
        (`rerun_of` names the old one); Conflict while the batch runs or when none failed."""
        return await self._posted(f"{_path(batch_id)}/retry")

    async def wait_batch(
        self,
        batch_id: int,
        *,
        timeout: float = 3600.0,  # noqa: ASYNC109 (the same call as Client.wait_batch)
        on_progress: BatchProgress | None = None,
    ) -> Batch:
        """The batch once it has ended (completed, partial, failed or canceled: check
        `status`), following its event stream, or polling where there is none.
        `on_progress` sees each member (a Task, with `view` and `variation`) each time its
        status or progress changes. TimeoutError after `timeout` seconds."""
        try:
            async with (
                asyncio.timeout(timeout),
                contextlib.aclosing(self._follow_batch(batch_id)) as seen,
            ):
                async for item in seen:
                    if isinstance(item, Batch):
                        return item
                    if on_progress is not None:
                        on_progress(item)
        except TimeoutError:
            raise TimeoutError(f"batch {batch_id} did not finish in {timeout:g} s") from None
        raise AssertionError("_follow_batch() ends with the batch")  # pragma: no cover

    async def download_batch(
        self, batch_id: int, directory: str | Path, *, kept: bool = False
    ) -> list[Path]:
        """Every result the batch has (`kept`: only the kept ones and the steps made from
        them), from its zip, written into `directory` (made if need be) under the zip's
        names: view01_front_v1.png, ... (view, angle, variation, then each step's app).
        NotFound while it has none."""
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self._http.timeout, sock_read=self._http.timeout
        )
        query = {"kept": "true"} if kept else None
        path = f"{_path(batch_id)}/archive"
        reply = await self._http.call(Request("GET", path, query=query, timeout=timeout))
        try:
            return await asyncio.to_thread(_unzipped, reply.body, Path(directory))
        except zipfile.BadZipFile as exc:
            raise ApiError(reply.status, f"the batch's archive is not a zip: {exc}") from None

    async def _posted(self, path: str) -> Batch:
        return Batch.from_json((await self._http.call(Request("POST", path))).data())

    async def _follow_batch(self, batch_id: int) -> AsyncGenerator[Task | Batch, None]:
        """Each member as its status or progress changes, then the batch once it has
        ended: from its event stream while there is one, then by polling."""
        seen: dict[int, tuple[str, int]] = {}

        def changed(task: Task) -> bool:
            now = (task.status.value, task.progress)
            before, seen[task.task_id] = seen.get(task.task_id), now
            return before != now

        with contextlib.suppress(ApiError, Unreachable, *NO_ANSWER):
            async with contextlib.aclosing(self._batch_frames(batch_id)) as frames:
                async for frame in frames:
                    if frame.event.startswith("task."):
                        task = sse.task_of(frame)
                        if changed(task):
                            yield task
                    elif frame.event != "batch.progress":  # its end
                        yield await self.get_batch(batch_id)
                        return
        while True:
            batch = await self.get_batch(batch_id)
            for task in batch.tasks:
                if changed(task):
                    yield task
            if batch.status.is_terminal:
                yield batch
                return
            await asyncio.sleep(self.poll_interval_s)

    async def _batch_frames(self, batch_id: int) -> AsyncGenerator[sse.Frame, None]:
        headers = {"Accept": "text/event-stream"}
        timeout = self._http.stream_timeout()
        request = Request("GET", f"{_path(batch_id)}/events", headers=headers, timeout=timeout)
        async with self._http.open(request) as response:
            async for frame in sse.frames(response.content.iter_any()):
                yield frame


def ended(item: Task | Batch, on_progress: BatchProgress | None) -> Batch | None:
    """The batch once `item` is it (a wait's end); else None, having told `on_progress` of
    the member."""
    if isinstance(item, Batch):
        return item
    if on_progress is not None:
        on_progress(item)
    return None


def _path(batch_id: int) -> str:
    return f"/batches/{batch_id}"


def _step(step: Step) -> dict[str, Any]:
    if isinstance(step, str):
        return {"type": step, "params": {}}
    return {"type": step["type"], "params": dict(step.get("params") or {})}


async def _batch_request(
    images: Sequence[View], angles: list[str], reference: Image | None, fields: dict[str, Any]
) -> Request:
    """Multipart when every image is a file or bytes (no base64 inflation); JSON views when
    one is a URL or a task id."""
    if any(isinstance(image, int) or is_url(image) for image in [*images, reference]):
        views = [await _json_view(image) for image in images]
        for view, angle in zip(views, angles, strict=False):
            view["angle"] = angle
        body = {"views": views, **fields}
        if is_url(reference):
            body["reference_url"] = reference
        elif reference is not None:
            data = (await read_image("reference", reference))[1]
            body["reference_base64"] = base64.b64encode(data).decode()
        return Request("POST", "/batches", json=body)
    files = []
    for role, image in [*(("image", i) for i in images), ("reference", reference)]:
        if image is not None and not isinstance(image, int):
            name, data = await read_image(role, image)
            files.append((role, name, data))
    texts = [("angle", angle) for angle in angles] + list(fields.items())
    return Request("POST", "/batches", body=multipart(files, texts))


async def _json_view(image: View) -> dict[str, Any]:
    if isinstance(image, int):
        return {"image_task_id": image}
    if is_url(image):
        return {"image_url": image}
    return {"image_base64": base64.b64encode((await read_image("image", image))[1]).decode()}


def _unzipped(archive: bytes, directory: Path) -> list[Path]:
    """The zip's files written into `directory`, each by its own name, never a path the zip
    names (a zip from elsewhere could say ../..)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        for member in opened.infolist():
            name = Path(member.filename).name
            if member.is_dir() or name in ("", ".", ".."):
                continue
            target = directory / name
            target.write_bytes(opened.read(member))
            written.append(target)
    return written
