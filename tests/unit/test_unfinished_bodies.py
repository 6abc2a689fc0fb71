"""The answers of unfinished tasks kept for GET: a read that raced a change keeps nothing, an
older version never replaces a newer one, and a task whose answer moves without a write is
not kept."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from rendergate.api.finished_cache import UnfinishedBodies
from rendergate.domain.task import JobHandle, Task

NOW = datetime(2026, 12, 6, tzinfo=UTC)
BASE = "http://127.0.0.1:8000"


def running(version: int) -> Task:
    """The task as the store holds it at `version` (the store numbers the versions)."""
    task = Task(task_id=2**41, app="fake", provider="fake", created_at=NOW, updated_at=NOW)
    started = task.start(now=NOW, provider_job=JobHandle(job_id="j"))
    return dataclasses.replace(started, version=version)


def test_a_read_that_raced_a_change_keeps_nothing() -> None:
    bodies = UnfinishedBodies()
    task = running(10)
    with bodies.reading(task.task_id) as keep:
        bodies.forget(task.task_id)  # a write was heard while the read was in flight
        keep(task, BASE, b"v1")
    assert bodies.get(task.task_id) is None
    with bodies.reading(task.task_id) as keep:  # a read begun after the change keeps
        keep(task, BASE, b"v1")
    kept = bodies.get(task.task_id)
    assert kept is not None and kept.body == b"v1" and kept.version == task.version


def test_an_older_version_never_replaces_a_newer_one() -> None:
    bodies = UnfinishedBodies()
    old, new = running(1), running(2)
    with bodies.reading(old.task_id) as slow, bodies.reading(new.task_id) as fast:
        fast(new, BASE, b"new")
        slow(old, BASE, b"old")
    kept = bodies.get(new.task_id)
    assert kept is not None and kept.body == b"new"


def test_submitted_and_finished_tasks_are_not_kept() -> None:
    bodies, task = UnfinishedBodies(), running(10)
    waiting = Task(task_id=7, app="fake", provider="fake", created_at=NOW, updated_at=NOW)
    with bodies.reading(waiting.task_id) as keep:
        keep(waiting, BASE, b"position moves without a write")
    with bodies.reading(task.task_id) as keep:
        keep(task.cancel(now=NOW), BASE, b"finished: FinishedBodies' job")
    assert bodies.get(waiting.task_id) is None and bodies.get(task.task_id) is None


def test_forget_all_drops_everything_and_spoils_reads_in_flight() -> None:
    bodies, task = UnfinishedBodies(), running(10)
    with bodies.reading(task.task_id) as keep:
        keep(task, BASE, b"v")
        bodies.forget_all()  # the listener reconnected: anything may have changed
        assert bodies.get(task.task_id) is None
        keep(task, BASE, b"v")
    assert bodies.get(task.task_id) is None


def test_reads_that_overlap_without_pause_still_keep_after_a_change() -> None:
    """Polls that never leave the task unread: the reads begun after the change keep."""
    bodies, task = UnfinishedBodies(), running(1)
    with bodies.reading(task.task_id) as before:
        bodies.forget(task.task_id)
        with bodies.reading(task.task_id) as after:  # begun once the change was heard
            before(task, BASE, b"maybe older")
            assert bodies.get(task.task_id) is None
            after(task, BASE, b"current")
    kept = bodies.get(task.task_id)
    assert kept is not None and kept.body == b"current"
