"""The pure parts of `then`: the shape a create's steps must have, the bound on a chain, and
the id a task's next step takes; and the store's codec keeping the steps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rendergate.domain.chains import (
    MAX_STEPS,
    ThenStep,
    asked_step_id,
    next_step_id,
    next_step_of,
    parse_then,
    steps_named,
)
from rendergate.domain.errors import InvalidInput
from rendergate.domain.task import MAX_SAFE_INTEGER, MIN_TASK_ID, ResultFile, Task
from rendergate.services.presenting import present_task
from rendergate.store.codec import from_row, from_snapshot, to_row, to_snapshot

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_steps_are_parsed_with_their_params() -> None:
    raw = [{"type": "upscale"}, {"type": "upscale", "params": {"scale": 3}}]
    assert parse_then(raw) == (ThenStep("upscale", {}), ThenStep("upscale", {"scale": 3}))
    assert parse_then([]) == ()
    assert parse_then(steps_named(" upscale, ,preview ")) == (
        ThenStep("upscale"),
        ThenStep("preview"),
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("upscale", "then"),
        ([{"type": "upscale"}] * (MAX_STEPS + 1), "then"),
        (["upscale"], "then.0"),
        ([{"type": "upscale"}, {}], "then.1.type"),
        ([{"type": "x" * 65}], "then.0.type"),
        ([{"type": 3}], "then.0.type"),
        ([{"type": "upscale", "params": [1]}], "then.0.params"),
        ([{"type": "upscale", "scale": 2}], "then.0.scale"),
    ],
)
def test_a_bad_shape_names_where(raw: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_then(raw)
    assert refused.value.field == field


@pytest.mark.parametrize("parent", [MIN_TASK_ID, MIN_TASK_ID + 1, 2**52, MAX_SAFE_INTEGER - 1])
def test_a_next_step_id_is_a_task_id_of_its_own(parent: int) -> None:
    """Inside the ids' range, fixed by the parent's, and a chain of MAX_STEPS never comes
    back to an id it used."""
    chain = [parent]
    for _ in range(MAX_STEPS):
        chain.append(next_step_id(chain[-1]))
    assert all(MIN_TASK_ID <= i < MAX_SAFE_INTEGER for i in chain)
    assert len(set(chain)) == len(chain)
    assert next_step_id(parent) == next_step_id(parent)
    assert next_step_id(parent + 1) != next_step_id(parent)


@pytest.mark.parametrize("parent", [MIN_TASK_ID, 2**52, MAX_SAFE_INTEGER - 1])
def test_a_step_asked_for_later_has_an_id_fixed_by_what_was_asked(parent: int) -> None:
    """The same member, step and attempt: the same id (a double click writes one row); any
    of them different (another scale, the attempt after one that failed): another id."""
    step = ThenStep("upscale", {"scale": 2})
    first = asked_step_id(parent, step, 0)
    assert MIN_TASK_ID <= first < MAX_SAFE_INTEGER
    assert asked_step_id(parent, ThenStep("upscale", {"scale": 2}), 0) == first
    others = {
        asked_step_id(parent, step, 1),
        asked_step_id(parent, ThenStep("upscale", {"scale": 3}), 0),
        asked_step_id(parent, ThenStep("upscale_comfyui", {"scale": 2}), 0),
        next_step_id(parent),
    }
    assert first not in others and len(others) == 4


def chained(**changes: Any) -> Task:
    fields: dict[str, Any] = {
        "then": (ThenStep("upscale", {"scale": 2}), ThenStep("upscale", {"scale": 3})),
        **changes,
    }
    return Task(
        task_id=MIN_TASK_ID + 5,
        app="preview",
        provider="local",
        created_at=T0,
        updated_at=T0,
        **fields,
    )


def test_only_a_completed_task_has_a_next_step() -> None:
    task = chained()
    done = task.complete(now=T0, outputs=(ResultFile(key="k", content_type="image/png", size=1),))
    assert next_step_of(task) is None
    assert next_step_of(done) == next_step_id(task.task_id)
    assert next_step_of(task.fail(now=T0, message="no")) is None
    assert next_step_of(task.cancel(now=T0)) is None
    assert next_step_of(chained(then=()).complete(now=T0, outputs=done.outputs)) is None
    shown = present_task(done, base="http://x")
    assert shown.children == [next_step_id(task.task_id)]  # a webhook names it at once
    assert present_task(done, base="http://x", children=[]).children == []  # the store's word


def test_the_steps_survive_the_row_and_the_event_log() -> None:
    task = chained()
    assert from_row(to_row(task)).then == task.then
    assert from_snapshot(to_snapshot(task)).then == task.then
    assert to_row(chained(then=()))["then_steps"] is None  # out of the partial index
