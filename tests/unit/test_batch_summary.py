"""A batch's status, counts and progress from its members (domain/batches.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from rendergate.domain.batches import Batch, BatchStatus, archive_name, summarize
from rendergate.domain.task import Membership, ResultRef, Task, TaskStatus

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def batch(**changes: object) -> Batch:
    made = Batch(
        batch_id=1,
        owner="",
        name="",
        app="preview",
        seed=7,
        variations=1,
        angles=("a", "b"),
        created_at=NOW,
    )
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


def member(task_id: int, view: int, status: TaskStatus, progress: int = 0, **more: object) -> Task:
    task = Task(
        task_id=task_id,
        app="preview",
        provider="local",
        status=status,
        progress=progress,
        member=Membership(1, view, 0),
        created_at=NOW,
        updated_at=NOW,
    )
    return dataclasses.replace(task, **more)  # type: ignore[arg-type]


S, P, C, F, X = (
    TaskStatus.SUBMITTED,
    TaskStatus.PROCESSING,
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.CANCELED,
)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((S, S), BatchStatus.SUBMITTED),
        ((S, P), BatchStatus.PROCESSING),
        ((C, S), BatchStatus.PROCESSING),
        ((C, C), BatchStatus.COMPLETED),
        ((C, F), BatchStatus.PARTIAL),
        ((C, X), BatchStatus.PARTIAL),
        ((F, X), BatchStatus.FAILED),
    ],
)
def test_the_status_is_read_from_the_members(
    statuses: tuple[TaskStatus, TaskStatus], expected: BatchStatus
) -> None:
    members = [member(10 + i, i, status) for i, status in enumerate(statuses)]
    summary = summarize(batch(), members)
    assert summary.status is expected
    assert sum(summary.counts.values()) == 2


def test_a_canceled_batch_with_unfinished_work_is_canceled_once_it_ends() -> None:
    canceled = batch(canceled_at=NOW)
    assert summarize(canceled, [member(1, 0, C), member(2, 1, X)]).status is BatchStatus.CANCELED
    assert summarize(canceled, [member(1, 0, C), member(2, 1, P)]).status is BatchStatus.PROCESSING
    assert summarize(canceled, [member(1, 0, C), member(2, 1, C)]).status is BatchStatus.COMPLETED


def test_a_retry_replaces_the_member_it_runs_again() -> None:
    members = [member(1, 0, C), member(2, 1, F), member(3, 1, C, rerun_of=2)]
    summary = summarize(batch(), members)
    assert summary.status is BatchStatus.COMPLETED
    assert [t.task_id for t in summary.members] == [1, 3]
    assert summary.counts["failed"] == 0


def test_progress_counts_each_view_and_each_step_alike() -> None:
    chained = batch(then=({"type": "upscale", "params": {}},))
    first = member(1, 0, C, progress=100)
    members = [first, member(2, 1, P, progress=50)]
    assert summarize(chained, members).progress == 37  # (1/2 + 1/4) / 2 views
    child = member(3, 0, P, progress=40, parent=ResultRef(1))
    assert summarize(chained, [*members, child]).progress == 47  # (70 % + 25 %) / 2
    failed = member(2, 1, F)
    assert summarize(chained, [first, failed, child]).progress == 85  # a failed view is done


def test_a_step_asked_for_later_counts_in_its_views_progress() -> None:
    """A step run on a completed result after the batch ran (POST /batches/{id}/steps), with
    no `then`: its view is half done until the step ends, not done already."""
    members = [member(1, 0, C, progress=100), member(2, 1, C, progress=100)]
    assert summarize(batch(), members).progress == 100
    step = member(3, 0, P, progress=40, parent=ResultRef(1), app="upscale")
    summary = summarize(batch(), [*members, step])
    assert (summary.progress, summary.status) == (85, BatchStatus.PROCESSING)  # (70 + 100) / 2
    done = dataclasses.replace(step, status=C, progress=100)
    summary = summarize(batch(), [*members, done])
    assert (summary.progress, summary.status) == (100, BatchStatus.COMPLETED)


def test_a_results_name_in_the_zip_says_its_view_angle_variation_and_step() -> None:
    angles = ("front / street", "")
    assert archive_name(member(1, 0, C), angles, 0, "png") == "view01_front-street_v1.png"
    assert archive_name(member(2, 1, C), angles, 1, "jpg") == "view02_v1_out2.jpg"
    child = dataclasses.replace(member(3, 0, C), app="upscale", parent=ResultRef(1))
    assert archive_name(child, angles, 0, "png", step=True) == "view01_front-street_v1_upscale.png"
    assert archive_name(child, angles, 0, "png") == "view01_front-street_v1.png"  # image_task_id
