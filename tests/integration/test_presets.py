"""/presets over real HTTP, on SQLite and PostgreSQL: the built-in looks, a key's own made,
edited as new versions, deleted; each key sees only its own; bad input stores nothing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from rendergate.config.settings import Settings
from rendergate.domain.keys import new_key
from rendergate.store.keys import KeyStore
from rendergate.store.sql import create_engine
from support.images import make_png
from support.pg import DATABASES, on_database
from support.server import RunningServer

REFERENCE = make_png(48, 32, (30, 60, 200))


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def call(
    server: RunningServer, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[int, Any]:
    async with server.http.request(method, f"{server.url}{path}", headers=headers, **kw) as got:
        if got.content_type == "application/json":
            return got.status, await got.json()
        return got.status, await got.read()


def dusk_like(name: str = "facade", **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "preview",
        "params": {"strength": 0.9},
        "description": "blue hour",
        "label": "Facade, blue hour",
        "reference_base64": base64.b64encode(REFERENCE).decode(),
        **fields,
    }


async def test_the_built_in_presets_are_listed_with_their_references(
    server: RunningServer,
) -> None:
    status, body = await call(server, "GET", "/presets")
    assert status == 200
    names = {p["name"]: p for p in body["data"]}
    assert {"dusk", "overcast", "warm_interior", "clear_noon", "su_dusk"} <= set(names)
    dusk = names["dusk"]
    assert (dusk["type"], dusk["built_in"], dusk["reference"], dusk["version"]) == (
        "preview",
        True,
        True,
        1,
    )
    assert dusk["params"] == {"strength": 0.9, "smoothing": 0.5}  # the app's defaults filled
    labels = {name: preset["label"] for name, preset in names.items()}
    assert labels == {
        "dusk": "Dusk",
        "overcast": "Overcast",
        "warm_interior": "Warm interior",
        "clear_noon": "Clear noon",
        "su_dusk": "Dusk, photoreal",
        "su_overcast": "Overcast, photoreal",
        "su_warm_interior": "Warm interior, photoreal",
    }
    status, image = await call(server, "GET", "/presets/dusk/reference")
    assert status == 200 and image.startswith(b"\x89PNG")


async def test_a_preset_is_made_edited_as_versions_and_deleted(server: RunningServer) -> None:
    status, made = await call(server, "POST", "/presets", json=dusk_like())
    assert status == 201, made
    assert made["data"] | {"created_at": None} == {
        "name": "facade",
        "version": 1,
        "type": "preview",
        "params": {"strength": 0.9, "smoothing": 0.5},
        "description": "blue hour",
        "label": "Facade, blue hour",
        "reference": True,
        "built_in": False,
        "created_at": None,
    }
    assert (await call(server, "GET", "/presets/facade/reference")) == (200, REFERENCE)
    status, again = await call(server, "POST", "/presets", json=dusk_like())
    assert (status, again["msg"]) == (409, "preset 'facade' exists: PUT /presets/facade edits it")
    edit = {"type": "preview", "params": {"strength": 0.4}, "description": "paler"}
    status, edited = await call(server, "PUT", "/presets/facade", json=edit)
    assert status == 200, edited
    assert (edited["data"]["version"], edited["data"]["params"]["strength"]) == (2, 0.4)
    assert edited["data"]["reference"] is True  # a PUT without one keeps the last
    status, read = await call(server, "GET", "/presets/facade")
    assert (status, read["data"]["version"], read["data"]["description"]) == (200, 2, "paler")
    assert read["data"]["label"] == ""  # a PUT replaces the label as it does the description
    relabel = {**edit, "label": "Façade at dusk"}  # any script; ASCII reads everywhere
    status, edited = await call(server, "PUT", "/presets/facade", json=relabel)
    assert (status, edited["data"]["version"], edited["data"]["label"]) == (
        200,
        3,
        "Façade at dusk",
    )
    status, listed = await call(server, "GET", "/presets")
    assert {p["name"]: p["label"] for p in listed["data"]}["facade"] == "Façade at dusk"
    assert (await call(server, "DELETE", "/presets/facade"))[0] == 200
    assert (await call(server, "GET", "/presets/facade"))[0] == 404
    assert (await call(server, "DELETE", "/presets/facade"))[0] == 404
    assert (await call(server, "PUT", "/presets/facade", json=edit))[0] == 404


async def test_a_multipart_preset_takes_its_reference_file(server: RunningServer) -> None:
    form = aiohttp.FormData()
    form.add_field("name", "warm-lobby")
    form.add_field("type", "preview")
    form.add_field("params", '{"smoothing": 0.2}')
    form.add_field("label", "Warm lobby")
    form.add_field("reference", REFERENCE, filename="ref.png", content_type="image/png")
    status, made = await call(server, "POST", "/presets", data=form)
    assert status == 201, made
    assert made["data"]["params"] == {"smoothing": 0.2, "strength": 0.8}
    assert made["data"]["label"] == "Warm lobby"
    form = aiohttp.FormData()
    for key, value in {"name": "bad-lobby", "type": "preview", "label": "Warm\r\nlobby"}.items():
        form.add_field(key, value, content_type="text/plain")
    status, refused = await call(server, "POST", "/presets", data=form)
    assert status == 422, refused
    assert refused["detail"][0]["msg"].startswith("label has a control character '\\r' at ")
    assert (await call(server, "GET", "/presets/bad-lobby"))[0] == 404
    assert (await call(server, "GET", "/presets/warm-lobby/reference")) == (200, REFERENCE)


@pytest.mark.parametrize(
    ("change", "status", "field", "message"),
    [
        ({"name": "Bad Name"}, 422, "name", "a preset name is 1 to 64 lower-case letters"),
        ({"type": "nope"}, 422, "type", "unknown type 'nope'"),
        ({"params": {"strength": 2}}, 422, "params.strength", "params.strength must be"),
        ({"params": {"colour": 1}}, 422, "params.colour", "takes no param 'colour'"),
        ({"reference_base64": "@@@@"}, 422, "reference_base64", "is not valid base64"),
        ({"reference_base64": base64.b64encode(b"no image").decode()}, 415, "reference", "not"),
        ({"description": "x" * 501}, 422, "description", "at most 500 characters"),
        ({"label": "x" * 65}, 422, "label", "at most 64 characters"),
        ({"label": "Dusk\nsecond line"}, 422, "label", "control character '\\n' at position 4"),
        ({"label": "Dusk\u0007"}, 422, "label", "control character '\\x07' at position 4"),
    ],
)
async def test_a_bad_preset_is_refused_naming_the_field_and_stores_nothing(
    server: RunningServer, change: dict[str, Any], status: int, field: str, message: str
) -> None:
    answer, body = await call(server, "POST", "/presets", json=dusk_like(**change))
    assert answer == status, body
    said = body["detail"][0] if "detail" in body else {"msg": body["msg"], "loc": ()}
    assert message in said["msg"], body
    assert field in ".".join(map(str, said["loc"])) or answer == 415, body
    status, listed = await call(server, "GET", "/presets")
    assert all(p["built_in"] for p in listed["data"])


async def add_key(settings: Settings, server: RunningServer, name: str) -> dict[str, str]:
    engine = create_engine(settings.task_database_url)
    try:
        token, key = new_key(name, now=datetime.now(UTC))
        await KeyStore(engine).add(key)
    finally:
        await engine.dispose()
    server.services.keys.refresh()
    return {"Authorization": f"Bearer {token}"}


async def test_a_keys_presets_are_its_own_and_hide_a_built_in_of_the_same_name(
    settings: Settings, server: RunningServer
) -> None:
    alice = await add_key(settings, server, "alice")
    bob = await add_key(settings, server, "bob")
    status, _ = await call(server, "POST", "/presets", alice, json=dusk_like("dusk"))
    assert status == 201
    status, mine = await call(server, "GET", "/presets/dusk", alice)
    assert (status, mine["data"]["built_in"], mine["data"]["description"]) == (
        200,
        False,
        "blue hour",
    )
    status, theirs = await call(server, "GET", "/presets/dusk", bob)
    assert (status, theirs["data"]["built_in"]) == (200, True)  # bob sees the built-in one
    assert (await call(server, "POST", "/presets", alice, json=dusk_like("own")))[0] == 201
    assert (await call(server, "GET", "/presets/own", bob))[0] == 404
    assert (await call(server, "DELETE", "/presets/own", bob))[0] == 404
    assert (await call(server, "GET", "/presets/own/reference", bob))[0] == 404
    status, listed = await call(server, "GET", "/presets", bob)
    assert "own" not in {p["name"] for p in listed["data"]}
    assert (await call(server, "GET", "/presets"))[0] == 401  # keys exist: open mode is over


async def create(server: RunningServer, **fields: Any) -> tuple[int, Any]:
    image = base64.b64encode(make_png(64, 48, (200, 200, 200))).decode()
    return await call(server, "POST", "/tasks", json={"image_base64": image, **fields})


async def test_a_create_takes_its_presets_app_params_and_reference(server: RunningServer) -> None:
    status, made = await create(server, preset="dusk")
    assert status == 201, made
    task = made["data"]
    assert (task["type"], task["preset"], task["preset_version"]) == ("preview", "dusk", 1)
    assert task["params"] == {"strength": 0.9, "smoothing": 0.5}
    stored = await server.services.store.get(task["task_id"])
    assert set(stored.inputs) == {"image", "reference"}  # the preset's reference went along
    done = await server.wait_finished(task["task_id"])
    assert done["status"] == "completed", done
    status, own = await create(server, preset="dusk", params={"strength": 0.3})
    assert (status, own["data"]["params"]) == (201, {"strength": 0.3, "smoothing": 0.5})
    status, other = await create(server, preset="dusk", type="fake")
    assert status == 201, other
    assert (other["data"]["type"], other["data"]["params"]) == ("fake", {})  # not preview's


async def test_a_task_keeps_the_preset_version_it_was_made_with(server: RunningServer) -> None:
    assert (await call(server, "POST", "/presets", json=dusk_like()))[0] == 201
    status, first = await create(server, preset="facade")
    assert status == 201, first
    edit = {"type": "preview", "params": {"strength": 0.2}}
    assert (await call(server, "PUT", "/presets/facade", json=edit))[0] == 200
    status, second = await create(server, preset="facade")
    assert (second["data"]["preset_version"], second["data"]["params"]["strength"]) == (2, 0.2)
    again = await server.get_task(first["data"]["task_id"])
    assert (again["preset_version"], again["params"]["strength"]) == (1, 0.9)
    assert (await call(server, "DELETE", "/presets/facade"))[0] == 200
    assert (await server.get_task(second["data"]["task_id"]))["preset"] == "facade"


async def test_a_multipart_create_names_a_preset_and_an_unknown_one_is_refused(
    server: RunningServer,
) -> None:
    form = aiohttp.FormData()
    form.add_field("image", make_png(), filename="shot.png", content_type="image/png")
    form.add_field("preset", "overcast")
    status, made = await call(server, "POST", "/tasks", data=form)
    assert (status, made["data"]["preset"], made["data"]["type"]) == (201, "overcast", "preview")
    status, refused = await create(server, preset="nowhere")
    assert status == 422, refused
    assert refused["detail"][0]["loc"][-1] == "preset"
    assert "preset 'nowhere' not found" in refused["detail"][0]["msg"]
    status, listed = await call(server, "GET", "/tasks")
    assert len(listed["data"]["tasks"]) == 1  # the refused one stored nothing
