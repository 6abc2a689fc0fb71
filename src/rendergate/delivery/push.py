"""Use cases behind a task's push routes: its event log and its webhook deliveries."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rendergate.domain.errors import TaskNotFound
from rendergate.domain.events import Delivery, check_replay
from rendergate.services import tasks as task_cases
from rendergate.services.cache import FinishedTasks
from rendergate.services.changes import Changes
from rendergate.store.base import DeliveryLog, TaskStore


async def deliveries_of(
    task_id: int,
    *,
    store: TaskStore,
    finished: FinishedTasks,
    deliveries: DeliveryLog,
    caller: str | None,
) -> list[Delivery]:
    """The task's webhooks, oldest first; another key's task is answered as absent."""
    await task_cases.get_task(task_id, store=store, finished=finished, caller=caller)
    return await deliveries.of_task(task_id)


@dataclass(frozen=True)
class Replaying:
    """What a replay uses: the task (the caller's), its deliveries, the key's share of
    pending replays (RENDERGATE_MAX_REPLAYS_PER_KEY), and the change that wakes the sender."""

    store: TaskStore
    finished: FinishedTasks
    deliveries: DeliveryLog
    max_replays_per_key: int
    changes: Changes
    clock: Callable[[], datetime]


async def replay(
    task_id: int, delivery_id: str, replaying: Replaying, *, caller: str | None
) -> Delivery:
    """The delivery's event, queued to be sent again at once under a new webhook-id; not
    while a replay of it is pending (ReplayPending), nor past the key's share (ShareTaken)."""
    log = replaying.deliveries
    found = await deliveries_of(
        task_id, store=replaying.store, finished=replaying.finished, deliveries=log, caller=caller
    )
    original = next((d for d in found if d.delivery_id == delivery_id), None)
    if original is None:
        raise TaskNotFound(f"{task_id}'s delivery {delivery_id}")
    check = functools.partial(check_replay, original, per_key=replaying.max_replays_per_key)
    again = await log.replay(original, now=replaying.clock(), check=check)
    replaying.changes.publish(task_id, True)
    return again
