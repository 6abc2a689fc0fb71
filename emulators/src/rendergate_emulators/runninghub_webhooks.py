"""TASK_END webhooks, as the SU app document describes them, with retries and optional duplicates.

The docs show `retryCount: 3` in a webhook's detail, so a failed delivery (non-2xx, or the
receiver not reached) is tried again up to `webhook_retries` times, `webhook_backoff_s`
doubling between tries. Only loopback receivers are ever contacted: the emulator must not
post to the outside world whatever URL a test hands it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from rendergate_emulators.runninghub_model import HubKnobs, WebhookAttempt

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def is_loopback_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname) in LOOPBACK
    except ValueError:
        return False


class WebhookSender:
    """Owns its client session (opened in `open`, closed in `aclose`) and delivery tasks."""

    def __init__(self, knobs: HubKnobs, attempts: list[WebhookAttempt]) -> None:
        self._knobs = knobs
        self._attempts = attempts
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(trust_env=False)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def send(self, task_id: str, url: str, event_data: str) -> None:
        """Queues the event (and its duplicates); returns at once."""
        if self._session is None:
            return  # shutting down
        body = json.dumps({"event": "TASK_END", "taskId": task_id, "eventData": event_data})
        if not is_loopback_url(url):
            attempt = WebhookAttempt(
                task_id, url, 0, 0, time.time(), None, "refused: not a loopback URL"
            )
            self._attempts.append(attempt)
            return
        for copy in range(1 + self._knobs.webhook_duplicates):
            task = asyncio.get_running_loop().create_task(
                self._deliver(task_id, url, body, copy), name=f"webhook-{task_id}-{copy}"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, task_id: str, url: str, body: str, copy: int) -> None:
        if self._knobs.webhook_delay_s > 0:
            await asyncio.sleep(self._knobs.webhook_delay_s)
        retries = self._knobs.webhook_retries
        for attempt in range(1, retries + 2):
            status, error = await self._post(url, body)
            record = WebhookAttempt(task_id, url, copy, attempt, time.time(), status, error)
            self._attempts.append(record)
            if record.ok or attempt > retries:
                return
            await asyncio.sleep(self._knobs.webhook_backoff_s * 2 ** (attempt - 1))

    async def _post(self, url: str, body: str) -> tuple[int | None, str | None]:
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=self._knobs.webhook_timeout_s)
        headers: Any = {"Content-Type": "application/json"}
        try:
            async with self._session.post(url, data=body, headers=headers, timeout=timeout) as r:
                await r.read()
                return r.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
