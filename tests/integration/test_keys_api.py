"""API keys over real HTTP: `rendergate keys` makes them, every task route asks for one,
and a key sees only its own tasks (another key's are 404, as if absent)."""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from standardwebhooks.webhooks import Webhook

from rendergate.config.settings import Settings, load_settings
from support.images import make_scene
from support.logs import captured_logs
from support.process import create_api_key, rendergate_keys
from support.receiver import Received, Receiver, receiving
from support.server import RunningServer, serve
from support.waiting import until

pytestmark = pytest.mark.slow  # runs `rendergate keys`


async def create_key(data_dir: Path, name: str) -> dict[str, str]:
    """In a thread: the server under test runs on this event loop (see `create_api_key`)."""
    token = await asyncio.to_thread(create_api_key, data_dir, name)
    return {"Authorization": f"Bearer {token}"}


async def call(
    server: RunningServer, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    async with server.http.request(
        method, f"{server.url}{path}", headers=headers, **kwargs
    ) as response:
        body = await response.read()
        kind = response.content_type
        return (
            response.status,
            (await response.json() if kind == "application/json" else body),
            (response.headers),
        )


async def assert_answered(server: RunningServer, headers: dict[str, str], status: int) -> None:
    """After a change to the keys, the server's next request reads them again (they are
    otherwise read every REFRESH_S): a GET /tasks with these headers answers `status` at once."""
    server.services.keys.refresh()
    answer = await call(server, "GET", "/tasks", headers)
    assert answer[0] == status, answer


async def accepted_key(server: RunningServer, data_dir: Path, name: str) -> dict[str, str]:
    """A new key's headers, once the running server knows the key."""
    headers = await create_key(data_dir, name)
    await assert_answered(server, headers, 200)
    return headers


async def create_fake_task(server: RunningServer, headers: dict[str, str], **extra: Any) -> int:
    image = base64.b64encode(make_scene(32, 24)).decode()
    status, body, _ = await call(
        server, "POST", "/tasks", headers, json={"type": "fake", "image_base64": image, **extra}
    )
    assert status == 201, body
    return int(body["data"]["task_id"])


async def finished(server: RunningServer, task_id: int, headers: dict[str, str]) -> Any:
    last: list[Any] = []

    async def ended() -> Any:
        status, body, _ = await call(
            server, "GET", f"/tasks/{task_id}?include_base64=false", headers
        )
        assert status == 200, body
        last[:] = [body]
        return (
            body["data"] if body["data"]["status"] in ("completed", "failed", "canceled") else None
        )

    return await until(ended, 30, lambda: f"task {task_id} to finish: {last}")


async def test_a_key_sees_only_its_own_tasks_on_every_route(settings: Settings) -> None:
    with captured_logs() as logs:
        async with serve(settings) as server:
            alice = await create_key(settings.data_dir, "alice")
            bob = await create_key(settings.data_dir, "bob")
            await assert_answered(server, alice, 200)
            task_id = await create_fake_task(server, alice)
            task = await finished(server, task_id, alice)
            assert task["status"] == "completed"
            await finished(server, task_id, alice)  # again: now from the finished-task cache
            theirs = [
                ("GET", f"/tasks/{task_id}"),
                ("GET", f"/tasks/{task_id}?include_base64=false"),
                ("GET", f"/tasks/{task_id}/image"),
                ("GET", f"/tasks/{task_id}/events"),
                ("GET", f"/tasks/{task_id}/deliveries"),
                ("POST", f"/tasks/{task_id}/cancel"),
            ]
            for method, path in theirs:
                status, body, _ = await call(server, method, path, bob)
                assert status == 404, (method, path, body)
                assert (await call(server, method, path, alice))[0] in (200, 409)
            replay = f"/tasks/{task_id}/deliveries/msg_0/replay"
            assert (await call(server, "POST", replay, bob))[1][
                "msg"
            ] == f"task {task_id} not found"
            _, listed, _ = await call(server, "GET", "/tasks", bob)
            assert listed["data"]["tasks"] == []
            _, listed, _ = await call(server, "GET", "/tasks", alice)
            assert [t["task_id"] for t in listed["data"]["tasks"]] == [task_id]
            for refused in ({}, {"Authorization": "Bearer rk_0123456789ab_nope"}):
                status, body, headers = await call(server, "GET", f"/tasks/{task_id}", refused)
                assert status == 401 and headers["WWW-Authenticate"] == "Bearer", body
                assert body["msg"] in (
                    "an API key is required: send it as Authorization: Bearer <key>",
                    "the API key is not valid, or was revoked",
                )
    token = alice["Authorization"].removeprefix("Bearer ")
    assert token not in logs.getvalue()


async def test_a_revoked_key_is_refused_once_the_keys_are_read_again(settings: Settings) -> None:
    async with serve(settings) as server:
        alice = await create_key(settings.data_dir, "alice")
        await create_key(settings.data_dir, "bob")  # a key stays: the server does not open up
        await assert_answered(server, alice, 200)
        done = await asyncio.to_thread(rendergate_keys, settings.data_dir, "revoke", "alice")
        assert done.returncode == 0 and "revoked" in done.stderr, done.stderr
        await assert_answered(server, alice, 401)


def test_keys_list_shows_no_secret_and_rotate_prints_a_new_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    created = rendergate_keys(data, "create", "shop")
    # each on its own line, whole, however narrow the terminal: a split key does not paste
    secret = re.search(r"^webhook secret: +(whsec_\S+)$", created.stdout, re.MULTILINE)
    token = re.search(r"^API key: +(rk_\S+)$", created.stdout, re.MULTILINE)
    assert secret is not None and token is not None, created.stdout
    listed = rendergate_keys(data, "list")
    assert listed.returncode == 0 and "shop" in listed.stdout
    assert token[1] not in listed.stdout and secret[1] not in listed.stdout
    rotated = rendergate_keys(data, "rotate-secret", "shop")
    fresh = re.search(r"webhook secret:\s+(whsec_\S+)", rotated.stdout)
    assert rotated.returncode == 0 and fresh is not None and fresh[1] != secret[1]
    assert "verifies until" in rotated.stderr
    missing = rendergate_keys(data, "revoke", "nobody")
    assert missing.returncode == 4 and "no key has the id or name 'nobody'" in missing.stderr


async def test_an_idempotency_key_belongs_to_one_api_key(settings: Settings) -> None:
    async with serve(settings) as server:
        alice = await accepted_key(server, settings.data_dir, "alice")
        bob = await accepted_key(server, settings.data_dir, "bob")
        image = base64.b64encode(make_scene(32, 24)).decode()
        made = []
        for who in (alice, bob, alice):
            status, body, _ = await call(
                server,
                "POST",
                "/tasks",
                {**who, "Idempotency-Key": "order-1"},
                json={"type": "fake", "image_base64": image},
            )
            assert status == 201, body
            made.append(body["data"]["task_id"])
    assert made[0] == made[2] != made[1]  # bob's "order-1" is his own


async def test_a_keys_webhooks_verify_with_its_secret_and_through_a_rotation(
    settings: Settings,
) -> None:
    """Signed with the key's own whsec_ secret; after `keys rotate-secret`, each delivery
    carries two signatures, so a receiver with either secret verifies it for 24 hours."""
    live = load_settings(
        data_dir=settings.data_dir, apps_file=settings.apps_file, fetch_allow=["127.0.0.1"]
    )
    async with serve(live) as server:
        made = await asyncio.to_thread(rendergate_keys, live.data_dir, "create", "shop")
        token = re.search(r"API key:\s+(\S+)", made.stdout)
        old = re.search(r"webhook secret:\s+(whsec_\S+)", made.stdout)
        assert token is not None and old is not None, made.stdout
        shop = {"Authorization": f"Bearer {token[1]}"}
        await assert_answered(server, shop, 200)
        async with receiving(Receiver([old[1]])) as hook:
            await create_fake_task(server, shop, webhook_url=hook.url)
            [first, *_] = await hook.until(1)
            assert first.payload is not None and first.payload["type"] == "task.processing"
            rotated = await asyncio.to_thread(
                rendergate_keys, live.data_dir, "rotate-secret", "shop"
            )
            new = re.search(r"webhook secret:\s+(whsec_\S+)", rotated.stdout)
            assert new is not None, rotated.stdout
            server.services.keys.refresh()  # read again on the next request, not in 2 s
            second = await create_fake_task(server, shop, webhook_url=hook.url)

            def of_second() -> Received | None:
                sent = [r for r in hook.received if r.payload is not None]
                return next((r for r in sent if r.payload["data"]["task_id"] == second), None)

            latest = await until(of_second, 20, "a delivery of the task made after the rotation")
            assert len(latest.headers["webhook-signature"].split(" ")) == 2, latest.headers
        for secret in (old[1], new[1]):
            Webhook(secret).verify(latest.body, latest.headers)
