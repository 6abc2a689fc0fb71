"""POST /batches/{id}/steps over real HTTP, on SQLite and PostgreSQL: a batch's kept results
upscaled in it at the key's own price (what GET /quote says), each once however often it is
asked; every refusal says why and makes nothing; a batch that had ended runs again for its
steps and tells its end again, to its webhook and its event stream."""

from __future__ import annotations

import asyncio
import io
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from test_batches import followed
from test_key_limits import make_key
from test_push import SECRET, push_settings
from test_quote import HANG, IMAGE, PRICES, Caller, batch

from rendergate.config.settings import Settings
from rendergate.domain.limits import KeyLimits
from rendergate.providers.fake import FakeProvider
from support.pg import DATABASES, on_database
from support.receiver import Receiver, receiving
from support.server import serve
from support.waiting import until

STEP = {"type": "fake_upscale", "params": {"scale": 3}}


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def ended_batch(caller: Caller, body: dict[str, Any], size: int) -> dict[str, Any]:
    """The batch `body` makes, once it has ended with `size` tasks."""
    status, made = await caller.post("/batches", body)
    assert status == 201, made
    path = f"/batches/{made['data']['batch_id']}"

    async def ended() -> dict[str, Any] | None:
        found: dict[str, Any] = await caller.ok(path)
        return found if found["finished_at"] and len(found["tasks"]) == size else None

    return await until(ended, 60, f"{path} to end with {size} tasks")


async def keep(caller: Caller, task_id: int) -> None:
    url = f"{caller.server.url}/tasks/{task_id}/kept"
    async with caller.server.http.put(url, headers=caller.headers) as answer:
        assert answer.status == 200, await answer.text()


async def test_the_kept_results_are_upscaled_in_their_batch_once_at_the_quoted_price(
    settings: Settings,
) -> None:
    async with serve(settings) as server:
        token, _ = await make_key(settings, KeyLimits(prices=PRICES))
        server.services.keys.refresh()
        shop = Caller(server, token)
        made = await ended_batch(shop, batch(2, 2, type="fake"), 4)
        batch_id, members = made["batch_id"], made["tasks"]
        kept = [members[1], members[2]]  # view 1 variation 2, view 2 variation 1
        for task in kept:
            await keep(shop, task["task_id"])
        quoted = await shop.ok("/quote", type="fake_upscale", renders="2")
        assert (quoted["per_render"], quoted["total"]) == ("0.30", "0.60")  # the key's, not 0.50

        status, answer = await shop.post(f"/batches/{batch_id}/steps", STEP)
        assert status == 201, answer
        steps = answer["data"]["steps"]
        assert answer["data"]["made"] == 2
        assert [
            (s["parent_task_id"], s["type"], s["params"], s["batch_id"], s["view"], s["seed"])
            for s in steps
        ] == [
            (t["task_id"], "fake_upscale", {"scale": 3}, batch_id, t["view"], t["seed"])
            for t in kept
        ]
        assert [s["variation"] for s in steps] == [1, 0]
        assert [s["charge"]["amount"] for s in steps] == [quoted["per_render"]] * 2
        assert answer["data"]["batch"]["status"] == "processing"
        assert answer["data"]["batch"]["finished_at"] is None  # it runs again
        step_ids = [s["task_id"] for s in steps]

        status, again = await shop.post(f"/batches/{batch_id}/steps", STEP)  # a double click
        assert status == 200 and again["data"]["made"] == 0, again
        assert [s["task_id"] for s in again["data"]["steps"]] == step_ids
        others = {**STEP, "tasks": [members[0]["task_id"], members[3]["task_id"]]}
        both = await asyncio.gather(
            *(shop.post(f"/batches/{batch_id}/steps", others) for _ in range(2))
        )  # the same request twice at once: one makes the steps, the other finds them
        assert sorted((status, a["data"]["made"]) for status, a in both) == [(200, 0), (201, 2)]
        assert [s["task_id"] for s in both[0][1]["data"]["steps"]] == [
            s["task_id"] for s in both[1][1]["data"]["steps"]
        ]

        done = await until(
            lambda: completed_with(shop, batch_id, 8), 60, "the batch to end with its steps"
        )
        assert done["counts"]["completed"] == 8 and done["progress"] == 100
        assert done["cost"]["charged"] == "7.20"  # 4 renders at 1.50, 4 steps at 0.30
        charged = [
            Decimal(t["charge"]["amount"]) for t in done["tasks"] if t["task_id"] in step_ids
        ]
        assert sum(charged) == Decimal(quoted["total"])
        fake = server.services.providers["fake"]
        assert isinstance(fake, FakeProvider)
        every = sorted(t["task_id"] for t in done["tasks"])
        assert sorted(r.task_id for r in fake.submitted) == every  # each submitted once

        status, late = await shop.post(
            f"/batches/{batch_id}/steps", {**STEP, "tasks": [kept[0]["task_id"]]}
        )
        assert status == 200 and late["data"]["made"] == 0, late
        assert [(s["task_id"], s["status"]) for s in late["data"]["steps"]] == [
            (step_ids[0], "completed")
        ]
        assert len(await shop.tasks()) == 8
        assert (await shop.ok("/quote", type="fake"))["month"]["charged_net"] == "7.20"

        url = f"{server.url}/batches/{batch_id}/archive?kept=true"
        async with server.http.get(url, headers=shop.headers) as got:
            assert got.status == 200
            names = zipfile.ZipFile(io.BytesIO(await got.read())).namelist()
        assert sorted(names) == [
            "view01_v2.png",
            "view01_v2_fake_upscale.png",
            "view02_v1.png",
            "view02_v1_fake_upscale.png",
        ]


async def completed_with(caller: Caller, batch_id: int, size: int) -> dict[str, Any] | None:
    found: dict[str, Any] = await caller.ok(f"/batches/{batch_id}")
    return found if found["status"] == "completed" and len(found["tasks"]) == size else None


async def test_each_refusal_says_why_and_makes_nothing(settings: Settings) -> None:
    async with serve(settings) as server:
        token, _ = await make_key(settings, KeyLimits())
        other_token, _ = await make_key(settings, KeyLimits())
        server.services.keys.refresh()
        shop, stranger = Caller(server, token), Caller(server, other_token)
        made = await ended_batch(shop, batch(1, 2, type="fake"), 2)
        batch_id, first = made["batch_id"], made["tasks"][0]["task_id"]
        status, single = await shop.post("/tasks", {"type": "fake", "image_base64": IMAGE})
        assert status == 201, single
        status, hanging = await shop.post("/batches", batch(1, type="fake", params=HANG))
        assert status == 201, hanging
        held = hanging["data"]["tasks"][0]["task_id"]
        path = f"/batches/{batch_id}/steps"
        cases: list[tuple[Caller, str, dict[str, Any], int, str]] = [
            (stranger, path, STEP, 404, f"batch {batch_id} not found"),
            (shop, path, STEP, 409, f"batch {batch_id} has no kept result to run fake_upscale"),
            (
                shop,
                f"/batches/{hanging['data']['batch_id']}/steps",
                {**STEP, "tasks": [held]},
                409,
                f"task {held} is ",
            ),
        ]
        for caller, where, body, code, message in cases:
            status, answer = await caller.post(where, body)
            assert (status, answer["msg"][: len(message)]) == (code, message), answer
        invalid: list[tuple[dict[str, Any], list[str], str]] = [
            ({"type": "fake"}, ["body", "type"], "app 'fake' is a render app; a step on chosen"),
            ({"type": "nope"}, ["body", "type"], "unknown type 'nope'; known types:"),
            (
                {**STEP, "params": {"scale": 9}},
                ["body", "params.scale"],
                "params.scale must be an integer from 2 to 4, not 9",
            ),
            (
                {**STEP, "tasks": [first, single["data"]["task_id"]]},
                ["body", "tasks"],
                f"task {single['data']['task_id']} is not in batch {batch_id}",
            ),
            ({**STEP, "tasks": []}, ["body", "tasks"], "tasks: List should have at least 1"),
        ]
        for body, loc, message in invalid:
            status, answer = await shop.post(path, body)
            assert status == 422, answer
            detail = answer["detail"][0]
            assert (detail["loc"], detail["msg"][: len(message)]) == (loc, message), answer
        url = f"{server.url}{path}"
        async with server.http.post(url, data="type=fake_upscale", headers=shop.headers) as got:
            assert got.status == 415, await got.text()
        assert len(await shop.tasks()) == 4  # 2 members, the single task, the held member
        assert (await shop.ok(f"/batches/{batch_id}"))["status"] == "completed"


async def test_an_ended_batch_runs_again_for_its_steps_and_tells_its_end_again(
    settings: Settings,
) -> None:
    pushed = push_settings(settings).model_copy(update={"database_url": settings.database_url})
    async with receiving(Receiver([SECRET])) as hook, serve(pushed) as server:
        anyone = Caller(server)
        made = await ended_batch(anyone, batch(1, type="fake", webhook_url=hook.url), 1)
        batch_id, member = made["batch_id"], made["tasks"][0]

        def told(kind: str) -> list[Any]:
            return [p for p in hook.verified() if p["type"] == kind]

        await until(lambda: len(told("batch.completed")) == 1, 30, "the batch's first end")
        body = {"type": "fake_upscale", "tasks": [member["task_id"]]}
        status, answer = await anyone.post(f"/batches/{batch_id}/steps", body)
        assert status == 201, answer
        step = answer["data"]["steps"][0]
        assert (step["parent_task_id"], step["params"]) == (member["task_id"], {"scale": 2})

        events = await followed(server, batch_id)
        kinds = [kind for kind, _ in events]
        assert kinds[-1] == "batch.completed", kinds
        assert events[-1][1]["counts"]["completed"] == 2 and events[-1][1]["progress"] == 100
        assert step["task_id"] in {d["task_id"] for k, d in events if k == "task.completed"}

        ends = await until(lambda: told("batch.completed")[1:], 30, "the batch's end told again")
        again = ends[0]["data"]
        assert [t["task_id"] for t in again["tasks"]] == [member["task_id"], step["task_id"]]
        assert again["status"] == "completed" and again["counts"]["completed"] == 2
        assert again["finished_at"] > made["finished_at"]
        assert [p["data"]["task_id"] for p in told("task.completed")] == [
            member["task_id"],
            step["task_id"],
        ]  # the step carries its member's webhook
        shown = await anyone.ok(f"/batches/{batch_id}")
        assert shown["finished_at"] == again["finished_at"]
        assert len(told("batch.completed")) == 2  # told once for each end


async def test_the_steps_are_admitted_all_or_none_within_the_keys_budget(
    settings: Settings,
) -> None:
    """Two renders at 1.00 charged of a 2.80 budget: two steps at 0.50 do not fit, and the
    refusal is GET /quote's word for word; one does."""
    prices = {"fake": Decimal("1.00"), "fake_upscale": Decimal("0.50")}
    async with serve(settings) as server:
        token, _ = await make_key(
            settings, KeyLimits(monthly_budget=Decimal("2.80"), prices=prices)
        )
        server.services.keys.refresh()
        shop = Caller(server, token)
        made = await ended_batch(shop, batch(2, type="fake"), 2)
        for task in made["tasks"]:
            await keep(shop, task["task_id"])
        quoted = await shop.ok("/quote", type="fake_upscale", renders="2")
        assert quoted["total"] == "1.00" and quoted["refusal"], quoted
        path = f"/batches/{made['batch_id']}/steps"
        status, refused = await shop.post(path, {"type": "fake_upscale"})
        assert (status, refused["msg"]) == (429, quoted["refusal"])
        assert len(await shop.tasks()) == 2  # neither step made
        one = {"type": "fake_upscale", "tasks": [made["tasks"][1]["task_id"]]}
        status, answer = await shop.post(path, one)
        assert status == 201 and answer["data"]["made"] == 1, answer
        assert answer["data"]["steps"][0]["charge"]["amount"] == "0.50"
        assert (await shop.ok("/quote", type="fake"))["month"]["charged_net"] == "2.50"
