"""The store codec: tasks to rows and back, and rows written by older versions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from rendergate.domain.task import ErrorKind, InputRef, JobHandle, ResultRef, Task
from rendergate.store.codec import changed_columns, from_row, from_snapshot, to_row, to_snapshot

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_a_task_survives_the_round_trip() -> None:
    task = Task(
        task_id=7,
        app="fake",
        provider="fake",
        inputs={"image": InputRef(key="inputs/7/image.bmp", content_type="image/bmp")},
        provider_job=JobHandle(job_id="j", data={"attempt": 1, "nested": {"ok": True}}),
        link_base="https://render.example.com",
        seed=2**53 - 1,
        rerun_of=2**40,
        parent=ResultRef(2**41, 3),
        created_at=NOW,
        updated_at=NOW,
    )
    assert from_row(to_row(task)) == task


def test_a_row_from_before_content_types_were_kept_still_reads() -> None:
    row = to_row(Task(task_id=8, app="fake", provider="fake", created_at=NOW, updated_at=NOW))
    row["inputs"] = {"image": "inputs/8/image.gif", "reference": "inputs/8/reference.jpg"}
    assert from_row(row).inputs == {
        "image": InputRef(key="inputs/8/image.gif", content_type="image/gif"),
        "reference": InputRef(key="inputs/8/reference.jpg", content_type="image/jpeg"),
    }


def test_an_event_snapshot_from_before_link_base_was_recorded_still_reads() -> None:
    recorded = Task(task_id=9, app="fake", provider="fake", created_at=NOW, updated_at=NOW)
    snapshot = to_snapshot(replace(recorded, link_base="https://render.example.com"))
    del snapshot["link_base"]
    assert from_snapshot(snapshot) == recorded


def test_an_event_snapshot_from_before_seeds_and_parents_still_reads_without_them() -> None:
    recorded = Task(task_id=10, app="fake", provider="fake", created_at=NOW, updated_at=NOW)
    snapshot = to_snapshot(replace(recorded, seed=5, rerun_of=9, parent=ResultRef(8, 0)))
    for later in ("seed", "rerun_of", "parent_task_id", "parent_task_index"):
        del snapshot[later]
    assert from_snapshot(snapshot) == recorded


# Every error_kind an earlier version wrote (its text, as stored), and what it reads as.
STORED_KINDS = {
    "": ErrorKind.NONE,
    "user": ErrorKind.USER,
    "provider": ErrorKind.PROVIDER,
    "config": ErrorKind.CONFIG,
    "timeout": ErrorKind.TIMEOUT,
    "internal": ErrorKind.INTERNAL,
    "canceled": ErrorKind.CANCELED,
}


@pytest.mark.parametrize(("stored", "kind"), STORED_KINDS.items())
def test_every_stored_error_kind_reads_as_its_member(stored: str, kind: ErrorKind) -> None:
    row = to_row(Task(task_id=9, app="fake", provider="fake", created_at=NOW, updated_at=NOW))
    row["error_kind"] = stored
    task = from_row(row)
    assert task.error_kind is kind
    written = to_row(task)["error_kind"]
    assert type(written) is str and written == stored  # the column keeps the same text


def test_a_progress_write_sets_only_the_columns_that_change() -> None:
    started = Task(
        task_id=8,
        app="fake",
        provider="fake",
        inputs={"image": InputRef(key="inputs/8/image.png", content_type="image/png")},
        created_at=NOW,
        updated_at=NOW,
    ).start(now=NOW, provider_job=JobHandle(job_id="j"))
    later = NOW.replace(minute=1)
    reported = replace(started.report(now=later, progress=40, queue_position=3), version=2)
    assert changed_columns(started, reported) == {
        "progress": 40,
        "queue_position": 3,
        "version": 2,
        "updated_at": later,
    }
    assert changed_columns(reported, reported) == {}
