"""The round a key's next task takes in its provider's queue (runtime/fair_order.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from rendergate.runtime.dbos_setup import migrate_system_database, sqlite_engine
from rendergate.runtime.fair_order import (
    MAX_PRIORITY,
    OPEN_LABEL,
    label_of,
    next_round,
    placement,
)

QUEUE = "provider:fake"


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


@pytest.fixture
def dbos_db(tmp_path: Path) -> Iterator[sa.Engine]:
    """DBOS's own tables, on SQLite, as a worker creates them."""
    url = f"sqlite:///{tmp_path / 'dbos.sqlite'}"
    migrate_system_database(url)
    engine = sqlite_engine(url)
    yield engine
    engine.dispose()


def queue_workflows(engine: sa.Engine, rows: list[tuple[str, str, int]]) -> None:
    """Workflow rows on QUEUE: (key label, status, priority) each."""
    table = sa.table(
        "workflow_status",
        *(sa.column(name) for name in ("workflow_uuid", "queue_name", "status")),
        *(sa.column(name) for name in ("priority", "queue_partition_key", "created_at")),
    )
    start = len(rows) * 10
    with engine.begin() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0
        connection.execute(
            table.insert(),
            [
                {
                    "workflow_uuid": f"wf-{count + i}",
                    "queue_name": QUEUE,
                    "status": status,
                    "priority": priority,
                    "queue_partition_key": label,
                    "created_at": start + i,
                }
                for i, (label, status, priority) in enumerate(rows)
            ],
        )


def vm_steps_of_placement(engine: sa.Engine, label: str) -> tuple[int, int]:
    """placement()'s round for `label`, and the SQLite VM steps it took to find it."""
    steps = [0]
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None

        def count() -> int:
            steps[0] += 1
            return 0

        raw.set_progress_handler(count, 1)
        try:
            found = placement(connection, QUEUE, label).priority
        finally:
            raw.set_progress_handler(None, 1)
    return found, steps[0]


def test_a_placement_follows_the_keys_last_round_and_the_one_in_service(
    dbos_db: sa.Engine,
) -> None:
    queue_workflows(dbos_db, [("a", "PENDING", 4), ("a", "ENQUEUED", 6), ("b", "PENDING", 5)])
    queue_workflows(dbos_db, [("b", "SUCCESS", 9), ("c", "ERROR", 9)])  # ended: not counted
    with dbos_db.connect() as connection:
        assert placement(connection, QUEUE, "a").priority == 7  # after its last queued
        assert placement(connection, QUEUE, "b").priority == 6  # after its running one
        assert placement(connection, QUEUE, "c").priority == 5  # the round in service
        assert placement(connection, "provider:other", "a").priority == 1  # an idle queue


def test_a_placement_costs_the_same_whatever_the_queues_length(dbos_db: sa.Engine) -> None:
    """A create reads its place in the queue: with thousands waiting, that read must not
    walk them all."""
    queue_workflows(dbos_db, [("a", "PENDING", 1), ("b", "ENQUEUED", 2)])
    round_b, short = vm_steps_of_placement(dbos_db, "b")
    queue_workflows(dbos_db, [("a", "ENQUEUED", 2 + i // 500) for i in range(3000)])
    queue_workflows(dbos_db, [("c", "ENQUEUED", 2 + i // 500) for i in range(3000)])
    long_b, long = vm_steps_of_placement(dbos_db, "b")
    long_a, _ = vm_steps_of_placement(dbos_db, "a")
    assert (round_b, long_b, long_a) == (3, 3, 8)
    assert long < short + 100, f"{short} steps with 2 queued, {long} with 6,002"
