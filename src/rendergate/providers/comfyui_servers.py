"""The user's ComfyUI servers: which answer, which is least loaded, and live progress.

A server that fails a call is skipped for a short cool-down and marked as failing since
then; once it has failed for `dead_after_s`, its jobs count as lost, so the tasks are
submitted again to another server. Progress comes from each server's websocket
(`progress_state` is broadcast to every client); `/history` stays the authority on how a
job ended, since the websocket can stall.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog

from rendergate.providers.comfyui_workflow import run_progress
from rendergate.redaction import bare_url

log = structlog.get_logger(__name__)

COOL_DOWN_S = 5.0
MAX_TRACKED_PROMPTS = 10_000
RECONNECT_MAX_S = 10.0


def server_label(url: str) -> str:
    """A server as messages name it: host and port only, never credentials or paths."""
    parts = urlsplit(url)
    return parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else "?"


def server_key(url: str) -> str:
    """A server as stored in job handles: its URL without credentials, query or fragment."""
    return bare_url(url).rstrip("/")


@dataclass
class Server:
    url: str
    failing_since: float | None = None
    skip_until: float = 0.0
    progress: OrderedDict[str, int] = field(default_factory=OrderedDict)
    totals: dict[str, int] = field(default_factory=dict)  # prompt id -> node count
    listener: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return server_label(self.url)

    @property
    def key(self) -> str:
        return server_key(self.url)

    def failed(self, now: float) -> None:
        if self.failing_since is None:
            self.failing_since = now
        self.skip_until = now + COOL_DOWN_S

    def answered(self) -> None:
        self.failing_since = None
        self.skip_until = 0.0

    def is_dead(self, now: float, dead_after_s: float) -> bool:
        return self.failing_since is not None and now - self.failing_since >= dead_after_s

    def watch(self, prompt_id: str, nodes: int) -> None:
        self.totals[prompt_id] = nodes
        self.progress[prompt_id] = 0
        while len(self.progress) > MAX_TRACKED_PROMPTS:
            old, _ = self.progress.popitem(last=False)
            self.totals.pop(old, None)

    def forget(self, prompt_id: str) -> None:
        self.progress.pop(prompt_id, None)
        self.totals.pop(prompt_id, None)

    def on_message(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        if message.get("type") != "progress_state" or not isinstance(data, dict):
            return
        prompt_id = str(data.get("prompt_id", ""))
        nodes = data.get("nodes")
        if prompt_id in self.progress and isinstance(nodes, dict):
            try:
                value = run_progress(nodes, self.totals.get(prompt_id, 0))
            except (TypeError, ValueError):  # odd numbers: progress is only a hint
                return
            self.progress[prompt_id] = max(self.progress[prompt_id], value)


class HeldInputs:
    """Input bytes from `upload` until `submit` has sent them: counted per name, since two
    tasks may bring the same file, and capped in bytes (the oldest go first)."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._files: OrderedDict[str, tuple[bytes, int]] = OrderedDict()
        self._size = 0

    def hold(self, name: str, data: bytes) -> None:
        _, holders = self._files.pop(name, (b"", 0))
        if holders == 0:
            self._size += len(data)
        self._files[name] = (data, holders + 1)
        while self._size > self._max_bytes and len(self._files) > 1:
            _, (dropped, _) = self._files.popitem(last=False)
            self._size -= len(dropped)

    def get(self, name: str) -> bytes | None:
        held = self._files.get(name)
        return held[0] if held else None

    def release(self, name: str) -> None:
        held = self._files.get(name)
        if held is None:
            return
        data, holders = held
        if holders > 1:
            self._files[name] = (data, holders - 1)
        else:
            del self._files[name]
            self._size -= len(data)


class ServerPool:
    def __init__(
        self,
        urls: list[str],
        *,
        session: aiohttp.ClientSession,
        timeout: aiohttp.ClientTimeout,
        client_id: str,
        dead_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.servers = [Server(url.rstrip("/")) for url in urls]
        self._session = session
        self._timeout = timeout
        self._client_id = client_id
        self.dead_after_s = dead_after_s
        self._clock = clock
        self._closed = False

    def find(self, key: str) -> Server | None:
        """The configured server a job handle names (by `Server.key`)."""
        return next((s for s in self.servers if s.key == server_key(key)), None)

    def now(self) -> float:
        return self._clock()

    def candidates(self) -> list[Server]:
        """Servers not cooling down after a failure; all of them when every one is."""
        now = self._clock()
        ready = [s for s in self.servers if s.skip_until <= now]
        return ready or list(self.servers)

    async def load(self, server: Server) -> int | None:
        """queue_remaining of one server; None (and marked failing) when it does not answer."""
        try:
            async with self._session.get(f"{server.url}/prompt", timeout=self._timeout) as response:
                body = await response.json(content_type=None) if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            body = None
        info = body.get("exec_info") if isinstance(body, dict) else None
        if not isinstance(info, dict) or not isinstance(info.get("queue_remaining"), int):
            server.failed(self._clock())
            return None
        server.answered()
        return int(info["queue_remaining"])

    async def least_loaded(self) -> list[Server]:
        """Answering servers, least loaded first (ties keep the configured order)."""
        servers = self.candidates()
        loads = await asyncio.gather(*(self.load(s) for s in servers))
        ranked = sorted(
            ((load, index, s) for index, (s, load) in enumerate(zip(servers, loads, strict=True))),
            key=lambda item: (item[0] is None, item[0] or 0, item[1]),
        )
        return [s for load, _, s in ranked if load is not None]

    def listen(self, server: Server) -> None:
        """Starts following the server's websocket, once, for as long as the pool is open."""
        if self._closed or (server.listener is not None and not server.listener.done()):
            return
        server.listener = asyncio.create_task(
            self._follow(server), name=f"comfyui-ws {server.name}"
        )

    async def _follow(self, server: Server) -> None:
        delay = 0.5
        while not self._closed:
            try:
                url = f"{server.url}/ws?clientId={self._client_id}"
                async with self._session.ws_connect(url, heartbeat=30) as ws:
                    async for frame in ws:
                        delay = 0.5  # it talks: a later drop starts the back-off afresh
                        if frame.type is aiohttp.WSMsgType.TEXT:
                            with contextlib.suppress(ValueError):
                                message = json.loads(frame.data)
                                if isinstance(message, dict):
                                    server.on_message(message)
                        elif frame.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            break
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.debug("comfyui websocket closed", server=server.name, reason=type(exc).__name__)
            if not server.progress:  # nothing to follow: start again on the next job
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def aclose(self) -> None:
        self._closed = True
        listeners = [s.listener for s in self.servers if s.listener is not None]
        for task in listeners:
            task.cancel()
        for task in listeners:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
