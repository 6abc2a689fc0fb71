"""Another key's task is answered as if absent, and takes the same way to that answer: the
same queries of the task table, the same bytes. A cache that held the task for its owner
once answered the stranger without reading the row, twice as fast as an absent id, which
told which ids exist. (The time itself is not asserted: a test cannot measure it honestly.)"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from test_keys_api import accepted_key, call, create_fake_task

from rendergate.config.settings import Settings
from support.server import serve
from support.waiting import until

pytestmark = pytest.mark.slow  # runs `rendergate keys`

TASK_TABLE = re.compile(r"\bFROM tasks\b")


@contextlib.contextmanager
def task_reads() -> Iterator[list[str]]:
    """The statements that read the task table while the block runs, as the driver gets them."""
    seen: list[str] = []

    def record(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if TASK_TABLE.search(statement):
            seen.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)


async def test_another_keys_task_takes_the_way_of_an_absent_one(settings: Settings) -> None:
    async with serve(settings) as server:
        owner = await accepted_key(server, settings.data_dir, "owner")
        stranger = await accepted_key(server, settings.data_dir, "stranger")
        finished = await create_fake_task(server, owner)
        running = await create_fake_task(server, owner, params={"fake": {"polls": 10_000}})
        light = "?include_base64=false"

        async def completed() -> bool:
            _, body, _ = await call(server, "GET", f"/tasks/{finished}{light}", owner)
            return bool(body["data"]["status"] == "completed")

        # polled by its owner: now in every cache of finished tasks
        await until(completed, 20, "the fake task to complete")
        assert (await call(server, "GET", f"/tasks/{running}", owner))[0] == 200  # cached too
        absent = finished ^ 1  # an id next to a real one, with no task
        answers = {}
        for name, task_id in (("finished", finished), ("running", running), ("absent", absent)):
            for query in ("", light):
                with task_reads() as reads:
                    status, body, _ = await call(
                        server, "GET", f"/tasks/{task_id}{query}", stranger
                    )
                text = str(body).replace(str(task_id), "<id>")
                answers[f"{name}{query}"] = (status, text, reads)
    first, *others = answers.values()
    assert first[0] == 404 and first[2], first  # the row was read, and it was not found
    assert all(other == first for other in others), answers
