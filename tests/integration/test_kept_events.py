"""The kept mark told, over real HTTP on SQLite and PostgreSQL: a task that asked for
task.kept and task.unkept gets them as signed webhooks carrying the task as GET shows it; a
task on the default events gets none (its deliveries are written with the mark, so the log
after the answer is final); and an event stream resumed after the completed event shows
the mark."""

from __future__ import annotations

from typing import Any

import pytest
from test_push import (
    SECRET,
    create,
    create_body,
    deliveries,
    push_settings,
    read_events,
    until_deliveries,
)

from rendergate.config.settings import Settings
from support.pg import DATABASES, on_database
from support.receiver import Receiver, receiving
from support.server import RunningServer, serve


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def mark(server: RunningServer, task_id: int, method: str) -> dict[str, Any]:
    async with server.http.request(method, f"{server.url}/tasks/{task_id}/kept") as response:
        body = await response.json()
        assert response.status == 200, body
        return body["data"]  # type: ignore[no-any-return]


async def test_a_task_that_asked_for_the_kept_mark_is_told_of_it(settings: Settings) -> None:
    wanted = ["task.completed", "task.kept", "task.unkept"]
    async with receiving(Receiver([SECRET])) as hook, serve(push_settings(settings)) as server:
        task = await create(server, webhook_url=hook.url, webhook_events=wanted)
        await hook.until(1)
        kept = await mark(server, task["task_id"], "PUT")
        await mark(server, task["task_id"], "PUT")  # kept again: nothing changed, no event
        await mark(server, task["task_id"], "DELETE")
        await hook.until(3)
        payloads = hook.verified()
        assert [p["type"] for p in payloads] == wanted
        assert [p["data"]["kept"] for p in payloads] == [False, True, False]
        assert payloads[1]["data"]["kept_at"] == kept["kept_at"]
        log = await until_deliveries(
            server, task["task_id"], lambda d: all(x["state"] == "delivered" for x in d)
        )
        assert [d["event"] for d in log] == wanted


async def test_the_default_events_leave_the_kept_mark_out(settings: Settings) -> None:
    async with receiving(Receiver([SECRET])) as hook, serve(push_settings(settings)) as server:
        task = await create(server, webhook_url=hook.url)
        await hook.until(2)
        await mark(server, task["task_id"], "PUT")
        await mark(server, task["task_id"], "DELETE")
        sent = [d["event"] for d in await deliveries(server, task["task_id"])]
        assert sent == ["task.processing", "task.completed"]


async def test_a_stream_resumed_after_the_result_shows_the_mark(settings: Settings) -> None:
    async with serve(push_settings(settings)) as server:
        task = await server.completed(create_body())
        url = f"{server.url}/tasks/{task['task_id']}/events"
        events = [e for e in await read_events(server.http, url) if "id" in e]
        assert events[-1]["event"] == "task.completed"
        kept = await mark(server, task["task_id"], "PUT")
        resumed = await read_events(server.http, url, last_id=events[-1]["id"])
        assert [(e["event"], e["data"]["kept_at"]) for e in resumed] == [
            ("task.kept", kept["kept_at"])
        ]
        assert int(resumed[0]["id"]) > int(events[-1]["id"])  # a version of its own
