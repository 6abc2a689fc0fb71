"""AsyncClient's calls for choosing among results and handing them on: keep a task as a pick,
upscale a batch's kept results inside it, share a batch by a link that expires, fetch a
task's input and thumbnails, and ask the price before a render (quote) and the key's month
(account). Kept apart from aio.py so that each stays short."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, overload

from rendergate.client.files import bytes_or_file
from rendergate.client.models import Task
from rendergate.client.studio_models import Account, BatchSteps, Quote, Share
from rendergate.client.transport import Request, Transport

InputRole = Literal["image", "reference"]  # the screenshot sent, or the look's image
ThumbnailRole = Literal["result", "image", "reference"]
FilePath = str | os.PathLike[str]


class StudioCalls:
    """Mixed into AsyncClient, whose transport `_http` it uses."""

    _http: Transport

    async def keep(self, task_id: int) -> Task:
        """Keeps a completed task as a pick: `task.kept`, and `kept_at` the first time it was
        kept (keeping it again changes nothing). Conflict if it has not completed."""
        return await self._kept("PUT", task_id)

    async def unkeep(self, task_id: int) -> Task:
        """No longer keeps the task (also when it was not kept)."""
        return await self._kept("DELETE", task_id)

    async def quote(
        self,
        *,
        type: str | None = None,
        preset: str | None = None,
        renders: int = 1,
        then: Sequence[str] | None = None,
    ) -> Quote:
        """What the key would be charged for a create of `renders` (1-48: a batch's views
        times variations) tasks of app `type` or `preset`, each with the `then` steps (app
        names), exactly as the create is charged; and `refusal`, what it would be answered
        now (None: it fits). Writes nothing."""
        asked = {"type": type, "preset": preset, "then": ",".join(then or ())}
        query = {"renders": str(renders)} | {k: v for k, v in asked.items() if v}
        reply = await self._http.call(Request("GET", "/quote", query=query))
        return Quote.from_json(reply.data())

    async def account(self) -> Account:
        """The key's month: renders, what they were charged, its budget and what is left,
        its limits and their use now, and its prices."""
        return Account.from_json((await self._http.call(Request("GET", "/account"))).data())

    async def upscale_batch(
        self,
        batch_id: int,
        *,
        type: str = "upscale",
        params: dict[str, Any] | None = None,
        tasks: Sequence[int] | None = None,
    ) -> BatchSteps:
        """Runs an upscaler (an app of kind upscale) on the batch's kept results, or on
        `tasks` (completed members), inside the batch: its tasks, events, zip and cost.
        Charged at the key's price, all or none (RateLimited over its limits or budget); a
        result that has the step already gets that task back, not charged again. Conflict
        when a chosen task has not completed or none is kept."""
        body: dict[str, Any] = {"type": type, "params": params or {}}
        if tasks is not None:
            body["tasks"] = list(tasks)
        request = Request("POST", f"/batches/{batch_id}/steps", json=body)
        return BatchSteps.from_json((await self._http.call(request)).data())

    async def create_share(
        self, batch_id: int, *, expires_in_days: int = 7, kept_only: bool = True
    ) -> Share:
        """A read-only link to the batch for someone without a key, for 1 to 30 days: its
        kept results (and the steps made from them), or all with `kept_only` False; never
        prices or params. `share.url` (and `share.token`) is answered this once only."""
        body = {"expires_in_days": expires_in_days, "kept_only": kept_only}
        reply = await self._http.call(Request("POST", _shares(batch_id), json=body))
        return Share.from_json(reply.data())

    async def shares(self, batch_id: int) -> list[Share]:
        """Every link made for the batch, expired and revoked ones too, oldest first (with
        no `url`)."""
        reply = await self._http.call(Request("GET", _shares(batch_id)))
        return [Share.from_json(share) for share in reply.data()["shares"]]

    async def revoke_share(self, batch_id: int, share_id: int) -> Share:
        """The link answers 404 from now on; revoking it again changes nothing."""
        request = Request("DELETE", f"{_shares(batch_id)}/{share_id}")
        return Share.from_json((await self._http.call(request)).data())

    @overload
    async def download_input(
        self, task_id: int, path: None = None, *, role: InputRole = "image"
    ) -> bytes: ...
    @overload
    async def download_input(
        self, task_id: int, path: FilePath, *, role: InputRole = "image"
    ) -> Path: ...
    async def download_input(
        self, task_id: int, path: FilePath | None = None, *, role: InputRole = "image"
    ) -> bytes | Path:
        """A stored input of the task, as it was sent: its image (the screenshot) or its
        reference; bytes, or the file written as download() writes one."""
        request = Request("GET", f"/tasks/{task_id}/input", query={"role": role})
        return await bytes_or_file(await self._http.call(request), path, f"{task_id}-{role}")

    @overload
    async def download_thumbnail(
        self,
        task_id: int,
        path: None = None,
        *,
        width: int,
        role: ThumbnailRole = "result",
        index: int = 0,
    ) -> bytes: ...
    @overload
    async def download_thumbnail(
        self,
        task_id: int,
        path: FilePath,
        *,
        width: int,
        role: ThumbnailRole = "result",
        index: int = 0,
    ) -> Path: ...
    async def download_thumbnail(
        self,
        task_id: int,
        path: FilePath | None = None,
        *,
        width: int,
        role: ThumbnailRole = "result",
        index: int = 0,
    ) -> bytes | Path:
        """A result (output `index`) or input of the task at `width` 160, 320, 640 or 1280
        pixels wide (never enlarged), as WebP; bytes, or the file written as download()
        writes one. InvalidRequest for another width."""
        query = {"width": str(width), "role": role, "index": str(index)}
        request = Request("GET", f"/tasks/{task_id}/thumbnail", query=query)
        name = f"{task_id}-{role}-{index}-w{width}.webp"
        return await bytes_or_file(await self._http.call(request), path, name)

    async def _kept(self, method: str, task_id: int) -> Task:
        reply = await self._http.call(Request(method, f"/tasks/{task_id}/kept"))
        return Task.from_json(reply.data())


def _shares(batch_id: int) -> str:
    return f"/batches/{batch_id}/shares"
