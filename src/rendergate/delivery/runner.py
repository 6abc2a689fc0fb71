"""Wires a worker's webhook delivery loop (delivery/loop.py): part of the
composition root, apart from runtime/bootstrap.py only to keep each module short."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from rendergate.config.settings import Settings
from rendergate.delivery.loop import DeliveryLoop
from rendergate.delivery.sender import WebhookSender
from rendergate.domain.events import RetryPolicy
from rendergate.domain.task import Task
from rendergate.services.changes import Changes
from rendergate.services.keys import KeyRing
from rendergate.services.links import outbound_base
from rendergate.services.metrics import Metrics
from rendergate.services.presenting import present_task
from rendergate.store.deliveries import SqlDeliveries


@dataclass(frozen=True)
class Delivering:
    """What the delivery loop uses: its rows, the keys whose secrets sign, the changes
    that wake it, the settings of its retries and links, and the series it counts in."""

    settings: Settings
    rows: SqlDeliveries
    keys: KeyRing
    changes: Changes
    clock: Callable[[], datetime]
    metrics: Metrics


async def delivering(
    parts: Delivering, stack: contextlib.AsyncExitStack
) -> Coroutine[Any, Any, None]:
    """The loop to run in the background; its HTTP session is closed after it stops."""
    settings = parts.settings
    sender = await stack.enter_async_context(
        WebhookSender(allow=settings.fetch_allow, timeout_s=settings.webhook_timeout_s)
    )

    def render(task: Task) -> dict[str, Any]:
        return present_task(task, base=outbound_base(settings, task)).model_dump(mode="json")

    async def secrets(owner: str) -> list[str]:
        return await signing_secrets(
            owner, keys=parts.keys, webhook_secret=settings.webhook_secret, clock=parts.clock
        )

    loop = DeliveryLoop(
        rows=parts.rows,
        sender=sender,
        secrets=secrets,
        render=render,
        changes=parts.changes,
        clock=parts.clock,
        policy=RetryPolicy(
            first_s=settings.webhook_retry_first_s, give_up_s=settings.webhook_give_up_s
        ),
        concurrency=settings.webhook_concurrency,
        try_timeout_s=settings.webhook_timeout_s,
        on_outcome=parts.metrics.delivery,
    )
    return loop.run()


async def signing_secrets(
    owner: str,
    *,
    keys: KeyRing,
    webhook_secret: SecretStr | None,
    clock: Callable[[], datetime],
) -> list[str]:
    """What signs an owner's webhooks: its key's secret, with the previous one during a
    rotation's overlap; in open mode RENDERGATE_WEBHOOK_SECRET. None: not to be sent."""
    if not owner:
        return [webhook_secret.get_secret_value()] if webhook_secret else []
    key = (await keys.active()).get(owner)
    if key is None:
        return []
    now = clock()
    previous = key.previous_until is not None and key.previous_until > now
    return [key.webhook_secret, *([key.previous_webhook_secret] if previous else [])]
