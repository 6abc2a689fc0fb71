"""What DBOS records of a task's workflow: the steps' JSON and the workflow's output, read
back by this version whatever version wrote them."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from rendergate.providers.base import OutputRef
from rendergate.runtime.step_codec import (
    submit_from_json,
    submit_to_json,
    tracked_from_json,
    tracked_to_json,
)
from rendergate.workflow.outcomes import (
    Finished,
    Moved,
    RunEnd,
    SubmitResult,
    Submitted,
    Tracked,
    TrackOutcome,
)

HANDLE = {"job_id": "hub-7", "data": {"attempt": 1}, "shown": True}


@pytest.mark.parametrize(
    ("result", "recorded"),
    [
        (Submitted(), {"kind": "submitted"}),  # the job is on the task's row, not here
        (
            Moved("fake", "task-7.1"),
            {"kind": "moved", "provider": "fake", "workflow_id": "task-7.1"},
        ),
        (Finished(), {"kind": "finished"}),
    ],
)
def test_a_submit_is_recorded_as_its_verdict(result: SubmitResult, recorded: Any) -> None:
    assert submit_to_json(result) == recorded
    assert submit_from_json(recorded) == result


@pytest.mark.parametrize(
    ("recorded", "read"),
    [
        (None, Finished()),  # before any codec: a finished submit returned nothing
        (HANDLE, Submitted()),  # a bare job handle
        ({"moved_to": "fake", "workflow_id": "task-7.1"}, Moved("fake", "task-7.1")),
        ({"kind": "submitted", "job": HANDLE}, Submitted()),  # the job went along, unread
    ],
)
def test_submits_recorded_by_earlier_versions_still_read(recorded: Any, read: SubmitResult) -> None:
    assert submit_from_json(recorded) == read


def test_a_track_survives_the_round_trip() -> None:
    tracked = Tracked(
        TrackOutcome.SUCCEEDED,
        (OutputRef(locator="https://x/1.png", file_type="png", node_id="9"),),
        {"consumeCoins": 1},
    )
    assert tracked_from_json(tracked_to_json(tracked)) == tracked
    assert tracked_from_json({"outcome": "lost", "outputs": []}) == Tracked(TrackOutcome.LOST)


@pytest.mark.parametrize("end", list(RunEnd))
def test_the_workflows_output_is_pickled_as_plain_text(end: RunEnd) -> None:
    """DBOS pickles it: as text, any version reads it, and earlier outputs compare equal."""
    recorded = pickle.dumps(end)
    assert b"rendergate" not in recorded
    read = pickle.loads(recorded)
    assert type(read) is str and RunEnd(read) is end
    assert {e.value for e in RunEnd} == {"succeeded", "finished", "moved"}  # what DBOS has
