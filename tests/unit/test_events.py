"""What a client is told (domain/events.py): which writes are events, which send webhooks,
and when a failed webhook is tried again."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from rendergate.domain.errors import InvalidInput
from rendergate.domain.events import (
    Attempt,
    Delivery,
    DeliveryState,
    EventType,
    RetryPolicy,
    parse_webhook_events,
    stream_event,
    webhook_event,
)
from rendergate.domain.task import JobHandle, ResultFile, Task

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def task(**changes: object) -> Task:
    base = Task(task_id=1, app="fake", provider="fake", created_at=T0, updated_at=T0)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_each_visible_change_is_an_event_and_nothing_else_is() -> None:
    new = task()
    started = new.start(now=T0, provider_job=JobHandle(job_id="j"))
    assert stream_event(None, new) is EventType.SUBMITTED
    assert stream_event(new, started) is EventType.PROCESSING
    assert stream_event(started, started.report(now=T0, progress=40)) is EventType.PROGRESS
    assert stream_event(started, started.needs_resubmit(now=T0)) is None  # nothing to see
    done = started.complete(
        now=T0, outputs=(ResultFile(key="k", content_type="image/png", size=1),)
    )
    assert stream_event(started, done) is EventType.COMPLETED


def test_webhooks_go_only_to_subscribers_and_progress_once_per_ten_points() -> None:
    hooked = task(webhook_url="https://example.com/h")
    started = hooked.start(now=T0, provider_job=JobHandle(job_id="j"))
    assert webhook_event(hooked, started) is EventType.PROCESSING
    assert webhook_event(task(), task().start(now=T0, provider_job=JobHandle(job_id="j"))) is None
    at_12 = started.report(now=T0, progress=12)
    assert webhook_event(started, at_12) is None  # progress is opt-in
    wants = dataclasses.replace(started, webhook_events=("task.progress",))
    at_12, at_19, at_21 = (wants.report(now=T0, progress=p) for p in (12, 19, 21))
    assert webhook_event(wants, at_12) is EventType.PROGRESS  # 1 -> 12: a new ten
    assert webhook_event(at_12, at_19) is None  # the same ten
    assert webhook_event(at_19, at_21) is EventType.PROGRESS
    assert webhook_event(at_19, at_19.cancel(now=T0)) is None  # not subscribed to it


def test_the_kept_mark_is_an_event_and_a_webhook_only_when_asked_for() -> None:
    done = task(webhook_url="https://example.com/h").complete(
        now=T0, outputs=(ResultFile(key="k", content_type="image/png", size=1),)
    )
    kept = done.keep(now=T0 + timedelta(seconds=1))
    unkept = kept.unkeep(now=T0 + timedelta(seconds=2))
    assert stream_event(done, kept) is EventType.KEPT
    assert stream_event(kept, unkept) is EventType.UNKEPT
    assert stream_event(kept, kept.keep(now=T0)) is None  # kept again: the same task
    assert webhook_event(done, kept) is None  # not in the default set
    wants = dataclasses.replace(done, webhook_events=("task.kept", "task.unkept"))
    kept = wants.keep(now=T0)
    assert webhook_event(wants, kept) is EventType.KEPT
    assert webhook_event(kept, kept.unkeep(now=T0)) is EventType.UNKEPT


def test_webhook_events_are_checked() -> None:
    url = "https://example.com/h"
    assert parse_webhook_events(None, url=url) == ()  # the default set
    assert parse_webhook_events(["task.failed", "task.completed", "task.failed"], url=url) == (
        "task.completed",
        "task.failed",
    )
    with pytest.raises(InvalidInput, match=r"unknown webhook event 'task\.submitted'"):
        parse_webhook_events(["task.submitted"], url=url)  # a create is answered already
    with pytest.raises(InvalidInput, match="webhook_events is empty"):
        parse_webhook_events([], url=url)
    with pytest.raises(InvalidInput, match="webhook_events needs a webhook_url"):
        parse_webhook_events(["task.failed"], url="")


def test_retries_wait_four_times_longer_each_time_until_the_window_ends() -> None:
    policy = RetryPolicy(first_s=5, max_s=3600, give_up_s=24 * 3600)
    delivery = Delivery(
        delivery_id="msg_1",
        task_id=1,
        owner="",
        event=EventType.COMPLETED,
        version=3,
        url="https://example.com/h",
        state=DeliveryState.PENDING,
        created_at=T0,
        next_at=T0,
    )
    waits, at = [], T0
    for _ in range(30):
        failed = Attempt(at=at, status_code=500, latency_ms=3)
        when = policy.next_at(delivery, failed)
        if when is None:
            break
        waits.append((when - at).total_seconds())
        delivery = dataclasses.replace(delivery, attempts=(*delivery.attempts, failed))
        at = when
    assert waits[:5] == [5, 20, 80, 320, 1280]
    assert max(waits) == 3600 and at <= T0 + timedelta(hours=24)
    assert len(waits) < 30  # given up within the day
