"""Wires a worker's webhook delivery loop (delivery/loop.py): part of the
composition root, apart from runtime/bootstrap.py only to keep each module short."""

from __future__ import annotations

import contextlib
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from rendergate.delivery.loop import DeliveryLoop
from rendergate.delivery.sender import WebhookSender
from rendergate.domain.events import RetryPolicy
from rendergate.domain.task import Task
from rendergate.services.context import Services
from rendergate.services.links import outbound_base
from rendergate.services.presenting import present_task
from rendergate.store.deliveries import SqlDeliveries


async def delivering(
    services: Services, stack: contextlib.AsyncExitStack
) -> Coroutine[Any, Any, None]:
    """The loop to run in the background; its HTTP session is closed after it stops."""
    settings = services.settings
    rows = services.deliveries
    if not isinstance(rows, SqlDeliveries):
        raise TypeError("webhook delivery needs the SQL store's deliveries")
    sender = await stack.enter_async_context(
        WebhookSender(allow=settings.fetch_allow, timeout_s=settings.webhook_timeout_s)
    )

    def render(task: Task) -> dict[str, Any]:
        return present_task(task, base=outbound_base(settings, task)).model_dump(mode="json")

    async def secrets(owner: str) -> list[str]:
        return await signing_secrets(services, owner)

    loop = DeliveryLoop(
        rows=rows,
        sender=sender,
        secrets=secrets,
        render=render,
        changes=services.changes,
        clock=services.clock,
        policy=RetryPolicy(
            first_s=settings.webhook_retry_first_s, give_up_s=settings.webhook_give_up_s
        ),
        concurrency=settings.webhook_concurrency,
        try_timeout_s=settings.webhook_timeout_s,
        on_outcome=services.metrics.delivery,
    )
    return loop.run()


async def signing_secrets(services: Services, owner: str) -> list[str]:
    """What signs an owner's webhooks: its key's secret, with the previous one during a
    rotation's overlap; in open mode RENDERGATE_WEBHOOK_SECRET. None: not to be sent."""
    if not owner:
        secret = services.settings.webhook_secret
        return [secret.get_secret_value()] if secret else []
    key = (await services.keys.active()).get(owner)
    if key is None:
        return []
    now: datetime = services.clock()
    previous = key.previous_until is not None and key.previous_until > now
    return [key.webhook_secret, *([key.previous_webhook_secret] if previous else [])]
