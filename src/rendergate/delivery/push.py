"""Use cases behind a task's push routes: its event log and its webhook deliveries."""

from __future__ import annotations

import functools

from rendergate.domain.errors import TaskNotFound
from rendergate.domain.events import Delivery, check_replay
from rendergate.services import tasks as task_cases
from rendergate.services.context import Services


async def deliveries_of(task_id: int, *, services: Services, caller: str | None) -> list[Delivery]:
    """The task's webhooks, oldest first; another key's task is answered as absent."""
    await task_cases.get_task(task_id, services=services, caller=caller)
    return await services.deliveries.of_task(task_id)


async def replay(
    task_id: int, delivery_id: str, *, services: Services, caller: str | None
) -> Delivery:
    """The delivery's event, queued to be sent again at once under a new webhook-id; not
    while a replay of it is pending (ReplayPending), nor past the key's share (ShareTaken)."""
    found = await deliveries_of(task_id, services=services, caller=caller)
    original = next((d for d in found if d.delivery_id == delivery_id), None)
    if original is None:
        raise TaskNotFound(f"{task_id}'s delivery {delivery_id}")
    check = functools.partial(check_replay, original, per_key=services.settings.max_replays_per_key)
    again = await services.deliveries.replay(original, now=services.clock(), check=check)
    services.changes.publish(task_id, True)
    return again
