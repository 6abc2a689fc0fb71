"""`then` over real HTTP on the local engine, on SQLite and PostgreSQL: a completed task's
steps become tasks of their own, linked both ways, one after the other; a bad step is a 422
that stores nothing; another key sees none of them; and the reconciler makes a step that a
crash left unmade, once."""

from __future__ import annotations

import base64
import dataclasses
import io
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from PIL import Image
from test_presets import add_key

from rendergate.client import AsyncClient, InvalidRequest
from rendergate.client import TaskStatus as ClientStatus
from rendergate.config.settings import Settings
from rendergate.domain.chains import ThenStep, next_step_id
from rendergate.domain.task import ResultFile, Task, TaskStatus
from rendergate.testing import RecordingOrchestrator
from rendergate.workflow.reconcile import Reconciling, reconcile
from support.images import make_png, make_scene
from support.pg import DATABASES, on_database
from support.server import RunningServer
from support.waiting import until

B64 = base64.b64encode(make_scene(96, 72)).decode()


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def post(server: RunningServer, **options: Any) -> tuple[int, Any]:
    async with server.http.post(f"{server.url}/tasks", **options) as response:
        return response.status, await response.json()


async def result_size(server: RunningServer, task_id: int) -> tuple[int, int]:
    async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
        assert response.status == 200
        return Image.open(io.BytesIO(await response.read())).size


async def finished_child(server: RunningServer, parent: dict[str, Any]) -> dict[str, Any]:
    """The one child `parent` names, once made and finished; and that it names `parent`."""
    parent = await server.wait_for(parent["task_id"], lambda t: bool(t["children"]), 60)
    assert len(parent["children"]) == 1, parent
    child = await server.wait_finished(parent["children"][0], timeout_s=60)
    assert (child["parent_task_id"], child["parent_task_index"]) == (parent["task_id"], 0)
    return child


async def all_task_ids(server: RunningServer) -> list[int]:
    return [task.task_id for task in await server.services.store.find(limit=100)]


async def test_an_upscale_step_runs_on_the_result_as_a_task_of_its_own(
    server: RunningServer,
) -> None:
    then = [{"type": "upscale", "params": {"scale": 2}}]
    status, made = await post(server, json={"type": "preview", "image_base64": B64, "then": then})
    assert status == 201, made
    assert (made["data"]["then"], made["data"]["children"]) == (then, [])
    parent = await server.wait_finished(made["data"]["task_id"], timeout_s=60)
    assert parent["status"] == "completed", parent
    child = await finished_child(server, parent)
    assert (child["status"], child["type"], child["then"]) == ("completed", "upscale", [])
    assert (child["params"], child["seed"]) == ({"scale": 2}, parent["seed"])
    assert child["task_id"] == next_step_id(parent["task_id"])
    assert await result_size(server, child["task_id"]) == (192, 144)
    assert await result_size(server, parent["task_id"]) == (96, 72)
    assert await all_task_ids(server) == [child["task_id"], parent["task_id"]]


async def test_two_steps_run_one_after_the_other(server: RunningServer) -> None:
    form = aiohttp.FormData()
    form.add_field("image", make_scene(64, 48), filename="shot.png", content_type="image/png")
    form.add_field("then", '[{"type": "upscale"}, {"type": "upscale", "params": {"scale": 3}}]')
    status, made = await post(server, data=form)
    assert status == 201, made
    steps = [
        {"type": "upscale", "params": {"scale": 2}},
        {"type": "upscale", "params": {"scale": 3}},
    ]
    assert made["data"]["then"] == steps  # the app's defaults filled in
    parent = await server.wait_finished(made["data"]["task_id"], timeout_s=60)
    child = await finished_child(server, parent)
    assert child["then"] == steps[1:]
    grandchild = await finished_child(server, await server.get_task(child["task_id"]))
    assert (grandchild["status"], grandchild["then"]) == ("completed", [])
    assert await result_size(server, grandchild["task_id"]) == (64 * 6, 48 * 6)
    assert (await server.get_task(grandchild["task_id"]))["children"] == []


async def test_a_forms_shorthand_names_the_steps(server: RunningServer) -> None:
    form = aiohttp.FormData()
    form.add_field("image", make_scene(64, 48), filename="shot.png", content_type="image/png")
    form.add_field("then", "upscale, upscale")
    status, made = await post(server, data=form)
    assert status == 201, made
    assert made["data"]["then"] == [{"type": "upscale", "params": {"scale": 2}}] * 2


BAD_STEPS = [
    ("upscale", ["body", "then"], "Input should be a valid list"),
    ([{"type": "upscale"}] * 4, ["body", "then"], "at most 3 items"),
    ([{"type": "nope"}], ["body", "then.0.type"], "then.0: unknown type 'nope'"),
    ([{"type": ""}], ["body", "then.0.type"], "at least 1 character"),
    ([{"type": "upscale", "extra": 1}], ["body", "then.0.extra"], "Extra inputs"),
    ([{"type": "upscale", "params": {"scale": 9}}], ["body", "then.0.params.scale"], "from 2 to 4"),
    (
        [{"type": "upscale"}, {"type": "upscale", "params": {"zoom": 2}}],
        ["body", "then.1.params.zoom"],
        "no param 'zoom'",
    ),
    ([{"type": "fake_ref"}], ["body", "then.0.type"], "needs a reference image"),
    ([{"type": "su_render"}], ["body", "then.0.type"], "RENDERGATE_RUNNINGHUB_API_KEY"),
]


@pytest.mark.parametrize(("then", "loc", "says"), BAD_STEPS)
async def test_a_bad_step_is_refused_naming_it_and_stores_nothing(
    settings: Settings, server: RunningServer, then: Any, loc: list[str], says: str
) -> None:
    status, refused = await post(server, json={"image_base64": B64, "then": then})
    assert status == 422, refused
    assert refused["detail"][0]["loc"] == loc and says in refused["detail"][0]["msg"], refused
    assert await all_task_ids(server) == []
    assert [p for p in (settings.data_dir / "blobs").rglob("*") if "inputs" in p.parts] == []


async def test_a_forms_bad_step_is_refused_naming_it(server: RunningServer) -> None:
    for then, loc in [("upscale,nope", "then.1.type"), ("[{", "then"), ("{}", "then")]:
        form = aiohttp.FormData()
        form.add_field("image", make_scene(64, 48), filename="shot.png", content_type="image/png")
        form.add_field("then", then)
        status, refused = await post(server, data=form)
        assert status == 422 and refused["detail"][0]["loc"] == ["body", loc], refused
    assert await all_task_ids(server) == []


async def test_another_key_sees_neither_the_task_nor_its_step(
    settings: Settings, server: RunningServer
) -> None:
    alice, bob = await add_key(settings, server, "alice"), await add_key(settings, server, "bob")
    body = {"image_base64": B64, "then": [{"type": "upscale"}]}
    status, made = await post(server, json=body, headers=alice)
    assert status == 201, made
    parent_id = made["data"]["task_id"]
    child_id = next_step_id(parent_id)

    async def get(task_id: int, key: dict[str, str]) -> tuple[int, Any]:
        url = f"{server.url}/tasks/{task_id}?include_base64=false"
        async with server.http.get(url, headers=key) as response:
            return response.status, await response.json()

    async def child_done() -> bool:
        status, child = await get(child_id, alice)
        return status == 200 and child["data"]["status"] == "completed"

    await until(child_done, 60, "the step's task to complete")
    assert (await get(child_id, bob))[0] == 404
    assert (await get(parent_id, bob))[0] == 404
    async with server.http.get(f"{server.url}/tasks", headers=bob) as response:
        assert (await response.json())["data"]["tasks"] == []
    async with server.http.get(f"{server.url}/tasks", headers=alice) as response:
        listed = {t["task_id"]: t["children"] for t in (await response.json())["data"]["tasks"]}
    assert listed == {parent_id: [child_id], child_id: []}


async def test_a_light_poll_learns_of_a_child_made_later(server: RunningServer) -> None:
    """A finished task's light poll is served from bytes rendered once (finished_cache.py):
    a child created afterwards must make it render again."""
    status, made = await post(server, json={"image_base64": B64})
    parent = await server.wait_finished(made["data"]["task_id"], timeout_s=60)
    assert (await server.get_task(parent["task_id"], include_base64="false"))["children"] == []
    status, child = await post(server, json={"type": "upscale", "image_task_id": parent["task_id"]})
    assert status == 201, child
    again = await server.get_task(parent["task_id"], include_base64="false")
    assert again["children"] == [child["data"]["task_id"]]


async def test_the_reconciler_makes_a_step_left_unmade_once(server: RunningServer) -> None:
    """As after a crash between a task's completion and its step's creation: the row says
    completed with a step to come, and no task runs it."""
    services = server.services
    now = services.clock()
    parent_id = 2**41 + 12345
    image = make_png(40, 30, (120, 130, 140))
    await services.blobs.put(f"results/{parent_id}/0.png", image)
    done = Task(
        task_id=parent_id,
        app="preview",
        provider="local",
        outputs=(ResultFile(key=f"results/{parent_id}/0.png", content_type="image/png", size=1),),
        status=TaskStatus.COMPLETED,
        then=(ThenStep(app="upscale", params={"scale": 3}),),
        webhook_url="",
        seed=7,
        created_at=now - timedelta(minutes=5),
        updated_at=now - timedelta(minutes=5),
        finished_at=now - timedelta(minutes=5),
    )
    await services.store.add(done)
    failed = dataclasses.replace(done, task_id=parent_id + 1, status=TaskStatus.FAILED)
    await services.store.add(failed)
    orchestrator = RecordingOrchestrator()
    reconciling = services.unpack(Reconciling, orchestrator=orchestrator)
    assert await reconcile(reconciling, min_age_s=60) == 1
    child_id = next_step_id(parent_id)
    assert orchestrator.task_ids == [child_id]
    child = await services.store.get(child_id)
    assert (child.app, child.params, child.seed, child.then) == ("upscale", {"scale": 3}, 7, ())
    assert child.parent is not None and child.parent.task_id == parent_id
    assert await services.blobs.get(child.inputs["image"].key) == image
    assert await reconcile(reconciling, min_age_s=60) == 0  # made: not made again
    assert orchestrator.task_ids == [child_id]
    assert await services.store.unmade_steps(finished_before=services.clock()) == []


async def test_the_sdk_sends_steps_by_name_or_in_full(server: RunningServer) -> None:
    async with AsyncClient(server.url) as client:
        task = await client.create(make_scene(64, 48), then=["upscale"], wait=30)
        assert task.then == ({"type": "upscale", "params": {"scale": 2}},)  # a form: multipart
        assert task.status is ClientStatus.COMPLETED
        step = {"type": "upscale", "params": {"scale": 4}}
        again = await client.create(image_task_id=task.task_id, type="preview", then=[step])
        assert again.then == (step,)  # no upload: JSON
        parent = await server.wait_for(task.task_id, lambda t: bool(t["children"]), 60)
        assert (await client.get(task.task_id)).children == tuple(parent["children"])
        with pytest.raises(InvalidRequest) as refused:
            await client.create(make_scene(64, 48), then=["nope"])
        assert refused.value.detail[0]["loc"] == ["body", "then.0.type"]


async def test_a_chains_cost_is_the_sum_of_its_tasks(server: RunningServer) -> None:
    """fake_priced (2.00) then upscale (no price): the first task's chain_cost adds its
    steps' charges and costs; a task without steps has none."""
    body = {
        "type": "fake_priced",
        "image_base64": B64,
        "params": {"fake": {"polls": 1}},
        "then": [{"type": "upscale"}],
    }
    async with server.http.post(f"{server.url}/tasks", json=body) as response:
        assert response.status == 201, await response.text()
        first = (await response.json())["data"]
    step = (await finished_child(server, first))["task_id"]
    async with server.http.get(f"{server.url}/tasks/{first['task_id']}") as response:
        task = (await response.json())["data"]
    assert task["chain_cost"] == {
        "amount": "0.00",  # the fake and the local engine cost nothing upstream
        "currency": "CNY",
        "estimated": False,
        "unknown": 0,
        "charged": "2.00",
    }
    async with server.http.get(f"{server.url}/tasks/{step}") as response:
        assert (await response.json())["data"]["chain_cost"] is None
