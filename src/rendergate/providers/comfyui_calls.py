"""One ComfyUI server's HTTP API as the adapter uses it: a call that marks a silent server
failing, the queue, the history (of one prompt, or of several in one bounded read), whether
a server holds a prompt, sending an input, fetching an output, and stopping a prompt."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from rendergate.domain.errors import InputsGone, JobLost, ProviderRejected, ProviderUnavailable
from rendergate.providers.comfyui_servers import Server
from rendergate.providers.comfyui_workflow import queue_places
from rendergate.providers.http import exchange

HISTORY_WINDOW = 64  # the most history entries one read asks for (each holds its graph)
HISTORY_SLACK = 8  # others' prompts that may have ended among ours since the last round


class ServerApi:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        timeout: aiohttp.ClientTimeout,
        now: Callable[[], float],
    ) -> None:
        self._http = http
        self._timeout = timeout
        self._now = now

    async def call(
        self, server: Server, method: str, path: str, **kwargs: Any
    ) -> tuple[int, Any, bytes]:
        """(status, JSON or None, raw body); a server that does not answer is marked failing."""
        try:
            reply = await exchange(
                self._http,
                method,
                server.url + path,
                who=f"ComfyUI server {server.name}",
                time_limit=self._timeout,
                **kwargs,
            )
        except ProviderUnavailable:
            server.failed(self._now())
            raise
        status, raw = reply.status, reply.body
        if status >= 500:
            server.failed(self._now())
            raise ProviderUnavailable(f"ComfyUI server {server.name} answered HTTP {status}")
        server.answered()
        try:
            body = json.loads(raw) if raw[:1] in (b"{", b"[") else None
        except (ValueError, RecursionError):
            body = None
        return status, body, raw

    async def queue_places(self, server: Server) -> dict[str, int]:
        """Each prompt the server holds: 0 while running, n when n-th in line."""
        status, body, _ = await self.call(server, "GET", "/queue")
        try:
            if status != 200:
                raise ValueError(f"HTTP {status}")
            return queue_places(body)
        except ValueError as exc:
            raise ProviderUnavailable(
                f"ComfyUI server {server.name} gave an unreadable queue ({exc})"
            ) from exc

    async def queue_place(self, server: Server, prompt_id: str) -> int | None:
        """0 while running, n when n-th in line, None when in neither list."""
        return (await self.queue_places(server)).get(prompt_id)

    async def history(self, server: Server, prompt_id: str) -> Mapping[str, Any] | None:
        entry = (await self._history(server, f"/history/{prompt_id}")).get(prompt_id)
        return entry if isinstance(entry, dict) else None

    async def histories(self, server: Server, prompt_ids: list[str]) -> dict[str, Any]:
        """The entries the server still has of these prompts. Several are read at once from
        its latest entries (at most HISTORY_WINDOW, since each holds its whole graph); one
        that ended before those, or a lone prompt, is read by its id."""
        found: dict[str, Any] = {}
        if len(prompt_ids) > 1:
            latest = min(len(prompt_ids) + HISTORY_SLACK, HISTORY_WINDOW)
            body = await self._history(server, "/history", params={"max_items": latest})
            found = {p: body[p] for p in prompt_ids if isinstance(body.get(p), dict)}
        for prompt_id in prompt_ids:
            if prompt_id in found:
                continue
            if (entry := await self.history(server, prompt_id)) is not None:
                found[prompt_id] = entry
        return found

    async def _history(self, server: Server, path: str, **kwargs: Any) -> dict[str, Any]:
        status, body, _ = await self.call(server, "GET", path, **kwargs)
        if status != 200 or not isinstance(body, dict):
            raise ProviderUnavailable(f"ComfyUI server {server.name} answered HTTP {status}")
        return body

    async def has_prompt(self, server: Server, prompt_id: str) -> bool:
        if await self.queue_place(server, prompt_id) is not None:
            return True
        return await self.history(server, prompt_id) is not None

    async def send_input(self, server: Server, name: str, data: bytes | None) -> None:
        """Uploads an input; one no longer held (None: let go of under the memory cap) may
        still be on this server, or must be uploaded to us again."""
        if data is None:
            status, _, _ = await self.call(
                server, "GET", "/view", params={"filename": name, "type": "input"}
            )
            if status == 200:
                return
            raise InputsGone(f"the input {name} is no longer held here; upload it again")
        form = aiohttp.FormData()
        form.add_field("image", data, filename=name, content_type="application/octet-stream")
        form.add_field("overwrite", "true")
        status, body, _ = await self.call(server, "POST", "/upload/image", data=form)
        if status != 200 or not isinstance(body, dict) or body.get("name") != name:
            raise ProviderRejected(
                f"ComfyUI server {server.name} refused the input upload (HTTP {status})"
            )

    async def output(self, server: Server, locator: str) -> bytes:
        """An output file, by the `/view` query its history entry gave."""
        status, _, raw = await self.call(server, "GET", f"/view?{locator}")
        if status == 404:
            raise JobLost(f"ComfyUI server {server.name} no longer has the output")
        if status != 200:
            raise ProviderUnavailable(f"ComfyUI server {server.name} answered HTTP {status}")
        return raw

    async def stop(self, server: Server, prompt_id: str) -> bool:
        """Deletes a pending prompt, interrupts a running one; False once it has ended."""
        place = await self.queue_place(server, prompt_id)
        stopped = place is not None
        if place is not None and place > 0:
            await self.call(server, "POST", "/queue", json={"delete": [prompt_id]})
            place = await self.queue_place(server, prompt_id)  # it may have started meanwhile
        if place == 0:
            await self.call(server, "POST", "/interrupt", json={"prompt_id": prompt_id})
        return stopped
