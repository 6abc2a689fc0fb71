"""The round a key's next task takes in its provider's queue (runtime/fair_order.py)."""

from __future__ import annotations

import pytest

from rendergate.runtime.fair_order import MAX_PRIORITY, OPEN_LABEL, label_of, next_round


@pytest.mark.parametrize(
    ("own_last", "serving", "expected"),
    [
        (None, None, 1),  # an idle queue: the first round
        (None, 5, 5),  # a key with nothing queued joins the round in service
        (7, 3, 8),  # after its own last one still queued
        (2, 6, 6),  # never before the round in service
        (None, 0, 1),  # only workflows from before rounds (priority 0) running
        (MAX_PRIORITY, 1, MAX_PRIORITY),  # DBOS's bound
    ],
)
def test_a_keys_next_round(own_last: int | None, serving: int | None, expected: int) -> None:
    assert next_round(own_last, serving) == expected


def test_open_modes_tasks_are_labelled_as_no_key_could_be() -> None:
    assert label_of("") == OPEN_LABEL and label_of("0a1b") == "0a1b"
