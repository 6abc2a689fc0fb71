"""The steps' values as DBOS records them: plain JSON, so a checkpoint written by one version
of rendergate is read by the next (pickled classes would tie them to module paths).

Every shape an earlier version wrote still reads: a submit recorded as None, as a bare job
handle, as `{"moved_to": ...}`, or as `{"kind": "submitted", "job": ...}`. The job handle
in those is not needed: the same step recorded it on the task's row, where the track step
reads it (outcomes.py)."""

from __future__ import annotations

from typing import Any

from rendergate.providers.base import OutputRef
from rendergate.workflow.outcomes import (
    Finished,
    Made,
    Moved,
    Ran,
    RunEnd,
    SubmitResult,
    Submitted,
    Tracked,
    TrackOutcome,
)


def ran_to_json(ran: Ran) -> dict[str, Any]:
    moved = ran.moved
    return {
        "end": ran.end.value,
        "moved": None
        if moved is None
        else {"provider": moved.provider, "workflow_id": moved.workflow_id},
        "made": [
            {"task_id": m.task_id, "provider": m.provider, "workflow_id": m.workflow_id}
            for m in ran.made
        ],
    }


def ran_from_json(raw: dict[str, Any]) -> Ran:
    moved = raw.get("moved")
    return Ran(
        RunEnd(raw["end"]),
        None if moved is None else Moved(str(moved["provider"]), str(moved["workflow_id"])),
        tuple(
            Made(int(m["task_id"]), str(m["provider"]), str(m["workflow_id"])) for m in raw["made"]
        ),
    )


def submit_to_json(result: SubmitResult) -> dict[str, Any]:
    if isinstance(result, Submitted):
        return {"kind": "submitted"}
    if isinstance(result, Moved):
        return {"kind": "moved", "provider": result.provider, "workflow_id": result.workflow_id}
    return {"kind": "finished"}


def submit_from_json(raw: dict[str, Any] | None) -> SubmitResult:
    """Also reads what steps recorded before this codec: None, a job handle, or a move."""
    if raw is None:
        return Finished()
    if "kind" not in raw:
        if "moved_to" in raw:
            return Moved(str(raw["moved_to"]), str(raw["workflow_id"]))
        return Submitted()  # a bare job handle, which the task's row holds too
    if raw["kind"] == "submitted":
        return Submitted()
    if raw["kind"] == "moved":
        return Moved(str(raw["provider"]), str(raw["workflow_id"]))
    return Finished()


def tracked_to_json(tracked: Tracked) -> dict[str, Any]:
    return {
        "outcome": tracked.outcome.value,
        "outputs": [
            {"locator": o.locator, "file_type": o.file_type, "node_id": o.node_id}
            for o in tracked.outputs
        ],
        "cost": dict(tracked.cost) if tracked.cost is not None else None,
    }


def tracked_from_json(raw: dict[str, Any]) -> Tracked:
    return Tracked(
        TrackOutcome(raw["outcome"]),
        tuple(OutputRef(**o) for o in raw["outputs"]),
        raw.get("cost"),
    )
