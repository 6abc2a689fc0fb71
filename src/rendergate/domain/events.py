"""What a client is told about a task: the changes its event stream shows, the webhooks
its state changes send, and when a failed webhook delivery is tried again.

A task's event is one stored version of it whose public face changed (status, progress,
queue position, provider, result, error, its kept mark); its id is that version, so a
stream resumed after version N misses nothing and repeats nothing. Webhooks are sent for
fewer of them: each status a client acts on, and progress and the kept mark only when asked
for (progress once per PROGRESS_STEP).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from rendergate.domain.errors import InvalidInput, ReplayPending, ShareTaken
from rendergate.domain.task import MAX_VERSION, Task, TaskStatus

PROGRESS_STEP = 10  # percentage points between two task.progress webhooks


class EventType(StrEnum):
    SUBMITTED = "task.submitted"  # in the event stream only: a create is answered already
    PROCESSING = "task.processing"
    PROGRESS = "task.progress"
    COMPLETED = "task.completed"
    FAILED = "task.failed"
    CANCELED = "task.canceled"
    KEPT = "task.kept"  # its owner kept the result as a pick (PUT /tasks/{id}/kept)
    UNKEPT = "task.unkept"  # ... and no longer (DELETE)
    BATCH_COMPLETED = "batch.completed"  # a batch's end, sent to its webhook_url
    BATCH_PARTIAL = "batch.partial"
    BATCH_FAILED = "batch.failed"
    BATCH_CANCELED = "batch.canceled"
    BUDGET_LOW = "usage.budget_low"  # a key's account events, to its account webhook
    BUDGET_REACHED = "usage.budget_reached"


TASK_EVENTS = frozenset(e for e in EventType if e.value.startswith("task."))
WEBHOOK_EVENTS = TASK_EVENTS - {EventType.SUBMITTED}
OPT_IN_EVENTS = frozenset({EventType.PROGRESS, EventType.KEPT, EventType.UNKEPT})
DEFAULT_WEBHOOK_EVENTS = WEBHOOK_EVENTS - OPT_IN_EVENTS

_BY_STATUS = {status: EventType(f"task.{status.value}") for status in TaskStatus}


def _public(task: Task) -> tuple[object, ...]:
    return (
        task.status,
        task.progress,
        task.queue_position,
        task.provider,
        task.outputs,
        task.error_message,
        task.skipped,
        task.cost,
    )


def stream_event(old: Task | None, new: Task) -> EventType | None:
    """The event stream's entry for a write from `old` to `new`, if a client could see it."""
    if old is not None and _public(old) == _public(new):
        if (old.kept_at is None) == (new.kept_at is None):
            return None
        return EventType.UNKEPT if new.kept_at is None else EventType.KEPT
    if old is None or old.status is not new.status:
        return _BY_STATUS[new.status]
    return EventType.PROGRESS


def webhook_event(old: Task | None, new: Task) -> EventType | None:
    """The webhook this write sends, if its task has a webhook_url that subscribes to it."""
    if not new.webhook_url:
        return None
    event = stream_event(old, new)
    same_step = old is not None and new.progress // PROGRESS_STEP == old.progress // PROGRESS_STEP
    if event is EventType.PROGRESS and same_step:
        return None
    if event is None or event.value not in (new.webhook_events or DEFAULT_WEBHOOK_EVENTS):
        return None
    return event


def parse_webhook_events(names: list[str] | None, *, url: str) -> tuple[str, ...]:
    """A create's `webhook_events`, checked: None (not given) means the default set."""
    if names is None:
        return ()
    if not url:
        raise InvalidInput("webhook_events needs a webhook_url", field="webhook_events")
    if not names:
        raise InvalidInput(
            "webhook_events is empty; leave it out for the default events", field="webhook_events"
        )
    unknown = sorted(set(names) - WEBHOOK_EVENTS)
    if unknown:
        known = ", ".join(sorted(WEBHOOK_EVENTS))
        raise InvalidInput(
            f"unknown webhook event {unknown[0]!r}; known events: {known}", field="webhook_events"
        )
    return tuple(sorted(set(names)))


def parse_last_event_id(raw: str | None) -> int:
    """The version a resumed stream goes on after (-1: none given, from the start). Only
    an id the stream could have sent is taken: "²" is a digit to str.isdigit but not to
    int(), and a number past MAX_VERSION is past what the version columns hold."""
    if not raw:
        return -1
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_VERSION:
        raise InvalidInput(
            "Last-Event-ID must be an event id of this stream: a whole number from 0 to "
            f"{MAX_VERSION}",
            field="Last-Event-ID",
            location="header",
        )
    return int(raw)


class DeliveryState(StrEnum):
    PENDING = "pending"  # to be tried (again) at next_at
    DELIVERED = "delivered"  # a 2xx came back
    FAILED = "failed"  # given up: no 2xx within the retry window


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One try of a delivery, as the deliveries log shows it."""

    at: datetime
    status_code: int | None  # None: no answer (refused, timed out, blocked)
    latency_ms: int
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One webhook message (its id is the webhook-id, the same on every try) for one event."""

    delivery_id: str
    task_id: int
    owner: str
    event: EventType
    version: int  # the task version it reports
    url: str
    state: DeliveryState
    created_at: datetime
    next_at: datetime | None
    attempts: tuple[Attempt, ...] = ()
    body: Mapping[str, Any] | None = None  # a batch's event: the whole message, as sent


def check_replay(delivery: Delivery, pending: Sequence[Delivery], *, per_key: int) -> None:
    """Refuses a replay of `delivery` while a replay of the same event is pending, or while
    its key has `per_key` replays pending (`pending`: the key's replays not yet delivered or
    given up). Each replay is one more POST, sent by the workers every key shares."""
    same = (delivery.task_id, delivery.version, delivery.event)
    for other in pending:
        if (other.task_id, other.version, other.event) == same:
            raise ReplayPending(
                f"{other.delivery_id}, a replay of this event, is not delivered yet; "
                "replay it again once it is delivered or failed"
            )
    if len(pending) >= per_key:
        raise ShareTaken(
            f"this key has {len(pending)} webhook replays waiting to be delivered, its "
            "share; try again once one is delivered",
            retry_after_s=5,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off: first_s, then four times as long each try, at most max_s
    apart, until give_up_s after the delivery was created."""

    first_s: float = 5.0
    max_s: float = 3 * 3600.0
    give_up_s: float = 24 * 3600.0

    def next_at(self, delivery: Delivery, attempt: Attempt) -> datetime | None:
        """When to try again after `attempt` failed; None: give up."""
        tries = len(delivery.attempts) + 1
        delay = min(self.first_s * 4 ** (tries - 1), self.max_s)
        when = attempt.at + timedelta(seconds=delay)
        if when > delivery.created_at + timedelta(seconds=self.give_up_s):
            return None
        return when
