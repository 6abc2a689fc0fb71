"""Share links over real HTTP, on SQLite and PostgreSQL: the batch's owner makes a link,
shown once and kept only as a hash; anyone holding it, with no key, sees the batch's kept
results (or all), their images and their zip, and nothing of its prices, params or key,
until the link expires (410, on the services' clock) or is revoked (404, as an unknown
link). Another key cannot share, list or revoke the batch, and a link reaches no task
outside what it shares."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from test_picks import call
from test_presets import add_key

from rendergate.config.settings import Settings
from rendergate.services.context import Slots
from rendergate.store.keys import KeyStore
from rendergate.store.sql import create_engine
from support.images import make_scene
from support.pg import DATABASES, on_database
from support.server import RunningServer
from support.waiting import until

IMAGE = base64.b64encode(make_scene(32, 24)).decode()
BATCH = {
    "type": "fake",
    "name": "Villa, scheme B",
    "params": {"strength": 0.5},
    "views": [{"image_base64": IMAGE, "angle": "front"}, {"image_base64": IMAGE, "angle": "side"}],
}
NOT_THERE = "This share link is unknown or was revoked; ask its sender for a new one."


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def finished_batch(
    server: RunningServer, headers: dict[str, str], **changes: Any
) -> dict[str, Any]:
    status, made = await call(server, "POST", "/batches", headers, json={**BATCH, **changes})
    assert status == 201, made
    batch_id = made["data"]["batch_id"]

    async def ended() -> dict[str, Any] | None:
        found = (await call(server, "GET", f"/batches/{batch_id}", headers))[1]["data"]
        return found if found["status"] == "completed" else None

    batch: dict[str, Any] = await until(ended, 60, f"batch {batch_id} to complete")
    return batch


async def shared(
    server: RunningServer, batch: dict[str, Any], headers: dict[str, str], **body: Any
) -> tuple[dict[str, Any], str]:
    """A new link to the batch, and its token (the last part of its URL)."""
    path = f"/batches/{batch['batch_id']}/shares"
    status, made = await call(server, "POST", path, headers, json=body)
    assert status == 201, made
    return made["data"], made["data"]["url"].rsplit("/", 1)[1]


async def share_rows(settings: Settings) -> list[dict[str, Any]]:
    engine = create_engine(settings.task_database_url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(sa.text("SELECT * FROM shares"))
            return [dict(row) for row in result.mappings()]
    finally:
        await engine.dispose()


async def test_a_link_shows_the_kept_results_to_anyone_and_is_kept_only_as_a_hash(
    settings: Settings, server: RunningServer
) -> None:
    owner = await add_key(settings, server, "architect")
    api_key = owner["Authorization"].removeprefix("Bearer ")
    with structlog.testing.capture_logs() as logs:
        batch = await finished_batch(server, owner)
        front, side = (t["task_id"] for t in sorted(batch["tasks"], key=lambda t: t["view"]))
        assert (await call(server, "PUT", f"/tasks/{side}/kept", owner))[0] == 200
        made, token = await shared(server, batch, owner)
        listed = await call(server, "GET", f"/batches/{batch['batch_id']}/shares", owner)
        status, seen = await call(server, "GET", f"/s/{token}/batch")  # no key
        async with server.http.get(f"{server.url}/s/{token}/tasks/{side}/image") as got:
            assert got.status == 200 and got.headers["Cache-Control"] == "no-store"
            assert got.headers["Referrer-Policy"] == "no-referrer"
            image = await got.read()
        async with server.http.get(f"{server.url}/s/{token}/archive") as got:
            assert got.status == 200, await got.text()
            names = zipfile.ZipFile(io.BytesIO(await got.read())).namelist()
        unkept = await call(server, "GET", f"/s/{token}/tasks/{front}/image")
    assert (made["kept_only"], made["state"]) == (True, "active")
    assert made["expires_at"] > made["created_at"]
    assert made["url"] == f"{server.url}/s/{token}" and len(token) >= 43
    assert status == 200, seen
    data = seen["data"]
    assert (data["name"], data["kept_only"]) == ("Villa, scheme B", True)
    assert data["views"] == [{"view": 0, "angle": "front"}, {"view": 1, "angle": "side"}]
    [result] = data["results"]
    assert (result["task_id"], result["angle"]) == (side, "side")
    assert (result["name"], result["step"], result["files_removed"]) == (
        "view02_side_v1.png",
        False,
        False,
    )
    assert result["image_urls"] == [f"{server.url}/s/{token}/tasks/{side}/image?index=0"]
    assert data["archive_url"] == f"{server.url}/s/{token}/archive"
    for hidden in ("cost", "charge", "params", "seed", "provider", "type", "batch_id", "strength"):
        assert hidden not in str(seen), hidden
    assert image == await owner_image(server, side, owner)
    assert names == ["view02_side_v1.png"]
    assert unkept == (404, {"code": 404, "msg": f"task {front} not found", "data": None})
    # shown once: the list has no link, and the table only the token's hash
    assert listed[0] == 200 and listed[1]["data"]["shares"] == [{**made, "url": None}]
    [row] = await share_rows(settings)
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in str(value) for value in row.values())
    everything = str(logs) + str(listed) + str(seen)
    assert api_key not in everything and token not in str(logs) + str(listed)


async def owner_image(server: RunningServer, task_id: int, headers: dict[str, str]) -> bytes:
    async with server.http.get(f"{server.url}/tasks/{task_id}/image", headers=headers) as got:
        assert got.status == 200
        return await got.read()


async def test_a_link_for_all_shows_every_result_and_the_page_draws_them(
    server: RunningServer,
) -> None:
    batch = await finished_batch(server, {})
    _, token = await shared(server, batch, {}, kept_only=False, expires_in_days=30)
    seen = (await call(server, "GET", f"/s/{token}/batch"))[1]["data"]
    assert seen["kept_only"] is False
    assert sorted(r["task_id"] for r in seen["results"]) == sorted(
        t["task_id"] for t in batch["tasks"]
    )
    async with server.http.get(f"{server.url}/s/{token}/archive") as got:
        names = zipfile.ZipFile(io.BytesIO(await got.read())).namelist()
    assert sorted(names) == ["view01_front_v1.png", "view02_side_v1.png"]
    async with server.http.get(f"{server.url}/s/{token}") as got:
        page = await got.text()
        assert got.status == 200
        assert got.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert got.headers["X-Robots-Tag"] == "noindex"
    assert "<h1>Villa, scheme B</h1>" in page
    for task in batch["tasks"]:
        assert f'src="/s/{token}/tasks/{task["task_id"]}/image?index=0"' in page


async def test_a_link_expires_on_the_services_clock(server: RunningServer) -> None:
    batch = await finished_batch(server, {})
    made, token = await shared(server, batch, {}, kept_only=False, expires_in_days=1)
    assert (await call(server, "GET", f"/s/{token}/batch"))[0] == 200
    real = server.services
    later = real.clock() + timedelta(days=1, seconds=1)
    server.app.state.services = dataclasses.replace(real, clock=lambda: later)
    day = made["expires_at"][:10]
    gone = {"code": 410, "msg": f"this link expired on {day}; ask for a new one", "data": None}
    try:
        for path in ("batch", "archive", f"tasks/{batch['tasks'][0]['task_id']}/image"):
            assert await call(server, "GET", f"/s/{token}/{path}") == (410, gone), path
        async with server.http.get(f"{server.url}/s/{token}") as got:
            assert got.status == 410 and gone["msg"] in await got.text()
        listed = (await call(server, "GET", f"/batches/{batch['batch_id']}/shares"))[1]
        assert [s["state"] for s in listed["data"]["shares"]] == ["expired"]
    finally:
        server.app.state.services = real


async def test_a_revoked_link_answers_as_an_unknown_one(server: RunningServer) -> None:
    batch = await finished_batch(server, {})
    made, token = await shared(server, batch, {}, kept_only=False)
    path = f"/batches/{batch['batch_id']}/shares/{made['share_id']}"
    status, revoked = await call(server, "DELETE", path)
    assert status == 200 and revoked["data"]["state"] == "revoked", revoked
    again = (await call(server, "DELETE", path))[1]["data"]
    assert again["revoked_at"] == revoked["data"]["revoked_at"]  # the first time stands
    unknown = (404, {"code": 404, "msg": NOT_THERE, "data": None})
    assert await call(server, "GET", f"/s/{token}/batch") == unknown
    assert await call(server, "GET", f"/s/{token[:-1]}x/batch") == unknown
    assert await call(server, "GET", f"/s/{token}/archive") == unknown
    async with server.http.get(f"{server.url}/s/{token}") as got:
        assert got.status == 404 and NOT_THERE in await got.text()
    other_share = f"/batches/{batch['batch_id']}/shares/{made['share_id'] + 1}"
    assert (await call(server, "DELETE", other_share))[0] == 404


async def test_revoking_the_key_that_made_a_link_closes_it(
    settings: Settings, server: RunningServer
) -> None:
    gone = await add_key(settings, server, "left-the-studio")
    stays = await add_key(settings, server, "stays")
    made = [await shared(server, await finished_batch(server, gone), gone, kept_only=False)]
    made += [await shared(server, await finished_batch(server, stays), stays, kept_only=False)]
    assert [(await call(server, "GET", f"/s/{token}/batch"))[0] for _, token in made] == [200, 200]
    await revoke_key(settings, "left-the-studio")  # as `rendergate keys revoke` does
    server.services.keys.refresh()
    (_, closed), (_, still) = made
    unknown = (404, {"code": 404, "msg": NOT_THERE, "data": None})
    assert await call(server, "GET", f"/s/{closed}/batch") == unknown
    assert await call(server, "GET", f"/s/{closed}/archive") == unknown
    async with server.http.get(f"{server.url}/s/{closed}") as got:
        assert got.status == 404 and NOT_THERE in await got.text()
    assert (await call(server, "GET", f"/s/{still}/batch"))[0] == 200  # another key's stays


async def revoke_key(settings: Settings, name: str) -> None:
    engine = create_engine(settings.task_database_url)
    try:
        store = KeyStore(engine)
        (key,) = await store.named(name)
        await store.save(key.revoke(now=datetime.now(UTC)))
    finally:
        await engine.dispose()


async def test_another_keys_batch_cannot_be_shared_and_a_link_reaches_only_its_batch(
    settings: Settings, server: RunningServer
) -> None:
    mine = await add_key(settings, server, "mine")
    other = await add_key(settings, server, "other")
    batch = await finished_batch(server, mine)
    theirs = await finished_batch(server, other)
    made, token = await shared(server, batch, mine, kept_only=False)
    base = f"/batches/{batch['batch_id']}/shares"
    assert (await call(server, "POST", base, other, json={}))[0] == 404
    assert (await call(server, "GET", base, other))[0] == 404
    assert (await call(server, "DELETE", f"{base}/{made['share_id']}", other))[0] == 404
    assert (await call(server, "GET", f"/s/{token}/batch"))[0] == 200  # not revoked by them
    stranger = theirs["tasks"][0]["task_id"]
    status, answer = await call(server, "GET", f"/s/{token}/tasks/{stranger}/image")
    assert (status, answer["msg"]) == (404, f"task {stranger} not found")


async def test_a_bad_share_request_is_refused_and_stores_nothing(
    settings: Settings, server: RunningServer
) -> None:
    batch = await finished_batch(server, {})
    path = f"/batches/{batch['batch_id']}/shares"
    for body in ({"expires_in_days": 0}, {"expires_in_days": 31}, {"kept_only": "yes"}, {"x": 1}):
        status, answer = await call(server, "POST", path, json=body)
        assert status == 422, (body, answer)
    assert await share_rows(settings) == []


async def test_a_links_file_routes_hold_a_slot_each_and_turn_away_when_none_is_free(
    server: RunningServer,
) -> None:
    batch = await finished_batch(server, {})
    _, token = await shared(server, batch, {}, kept_only=False)
    files = (f"/s/{token}/tasks/{batch['tasks'][0]['task_id']}/image", f"/s/{token}/archive")
    for path in files:
        async with server.http.get(f"{server.url}{path}") as got:
            assert got.status == 200
    real = server.services
    assert real.shared_files.in_use == 0  # each given back once answered
    full = {503: Slots("shared-link downloads", 0), 429: Slots("shared-link downloads", 9, 0)}
    try:
        for status, slots in full.items():
            server.app.state.services = dataclasses.replace(real, shared_files=slots)
            for path in files:
                async with server.http.get(f"{server.url}{path}") as got:
                    assert (got.status, got.headers["Retry-After"]) == (status, "2"), path
                    assert "shared-link downloads" in (await got.json())["msg"]
            assert (await call(server, "GET", f"/s/{token}/batch"))[0] == 200  # light: unbounded
    finally:
        server.app.state.services = real
