"""App forms over real HTTP: GET /apps serves each app's declared params, and a create is
checked against them (JSON and multipart alike), refused naming the param and what it takes,
or stored with the defaults filled in."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from rendergate.api.routes.health import APPS_EXAMPLE
from rendergate.client import AppParam, AsyncClient
from support.images import make_png
from support.refusals import form_of, nothing_stored, refused, url
from support.server import RunningServer

PNG = make_png()
B64 = base64.b64encode(PNG).decode()


async def apps(server: RunningServer) -> dict[str, dict[str, Any]]:
    async with server.http.get(f"{server.url}/apps") as response:
        assert response.status == 200
        return {app["name"]: app for app in (await response.json())["data"]}


async def test_get_apps_serves_each_apps_form(server: RunningServer) -> None:
    found = await apps(server)
    scale = found["comfy_demo"]["params"]
    assert scale == APPS_EXAMPLE["data"][0]["params"]  # the OpenAPI example, as served
    assert [(p["name"], p["min"], p["max"], p["default"], p["label"]) for p in scale] == [
        ("scale", 1, 4, 2, "Scale")
    ]
    assert (found["comfy_demo"]["reference"], found["comfy_demo"]["seed"]) == ("none", False)
    assert [p["name"] for p in found["preview"]["params"]] == ["smoothing", "strength"]
    assert [p["default"] for p in found["preview"]["params"]] == [0.5, 0.8]
    su_render = found["su_render"]
    assert (su_render["title"], su_render["label"]) == (
        "SU截图转效果图",
        "SketchUp screenshot to render",
    )
    assert (su_render["reference"], su_render["requires_reference"], su_render["params"]) == (
        "required",
        True,
        [],
    )
    form = found["fake_form"]
    assert (form["label"], form["reference"], form["seed"]) == ("Fake with a form", "none", True)
    assert [(p["name"], p["type"], p["default"]) for p in form["params"]] == [
        ("scale", "number", None),
        ("steps", "integer", 20),
        ("mood", "choice", "dusk"),
        ("hdr", "boolean", None),
        ("prompt", "string", None),
    ]
    assert form["params"][2]["choices"] == ["dusk", "overcast"]
    assert [(p["step"], p["choice_labels"], p["advanced"]) for p in form["params"]] == [
        (None, None, False),
        (5, None, True),
        (None, ["Dusk", "Overcast sky"], False),
        (None, None, False),
        (None, None, False),
    ]
    assert [p["step"] for p in found["preview"]["params"]] == [0.05, 0.05]
    upscalers = {"upscale", "upscale_runninghub", "upscale_comfyui", "fake_upscale"}
    assert {name for name, app in found.items() if app["kind"] == "upscale"} == upscalers
    assert {app["kind"] for name, app in found.items() if name not in upscalers} == {"render"}
    assert found["fake_ref"]["angles"] == ["front", "top"] and found["fake"]["params"] == []


async def test_the_sdk_reads_the_form_as_typed_params(server: RunningServer) -> None:
    async with AsyncClient(server.url) as client:
        found = {app.name: app for app in await client.apps()}
    assert found["comfy_demo"].params == (
        AppParam(
            name="scale",
            type="number",
            min=1,
            max=4,
            default=2,
            label="Scale",
            description="How many times larger the result is",
        ),
    )
    form = found["fake_form"]
    assert (form.label, form.reference, form.seed) == ("Fake with a form", "none", True)
    assert form.params[2].choices == ("dusk", "overcast")
    assert found["fake_ref"].angles == ("front", "top")


@pytest.mark.parametrize(
    ("app", "params", "field", "says"),
    [
        ("fake_form", {"scale": 9}, "params.scale", "params.scale must be a number from 1 to 4"),
        ("fake_form", {"scale": False}, "params.scale", "must be a number from 1 to 4, not False"),
        ("preview", {"strength": True}, "params.strength", "must be a number from 0 to 1"),
        ("fake_form", {"steps": 2.5}, "params.steps", "must be an integer from 0 to 50"),
        ("fake_form", {"mood": "noon"}, "params.mood", "must be one of 'dusk', 'overcast'"),
        ("fake_form", {"hdr": "yes"}, "params.hdr", "params.hdr must be true or false"),
        (
            "fake_form",
            {"fake": {"outcome": "fail"}},  # the fake takes any params, but the form does not
            "params.fake",
            "app 'fake_form' takes no param 'fake'; its params: hdr, mood, prompt, scale, steps",
        ),
    ],
)
@pytest.mark.parametrize("encoding", ["json", "multipart"])
async def test_a_create_outside_the_form_is_refused_naming_the_param(
    server: RunningServer, app: str, params: dict[str, Any], field: str, says: str, encoding: str
) -> None:
    if encoding == "json":
        body = {"type": app, "image_base64": B64, "params": params}
        response = await server.http.post(url(server), json=body)
    else:
        fields = [("image", PNG, "image/png"), ("type", app, None)]
        form = form_of([*fields, ("params", json.dumps(params), None)])
        response = await server.http.post(url(server), data=form)
    async with response:
        loc = await refused(response, 422, says)
    assert loc[-1] == field
    await nothing_stored(server)


async def test_a_reference_is_refused_by_an_app_that_takes_none(server: RunningServer) -> None:
    body = {"type": "fake_form", "image_base64": B64, "reference_base64": B64}
    async with server.http.post(url(server), json=body) as response:
        loc = await refused(response, 422, "app 'fake_form' takes no reference image")
    assert loc[-1] == "reference"
    await nothing_stored(server)


async def test_a_task_records_the_defaults_it_ran_with(server: RunningServer) -> None:
    body = {"type": "fake_form", "image_base64": B64, "params": {"steps": 8.0, "hdr": True}}
    async with server.http.post(url(server), json=body) as response:
        assert response.status == 201, await response.text()
        created = (await response.json())["data"]
    assert created["params"] == {"steps": 8, "hdr": True, "mood": "dusk"}
    form = form_of([("image", PNG, "image/png"), ("type", "preview", None)])
    async with server.http.post(url(server), data=form) as response:
        assert response.status == 201, await response.text()
        preview = (await response.json())["data"]
    task = await server.wait_finished(preview["task_id"])
    assert (task["status"], task["params"]) == ("completed", {"smoothing": 0.5, "strength": 0.8})
    assert (await server.get_task(created["task_id"]))["params"]["steps"] == 8
