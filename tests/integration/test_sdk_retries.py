"""The SDK's retries over real HTTP: a create whose reply is lost is sent again with the same
Idempotency-Key and makes one task; a 5xx is tried again, then raised; a short Retry-After
is waited out, a long one raised at once."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from aiohttp import web

from rendergate.client import AsyncClient, Conflict, InvalidRequest, RateLimited, ServerError
from rendergate.config.settings import Settings, load_settings
from support.images import make_png
from support.proxy import Proxy, http_app, proxying
from support.server import serve

FAKE = {"fake": {"polls": 1}}


def task_json(task_id: int) -> dict[str, Any]:
    return {"code": 0, "msg": "success", "data": {"task_id": task_id, "status": "submitted"}}


async def test_a_create_whose_reply_is_lost_makes_one_task(settings: Settings) -> None:
    async with (
        serve(settings) as server,
        proxying(Proxy(server.url, lose_first_create=True)) as proxy,
        AsyncClient(proxy.url) as client,
    ):
        task = await client.create(make_png(), type="fake", params=FAKE)
        tries = proxy.creates()
        assert [t.replayed for t in tries] == ["", "true"]  # the second try was a replay
        assert tries[0].idempotency_key == tries[1].idempotency_key
        assert len(tries[0].idempotency_key) == 36  # a UUID of its own
        assert [t.task_id async for t in client.list()] == [task.task_id]
        again = await client.create(make_png(), type="fake", params=FAKE, idempotency_key="k1")
        same = await client.create(make_png(), type="fake", params=FAKE, idempotency_key="k1")
        assert same.task_id == again.task_id != task.task_id
        with pytest.raises(InvalidRequest, match="Idempotency-Key was used with a different"):
            await client.create(make_png(), type="fake", idempotency_key="k1")  # other params
        assert len([t async for t in client.list()]) == 2


async def test_a_server_error_is_tried_again_then_raised() -> None:
    tries: list[str] = []

    async def broken(request: web.Request) -> web.Response:
        tries.append(request.path)
        body = {"code": 500, "msg": "internal server error", "data": None}
        return web.json_response(body, status=500)

    async with (
        http_app(lambda app: app.router.add_get("/tasks/7", broken)) as url,
        AsyncClient(url, retries=2) as client,
    ):
        with pytest.raises(ServerError, match="internal server error") as failed:
            await client.get(7)
    assert failed.value.status == 500 and tries == ["/tasks/7"] * 3


async def test_a_short_retry_after_is_waited_out() -> None:
    tries: list[float] = []

    async def busy_once(request: web.Request) -> web.Response:
        tries.append(time.monotonic())
        if len(tries) == 1:
            body = {"code": 429, "msg": "slow down", "data": None}
            return web.json_response(body, status=429, headers={"Retry-After": "1"})
        return web.json_response(task_json(7))

    async with (
        http_app(lambda app: app.router.add_get("/tasks/7", busy_once)) as url,
        AsyncClient(url) as client,
    ):
        assert (await client.get(7)).task_id == 7
    assert len(tries) == 2 and tries[1] - tries[0] >= 0.95


async def test_over_the_rate_limit_is_raised_at_once(settings: Settings) -> None:
    limited = load_settings(
        data_dir=settings.data_dir, apps_file=settings.apps_file, rate_limit_per_minute=1
    )
    async with serve(limited) as server, AsyncClient(server.url) as client:
        await client.create(make_png(), type="fake", params=FAKE)
        started = time.monotonic()
        with pytest.raises(RateLimited, match="over this key's limit of 1") as refused:
            await client.create(make_png(), type="fake", params=FAKE)
        assert refused.value.status == 429
        assert refused.value.retry_after is not None and 10 < refused.value.retry_after <= 60
        assert time.monotonic() - started < 5  # a Retry-After of a minute is not waited out
        assert len([t async for t in client.list()]) == 1


async def test_a_create_still_in_progress_is_waited_out_and_another_conflict_is_not() -> None:
    """A 409 with Retry-After (the key's first request is still running) is asked again
    with the same key once Retry-After has passed; a 409 without one (the task already
    finished) is raised at once."""
    tries: list[tuple[float, str]] = []
    cancels: list[str] = []

    async def in_progress_twice(request: web.Request) -> web.Response:
        tries.append((time.monotonic(), request.headers["Idempotency-Key"]))
        if len(tries) <= 2:
            body = {"code": 409, "msg": "still being processed", "data": None}
            return web.json_response(body, status=409, headers={"Retry-After": "1"})
        return web.json_response(task_json(7), status=201)

    async def finished(request: web.Request) -> web.Response:
        cancels.append(request.path)
        body = {"code": 409, "msg": "task 7 is already completed", "data": None}
        return web.json_response(body, status=409)

    def routes(app: web.Application) -> None:
        app.router.add_post("/tasks", in_progress_twice)
        app.router.add_post("/tasks/7/cancel", finished)

    async with http_app(routes) as url, AsyncClient(url) as client:
        assert (await client.create(make_png(), type="fake")).task_id == 7
        with pytest.raises(Conflict, match="already completed"):
            await client.cancel(7)
    assert len(tries) == 3 and len({key for _, key in tries}) == 1
    waits = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(tries)]
    assert all(wait >= 0.95 for wait in waits), waits
    assert cancels == ["/tasks/7/cancel"]
