"""The Python SDK's AsyncClient against a real server on loopback (serve(settings)): every
call, paging as the server pages, each refusal as its exception, and a real signed webhook
verified. Retries are in test_sdk_retries.py, the blocking Client in test_sdk_sync.py."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from rendergate.client import (
    AsyncClient,
    Conflict,
    InvalidRequest,
    InvalidSignature,
    NotFound,
    Task,
    TaskStatus,
    Unauthorized,
    Unreachable,
    verify_webhook,
)
from rendergate.config.settings import Settings, load_settings
from support.images import make_png, make_scene
from support.process import create_api_key, free_port
from support.proxy import Proxy, http_app, proxying
from support.receiver import Receiver, receiving
from support.server import serve
from support.waiting import until

SECRET = "whsec_" + base64.b64encode(b"rendergate-sdk-test-secret-32-b!").decode()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAKE = {"fake": {"polls": 1}}


def with_settings(settings: Settings, **extra: Any) -> Settings:
    return load_settings(data_dir=settings.data_dir, apps_file=settings.apps_file, **extra)


async def test_create_from_a_path_bytes_and_a_url(settings: Settings, tmp_path: Path) -> None:
    fetched: list[str] = []

    async def image(request: web.Request) -> web.Response:
        fetched.append(request.path)
        return web.Response(body=make_scene(40, 30), content_type="image/png")

    shot = tmp_path / "shot.png"
    shot.write_bytes(make_scene(48, 32))
    async with (
        http_app(lambda app: app.router.add_get("/shot.png", image)) as images,
        serve(with_settings(settings, fetch_allow=["127.0.0.1"])) as server,
        AsyncClient(server.url) as client,
    ):
        from_path = await client.create(shot, type="fake", angle="front", params=FAKE)
        from_str = await client.create(str(shot), type="fake", params=FAKE)
        from_bytes = await client.create(make_png(), reference=shot, type="fake_ref", angle="top")
        from_url = await client.create(
            f"{images}/shot.png", reference=make_png(), type="fake_ref", angle="front"
        )
        assert fetched == ["/shot.png"]
        made = [from_path, from_str, from_bytes, from_url]
        assert all(isinstance(t, Task) and t.status is TaskStatus.SUBMITTED for t in made)
        assert (from_path.type, from_path.angle, from_path.params) == ("fake", "front", FAKE)
        assert (from_bytes.type, from_url.type, from_bytes.angle) == ("fake_ref", "fake_ref", "top")
        for task in made:
            done = await client.wait(task.task_id, timeout=20)
            assert done.status is TaskStatus.COMPLETED and done.progress == 100
            assert done.image.image_url.endswith(f"/tasks/{task.task_id}/image")
            assert done.image.image_base64 == ""  # get() and wait() leave it out
        full = await client.get(from_url.task_id, include_base64=True)
        data = await client.download(from_url.task_id)
        assert data.startswith(PNG_MAGIC) and base64.b64decode(full.image.image_base64) == data
        saved = await client.download(from_path.task_id, tmp_path / "render.png")
        assert saved == tmp_path / "render.png" and saved.read_bytes() == data
        here = await client.download(from_path.task_id, tmp_path)  # a directory: server's name
        assert here == tmp_path / f"{from_path.task_id}-0.png" and here.read_bytes() == data
        with pytest.raises(NotFound, match=r"has 1 result \(index 0\), none at index 1"):
            await client.download(from_path.task_id, index=1)


async def test_get_list_pages_and_cancel(settings: Settings) -> None:
    async with (
        serve(settings) as server,
        proxying(Proxy(server.url)) as proxy,
        AsyncClient(proxy.url) as client,
    ):
        hang = {"fake": {"outcome": "hang"}}
        made = [
            (await client.create(make_png(), type="fake", params=hang)).task_id for _ in range(5)
        ]
        got = await client.get(made[0])
        assert (got.task_id, got.type, got.provider) == (made[0], "fake", "fake")
        assert got.created_at is not None and got.raw["task_id"] == made[0]
        proxy.passed.clear()
        listed = [t.task_id async for t in client.list(type="fake", limit=2)]
        assert listed == made[::-1]  # newest first, across 3 pages of 2
        pages = [p.path_qs for p in proxy.passed]
        assert len(pages) == 3 and "cursor=" not in pages[0]
        assert all("limit=2" in p and "type=fake" in p and "cursor=" in p for p in pages[1:])
        proxy.passed.clear()
        first_two = []
        async for task in client.list(limit=2):
            first_two.append(task.task_id)
            if len(first_two) == 2:
                break
        assert first_two == [made[4], made[3]] and len(proxy.passed) == 1  # one page only
        assert [t async for t in client.list(type="preview")] == []
        canceled = await client.cancel(made[2])
        assert canceled.status is TaskStatus.CANCELED
        assert [t.task_id async for t in client.list(status="canceled")] == [made[2]]
        with pytest.raises(Conflict, match=f"task {made[2]} is already canceled") as refused:
            await client.cancel(made[2])
        assert refused.value.status == 409
        for task_id in (made[0], made[1], made[3], made[4]):
            await client.cancel(task_id)


async def test_wait_reports_progress_and_events_resume(settings: Settings) -> None:
    async with serve(settings) as server, AsyncClient(server.url) as client:
        task = await client.create(make_png(), type="fake", params={"fake": {"polls": 4}})
        seen: list[Task] = []
        done = await client.wait(task.task_id, timeout=20, on_progress=seen.append)
        assert done.status is TaskStatus.COMPLETED and seen[-1] == done
        progress = [t.progress for t in seen]
        assert progress == sorted(progress) and progress[-1] == 100
        assert any(0 < p < 100 for p in progress), progress
        events = [e async for e in client.events(task.task_id)]
        versions = [e.id for e in events if e.id is not None]
        assert versions == sorted(versions) and events[-1].event == "task.completed"
        assert events[0].event == "task.submitted"
        assert "task.progress" in {e.event for e in events}
        resumed = [e async for e in client.events(task.task_id, last_event_id=versions[1])]
        assert [e.id for e in resumed] == versions[2:]
        assert [e.task for e in resumed] == [e.task for e in events if e.id in versions[2:]]
        assert [e async for e in client.events(task.task_id, versions[-1])] == []
        failed = await client.create(
            make_png(), type="fake", params={"fake": {"outcome": "fail", "error": "x"}}
        )
        ended = await client.wait(failed.task_id, timeout=20)
        assert (ended.status, ended.error_message) == (TaskStatus.FAILED, "fake failed: x")
        hanging = await client.create(make_png(), type="fake", params={"fake": {"outcome": "hang"}})
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"did not finish in 0\.5 s"):
            await client.wait(hanging.task_id, timeout=0.5)
        assert time.monotonic() - started < 5
        await client.cancel(hanging.task_id)


async def test_a_rerun_is_a_new_task_from_the_stored_inputs(settings: Settings) -> None:
    async with serve(settings) as server, AsyncClient(server.url) as client:
        original = await client.create(make_png(), type="fake", params=FAKE, seed=3)
        assert (original.seed, original.rerun_of) == (3, None)
        again = await client.rerun(original.task_id, wait=10)
        assert again.status is TaskStatus.COMPLETED, again
        assert (again.rerun_of, again.seed, again.params) == (original.task_id, 3, FAKE)
        changed = await client.rerun(
            original.task_id, type="fake_patient", params={"fake": None, "x": 1}, seed="random"
        )
        assert (changed.type, changed.params, changed.rerun_of) == (
            "fake_patient",
            {"x": 1},
            original.task_id,
        )
        assert changed.seed is not None and changed.seed != 3
        same = await client.rerun(original.task_id, seed=9, idempotency_key="k")
        replayed = await client.rerun(original.task_id, seed=9, idempotency_key="k")
        assert (replayed.task_id, replayed.seed) == (same.task_id, 9)
        with pytest.raises(NotFound, match="task 12345 not found"):
            await client.rerun(12345)
        with pytest.raises(InvalidRequest, match="seed must be an integer") as bad:
            await client.rerun(original.task_id, seed=-1)
        assert bad.value.detail[0]["loc"] == ["body", "seed"]
        await client.cancel(changed.task_id)


async def test_each_refusal_is_its_exception(settings: Settings) -> None:
    async with serve(settings) as server, AsyncClient(server.url) as client:
        with pytest.raises(NotFound, match="task 12345 not found") as missing:
            await client.get(12345)
        assert missing.value.status == 404 and missing.value.message == "task 12345 not found"
        with pytest.raises(InvalidRequest, match="known types") as unknown:
            await client.create(make_png(), type="nope")
        assert unknown.value.detail[0]["loc"][-1] == "type"
        with pytest.raises(InvalidRequest) as too_many:
            await anext(client.list(limit=500))
        assert too_many.value.detail[0]["loc"] == ["query", "limit"]
    nobody = AsyncClient(f"http://127.0.0.1:{free_port()}", retries=1)
    async with nobody:
        with pytest.raises(Unreachable, match="cannot reach"):
            await nobody.get(1)


@pytest.mark.slow  # `rendergate keys` makes the key
async def test_a_key_is_sent_and_its_absence_is_unauthorized(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(settings) as server:
        key = await asyncio.to_thread(create_api_key, settings.data_dir, "sdk")
        server.services.keys.refresh()  # read again on the next request, not in 2 s
        async with AsyncClient(server.url, api_key=key) as client:
            assert [t async for t in client.list()] == []
            task = await client.create(make_png(), type="fake", params=FAKE)
            assert (await client.wait(task.task_id, timeout=20)).status is TaskStatus.COMPLETED
        monkeypatch.setenv("RENDERGATE_API_KEY", key)
        async with AsyncClient(server.url) as from_env:  # RENDERGATE_API_KEY by default
            assert (await from_env.get(task.task_id)).task_id == task.task_id
        async with AsyncClient(server.url, api_key="") as keyless:
            with pytest.raises(Unauthorized, match="an API key is required") as refused:
                await keyless.get(task.task_id)
        assert refused.value.status == 401


async def test_verify_webhook_with_a_real_delivery(settings: Settings) -> None:
    chosen = with_settings(settings, webhook_secret=SECRET, fetch_allow=["127.0.0.1"])
    async with (
        receiving(Receiver([SECRET])) as hook,
        serve(chosen) as server,
        AsyncClient(server.url) as client,
    ):
        task = await client.create(
            make_png(),
            type="fake",
            params=FAKE,
            webhook_url=hook.url,
            webhook_events=["task.completed"],
        )
        (received,) = await hook.until(1)
        event = verify_webhook(received.body, received.headers, SECRET)
        assert event.type == "task.completed" and event.id == received.headers["webhook-id"]
        assert event.task.task_id == task.task_id and event.task.status is TaskStatus.COMPLETED
        assert event.timestamp is not None

        async def delivered() -> Any:
            log = await client.deliveries(task.task_id)
            return log if log[0].state == "delivered" else None

        log = await until(delivered, 20, "the delivery to be delivered")
        assert [(d.delivery_id, d.event) for d in log] == [(event.id, "task.completed")]
        assert log[0].attempts[0].status_code == 204
        tampered = received.body.replace(b'"completed"', b'"failed"')
        for body, secret in [(tampered, SECRET), (received.body, "whsec_" + "A" * 44)]:
            with pytest.raises(InvalidSignature, match="does not verify"):
                verify_webhook(body, received.headers, secret)
        with pytest.raises(InvalidSignature, match="does not verify"):
            verify_webhook(received.body, {}, SECRET)
