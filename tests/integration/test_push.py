"""Webhooks to clients and server-sent events over real HTTP on one SQLite server: signed
deliveries a `standardwebhooks` receiver verifies, retries after a 500 and a timeout, the
deliveries log and replay, the event stream resumed by Last-Event-ID, Prefer: wait and
deadline_s."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import aiohttp
import pytest

from rendergate.config.settings import Settings, load_settings
from rendergate.delivery.sender import WebhookSender
from support.images import make_scene
from support.receiver import Receiver, receiving
from support.server import RunningServer, serve
from support.waiting import until

SECRET = "whsec_" + base64.b64encode(b"rendergate-test-secret-32-bytes!").decode()


def push_settings(settings: Settings, **extra: Any) -> Settings:
    chosen: dict[str, Any] = {
        "webhook_secret": SECRET,
        "fetch_allow": ["127.0.0.1"],
        "webhook_retry_first_s": 0.2,
        "database_url": settings.database_url,  # PostgreSQL when the test is on it
    }
    return load_settings(data_dir=settings.data_dir, apps_file=settings.apps_file, **chosen | extra)


def create_body(**extra: Any) -> dict[str, Any]:
    image = base64.b64encode(make_scene(32, 24)).decode()
    return {"type": "fake", "image_base64": image, **extra}


async def create(server: RunningServer, **extra: Any) -> dict[str, Any]:
    async with server.http.post(f"{server.url}/tasks", json=create_body(**extra)) as response:
        body = await response.json()
        assert response.status == 201, body
        return body["data"]  # type: ignore[no-any-return]


async def deliveries(server: RunningServer, task_id: int) -> list[dict[str, Any]]:
    async with server.http.get(f"{server.url}/tasks/{task_id}/deliveries") as response:
        assert response.status == 200, await response.text()
        return (await response.json())["data"]["deliveries"]  # type: ignore[no-any-return]


async def until_deliveries(
    server: RunningServer, task_id: int, done: Any, timeout_s: float = 20.0
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def reached() -> tuple[list[dict[str, Any]]] | None:
        found[:] = await deliveries(server, task_id)
        return (found,) if done(found) else None

    return (await until(reached, timeout_s, lambda: f"task {task_id}'s deliveries: {found}"))[0]


async def test_a_receiver_verifies_each_event_of_a_task(settings: Settings) -> None:
    async with receiving(Receiver([SECRET])) as hook, serve(push_settings(settings)) as server:
        task = await create(server, webhook_url=hook.url, params={"fake": {"polls": 2}})
        await hook.until(2)
        payloads = hook.verified()
        assert [p["type"] for p in payloads] == ["task.processing", "task.completed"]
        assert all(p["data"]["task_id"] == task["task_id"] for p in payloads)
        assert payloads[1]["data"]["status"] == "completed"
        assert payloads[1]["data"]["image"]["image_url"].endswith(f"/{task['task_id']}/image")
        log = await until_deliveries(
            server, task["task_id"], lambda d: all(x["state"] == "delivered" for x in d)
        )
        assert [d["event"] for d in log] == ["task.processing", "task.completed"]
        assert [len(d["attempts"]) for d in log] == [1, 1]
        assert log[0]["attempts"][0]["status_code"] == 204
        ids = [r.headers["webhook-id"] for r in hook.received]
        assert ids == [d["delivery_id"] for d in log]


async def test_a_failing_receiver_is_retried_with_the_same_webhook_id(settings: Settings) -> None:
    receiver = Receiver([SECRET], answers=[500, 500])
    async with receiving(receiver) as hook, serve(push_settings(settings)) as server:
        task = await create(server, webhook_url=hook.url, webhook_events=["task.completed"])
        received = await hook.until(3)
        assert len({r.headers["webhook-id"] for r in received}) == 1
        assert len(hook.verified()) == 3  # each try signed afresh, each verifies
        [log] = await until_deliveries(
            server, task["task_id"], lambda d: d and d[0]["state"] == "delivered"
        )
        assert [a["status_code"] for a in log["attempts"]] == [500, 500, 204]


async def test_a_receiver_that_hangs_times_out_and_is_tried_again(settings: Settings) -> None:
    receiver = Receiver([SECRET], hang_first=1)
    live = push_settings(settings, webhook_timeout_s=0.5)
    async with receiving(receiver) as hook, serve(live) as server:
        other = Receiver([SECRET])
        async with receiving(other, "/other") as fast:
            slow_task = await create(
                server, webhook_url=hook.url, webhook_events=["task.completed"]
            )
            fast_task = await create(
                server, webhook_url=fast.url, webhook_events=["task.completed"]
            )
            await fast.until(1)  # not held up by the hanging receiver
            assert fast.verified()[0]["data"]["task_id"] == fast_task["task_id"]
        await hook.until(2)
        [log] = await until_deliveries(
            server, slow_task["task_id"], lambda d: d and d[0]["state"] == "delivered"
        )
        first, second = log["attempts"]
        assert first["status_code"] is None and "no answer within 0.5 s" in first["error"]
        assert second["status_code"] == 204


async def test_a_replay_sends_the_event_again_under_a_new_id(settings: Settings) -> None:
    async with receiving(Receiver([SECRET])) as hook, serve(push_settings(settings)) as server:
        task = await create(server, webhook_url=hook.url, webhook_events=["task.completed"])
        await hook.until(1)
        [first] = await until_deliveries(
            server, task["task_id"], lambda d: d and d[0]["state"] == "delivered"
        )
        url = f"{server.url}/tasks/{task['task_id']}/deliveries/{first['delivery_id']}/replay"
        async with server.http.post(url) as response:
            assert response.status == 202, await response.text()
            again = (await response.json())["data"]
        assert again["delivery_id"] != first["delivery_id"] and again["event"] == "task.completed"
        await hook.until(2)
        assert hook.received[1].headers["webhook-id"] == again["delivery_id"]
        assert hook.verified()[1]["data"] == hook.verified()[0]["data"]
        async with server.http.post(url.replace(first["delivery_id"], "msg_nope")) as response:
            assert response.status == 404


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.pg)])
def database(request: pytest.FixtureRequest) -> dict[str, str]:
    """The settings of a SQLite or a PostgreSQL task database."""
    if request.param == "postgres":
        return {"database_url": request.getfixturevalue("pg_database")}
    return {}


async def replay(server: RunningServer, task_id: int, delivery_id: str) -> tuple[int, Any]:
    url = f"{server.url}/tasks/{task_id}/deliveries/{delivery_id}/replay"
    async with server.http.post(url) as response:
        return response.status, await response.json()


async def test_parallel_replays_of_one_delivery_queue_one(
    settings: Settings, database: dict[str, str]
) -> None:
    """A second replay while the first waits to be delivered is a 409, not another POST."""
    receiver = Receiver([SECRET], hold_from=2)  # the replay's POST waits for `release`
    live = push_settings(settings, **database)
    async with receiving(receiver) as hook, serve(live) as server:
        task = await create(server, webhook_url=hook.url, webhook_events=["task.completed"])
        task_id = task["task_id"]
        [first] = await until_deliveries(
            server, task_id, lambda d: d and d[0]["state"] == "delivered"
        )
        answers = await asyncio.gather(
            *(replay(server, task_id, first["delivery_id"]) for _ in range(20))
        )
        assert sorted(status for status, _ in answers) == [202] + [409] * 19
        [again] = [body["data"] for status, body in answers if status == 202]
        conflict = next(body for status, body in answers if status == 409)
        assert conflict["msg"] == (
            f"{again['delivery_id']}, a replay of this event, is not delivered yet; "
            "replay it again once it is delivered or failed"
        )
        await hook.until(2)  # the one replay's POST, held
        assert len(await deliveries(server, task_id)) == 2
        hook.release.set()
        await until_deliveries(server, task_id, lambda d: all(x["state"] == "delivered" for x in d))
        status, body = await replay(server, task_id, first["delivery_id"])  # settled: again
        assert status == 202, body
        await hook.until(3)
        ids = [r.headers["webhook-id"] for r in hook.received]
        assert ids == [first["delivery_id"], again["delivery_id"], body["data"]["delivery_id"]]


async def test_a_key_has_at_most_its_share_of_replays_waiting(settings: Settings) -> None:
    receiver = Receiver([SECRET], hold_from=3)  # the two events pass; replays wait
    live = push_settings(settings, max_replays_per_key=1)
    async with receiving(receiver) as hook, serve(live) as server:
        task_id = (await create(server, webhook_url=hook.url))["task_id"]
        processing, completed = await until_deliveries(
            server, task_id, lambda d: len(d) == 2 and all(x["state"] == "delivered" for x in d)
        )
        status, _ = await replay(server, task_id, processing["delivery_id"])
        assert status == 202
        url = f"{server.url}/tasks/{task_id}/deliveries/{completed['delivery_id']}/replay"
        async with server.http.post(url) as response:
            body = await response.json()
            assert response.status == 429, body
            assert response.headers["Retry-After"] == "5"
        assert body["msg"] == (
            "this key has 1 webhook replays waiting to be delivered, its share; "
            "try again once one is delivered"
        )
        hook.release.set()
        await until_deliveries(server, task_id, lambda d: all(x["state"] == "delivered" for x in d))
        assert (await replay(server, task_id, completed["delivery_id"]))[0] == 202


async def test_webhook_urls_into_our_network_are_refused(settings: Settings) -> None:
    async with serve(push_settings(settings, fetch_allow=[])) as server:
        for url, says in [
            ("http://127.0.0.1:9/hook", "refusing to send to 127.0.0.1: it is a loopback address"),
            ("http://localhost:9/hook", "refusing to send to localhost: it resolves to a loopback"),
            ("http://10.1.2.3/hook", "private address (RENDERGATE_FETCH_ALLOW lists the hosts"),
            ("ftp://example.com/hook", "http or https"),
        ]:
            async with server.http.post(
                f"{server.url}/tasks", json=create_body(webhook_url=url)
            ) as response:
                body = await response.json()
                assert response.status == 422, body
                [detail] = body["detail"]
                assert detail["loc"] == ["body", "webhook_url"] and says in detail["msg"]
        async with server.http.get(f"{server.url}/tasks") as response:
            assert (await response.json())["data"]["tasks"] == []


async def test_unknown_webhook_events_are_refused(settings: Settings) -> None:
    async with (
        serve(push_settings(settings)) as server,
        server.http.post(
            f"{server.url}/tasks",
            json=create_body(webhook_url="http://127.0.0.1:9/", webhook_events=["task.done"]),
        ) as response,
    ):
        body = await response.json()
        assert response.status == 422
        assert "unknown webhook event 'task.done'" in body["detail"][0]["msg"]


async def read_events(
    http: aiohttp.ClientSession, url: str, last_id: str | None = None, stop_after: int = 100
) -> list[dict[str, Any]]:
    """The stream's events (id, event, data) until it ends or `stop_after` arrived."""
    headers = {"Last-Event-ID": last_id} if last_id else {}
    events: list[dict[str, Any]] = []
    async with http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(30)) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        current: dict[str, Any] = {}
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if not line:
                if "event" in current:
                    events.append(current)
                    if len(events) >= stop_after:
                        break
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                current[name] = json.loads(value) if name == "data" else value
    return events


async def test_the_event_stream_ends_at_the_terminal_state(settings: Settings) -> None:
    async with serve(push_settings(settings)) as server:
        task = await create(server, params={"fake": {"polls": 3}})
        url = f"{server.url}/tasks/{task['task_id']}/events"
        events = await read_events(server.http, url)
        kinds = [e["event"] for e in events if "id" in e]
        assert kinds[0] in ("task.submitted", "task.processing")
        assert kinds[-1] == "task.completed" and "task.processing" in kinds
        versions = [int(e["id"]) for e in events if "id" in e]
        assert versions == sorted(set(versions))
        assert events[-1]["data"]["status"] == "completed"
        # resumed after the second event: the rest, none repeated, none missed
        resumed = await read_events(server.http, url, last_id=str(versions[1]))
        assert [int(e["id"]) for e in resumed if "id" in e] == versions[2:]
        # resumed after the last: the stream ends at once, with nothing
        assert await read_events(server.http, url, last_id=str(versions[-1])) == []


async def test_prefer_wait_answers_when_the_task_finishes(settings: Settings) -> None:
    async with serve(push_settings(settings)) as server:
        async with server.http.post(
            f"{server.url}/tasks",
            json=create_body(params={"fake": {"polls": 2}}),
            headers={"Prefer": "wait=30"},
        ) as response:
            body = await response.json()
            assert response.status == 201, body
            assert response.headers["Preference-Applied"] == "wait=30"
        assert body["data"]["status"] == "completed"
        started = time.monotonic()
        async with server.http.post(
            f"{server.url}/tasks",
            json=create_body(params={"fake": {"outcome": "hang"}}),
            headers={"Prefer": "wait=0.5"},
        ) as response:
            body = await response.json()
        assert body["data"]["status"] in ("submitted", "processing")
        assert 0.5 <= time.monotonic() - started < 10


@pytest.mark.slow  # waits out a 5 s deadline
async def test_a_deadline_s_fails_the_task_and_says_so(settings: Settings) -> None:
    async with serve(push_settings(settings)) as server:
        task = await create(server, params={"fake": {"outcome": "hang"}}, deadline_s=5)
        started = await server.wait_for(task["task_id"], lambda t: t["status"] != "submitted")
        assert started["status"] == "processing", started  # the job is upstream
        done = await server.wait_finished(task["task_id"])
        assert done["status"] == "failed"
        assert done["error_message"] == "canceled: its deadline_s of 5 s passed"
        fake = server.services.providers["fake"]
        assert fake.canceled  # type: ignore[attr-defined]
        async with server.http.post(
            f"{server.url}/tasks", json=create_body(deadline_s=601)
        ) as response:
            body = await response.json()
            assert response.status == 422
            said = body["detail"][0]["msg"]
            assert (
                said == "deadline_s must be over 0 s and at most 600 s, the deadline of app 'fake'"
            )
        for wrong in (True, "5"):  # JSON's own types only
            async with server.http.post(
                f"{server.url}/tasks", json=create_body(deadline_s=wrong)
            ) as response:
                assert response.status == 422, await response.text()


async def test_a_delivery_goes_on_after_a_restart(settings: Settings) -> None:
    """Failing when the server stops, the delivery is still owed after it starts again:
    the restarted server delivers it, under the same webhook-id."""
    receiver = Receiver([SECRET], answers=[503] * 10_000)
    live = push_settings(settings, webhook_retry_first_s=0.05)
    async with receiving(receiver) as hook:
        async with serve(live) as server:
            task = await create(server, webhook_url=hook.url, webhook_events=["task.completed"])
            await hook.until(2)  # failed twice: owed a retry
        receiver.answers.clear()  # the receiver recovers while we are down
        tried = len(hook.received)
        async with serve(live) as server:
            received = await hook.until(tried + 1)
            [log] = await until_deliveries(
                server, task["task_id"], lambda d: d and d[0]["state"] == "delivered"
            )
    assert {r.headers["webhook-id"] for r in received} == {log["delivery_id"]}
    codes = [a["status_code"] for a in log["attempts"]]
    assert codes[-1] == 204 and set(codes[:-1]) == {503} and len(codes) >= 3


async def test_a_redirect_is_not_followed(settings: Settings) -> None:
    receiver = Receiver([SECRET], answers=[307])
    async with receiving(receiver) as hook, serve(push_settings(settings)) as server:
        task = await create(server, webhook_url=hook.url, webhook_events=["task.completed"])
        [log] = await until_deliveries(
            server, task["task_id"], lambda d: d and d[0]["state"] == "delivered"
        )
    first, second = log["attempts"]
    assert (first["status_code"], first["error"]) == (307, "redirects are not followed")
    assert second["status_code"] == 204


async def test_the_sender_refuses_our_network_at_connect_time() -> None:
    """A name that resolves to a loopback address now is refused when sending, even if it
    passed at create."""
    async with (
        receiving(Receiver([SECRET])) as hook,
        WebhookSender(allow=[], timeout_s=5) as sender,
    ):
        by_name = hook.url.replace("127.0.0.1", "localhost")
        sent = await sender.send(by_name, {}, "{}")
        assert sent.status_code is None
        assert sent.error == "refusing to send to localhost: it resolves to a loopback address"
        assert hook.received == []
