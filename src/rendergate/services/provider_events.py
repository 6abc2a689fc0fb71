"""Provider webhooks: a hint that a task's job changed, never the outcome itself.

The callback URL carries a per-task secret (providers like RunningHub sign nothing). The
event only wakes the task's tracking loop, which asks the provider before believing anything,
so a forged, repeated or late webhook can neither complete a task nor complete it twice.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

import structlog

from rendergate.domain.errors import InvalidInput, ProviderRejected, TaskNotFound
from rendergate.providers.base import Provider, webhook_capability
from rendergate.services.ports import Wake, Waker
from rendergate.store.base import TaskStore

log = structlog.get_logger(__name__)


async def receive_webhook(
    *,
    provider_name: str,
    task_id: int,
    token: str,
    headers: Mapping[str, str],
    body: bytes,
    store: TaskStore,
    providers: Mapping[str, Provider],
    wake: Waker,
) -> None:
    task = await store.get(task_id)
    provider = webhook_capability(providers.get(provider_name))
    if (
        provider is None
        or task.provider != provider_name
        or not task.callback_token
        or not hmac.compare_digest(token.encode(), task.callback_token.encode())
    ):
        raise TaskNotFound(task_id)  # the same answer as for a task that does not exist
    try:
        event = provider.parse_webhook(headers, body)
    except ProviderRejected as exc:
        raise InvalidInput(exc.message) from None
    job_id = task.provider_job.job_id if task.provider_job is not None else None
    if job_id is not None and event.job_id != job_id:
        raise InvalidInput(f"the webhook is about job {event.job_id}, not this task's")
    log.info("provider webhook", task_id=task_id, provider=provider_name, kind=event.event)
    await wake(task_id, Wake.WEBHOOK)
