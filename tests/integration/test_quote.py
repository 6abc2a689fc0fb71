"""GET /quote and GET /account over real HTTP: a quote is what the create it describes is
then charged, by the caller's key's own prices, its steps included; its refusal is the
create's 429 word for word; the account shows the key's own month, budget, limits and
prices, and never another key's; open mode is quoted at the apps' prices."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest
from test_key_limits import make_key

from rendergate.config.settings import Settings
from rendergate.domain.limits import KeyLimits
from support.images import make_scene
from support.pg import DATABASES, on_database
from support.server import RunningServer, serve
from support.waiting import until

IMAGE = base64.b64encode(make_scene(32, 24)).decode()
HANG = {"fake": {"outcome": "hang"}}  # stays in flight
PRICES = {"fake": Decimal("1.50"), "fake_upscale": Decimal("0.30"), "preview": Decimal("0.80")}


class Caller:
    """One caller of a running server: a key's headers, or none (open mode)."""

    def __init__(self, server: RunningServer, token: str | None = None) -> None:
        self.server = server
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def get(self, path: str, **query: Any) -> tuple[int, Any]:
        url = f"{self.server.url}{path}"
        async with self.server.http.get(url, params=query, headers=self.headers) as answer:
            return answer.status, await answer.json()

    async def ok(self, path: str, **query: Any) -> Any:
        status, body = await self.get(path, **query)
        assert status == 200, body
        return body["data"]

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        url = f"{self.server.url}{path}"
        async with self.server.http.post(url, json=body, headers=self.headers) as answer:
            return answer.status, await answer.json()

    async def tasks(self) -> list[dict[str, Any]]:
        return list((await self.ok("/tasks", limit="100"))["tasks"])


def batch(views: int, variations: int = 1, **fields: Any) -> dict[str, Any]:
    return {"views": [{"image_base64": IMAGE}] * views, "variations": variations, **fields}


async def all_completed(caller: Caller, count: int) -> list[dict[str, Any]]:
    """The caller's `count` tasks, once every one has completed (chained steps made too)."""

    async def done() -> list[dict[str, Any]] | None:
        found = await caller.tasks()
        complete = len(found) == count and all(t["status"] == "completed" for t in found)
        return found if complete else None

    return await until(done, 60, f"{count} tasks to complete")


@pytest.fixture(params=DATABASES)
def either_database(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def test_a_quote_is_what_the_batch_it_describes_is_charged(either_database: Settings) -> None:
    """3 views x 2 variations of `fake`, each upscaled: the key's own prices (1.50 and 0.30,
    not the upscaler's 0.50), on the renders and on the steps made after them."""
    settings = either_database
    async with serve(settings) as server:
        token, _ = await make_key(settings, KeyLimits(prices=PRICES))
        server.services.keys.refresh()
        shop = Caller(server, token)
        quoted = await shop.ok("/quote", type="fake", renders="6", then="fake_upscale")
        assert quoted == {
            "currency": "CNY",
            "type": "fake",
            "renders": 6,
            "per_render": "1.50",
            "renders_total": "9.00",
            "steps": [{"type": "fake_upscale", "per_result": "0.30", "count": 6, "total": "1.80"}],
            "total": "10.80",
            "priced": True,
            "month": {"charged_net": "0.00", "budget": None, "left": None},
            "refusal": None,
            "retry_after_s": None,
            "refusal_limit": None,
        }
        then = [{"type": "fake_upscale"}]
        status, made = await shop.post("/batches", batch(3, 2, type="fake", then=then))
        assert status == 201, made
        charged = [Decimal(t["charge"]["amount"]) for t in await all_completed(shop, 12)]
        assert sorted(charged) == [Decimal("0.30")] * 6 + [Decimal("1.50")] * 6
        assert sum(charged) == Decimal(quoted["total"])
        after = await shop.ok("/quote", type="fake")
        assert after["month"]["charged_net"] == "10.80"


async def test_open_mode_is_quoted_at_the_apps_prices_and_a_preset_names_its_app(
    server: RunningServer,
) -> None:
    anyone = Caller(server)
    quoted = await anyone.ok("/quote", type="fake_priced", renders="2", then="fake_upscale")
    assert (quoted["per_render"], quoted["renders_total"], quoted["total"]) == (
        "2.00",
        "4.00",
        "5.00",
    )
    assert quoted["steps"] == [
        {"type": "fake_upscale", "per_result": "0.50", "count": 2, "total": "1.00"}
    ]
    status, made = await anyone.post(
        "/tasks", {"type": "fake_priced", "image_base64": IMAGE, "then": [{"type": "fake_upscale"}]}
    )
    assert status == 201, made
    charged = [t["charge"]["amount"] for t in await all_completed(anyone, 2)]
    assert sorted(charged) == ["0.50", "2.00"]  # half the quote of two: one render, one step
    unpriced = await anyone.ok("/quote", preset="dusk", renders="4")
    assert (unpriced["type"], unpriced["per_render"], unpriced["total"]) == ("preview", None, None)
    assert unpriced["priced"] is False
    account = await anyone.ok("/account")
    assert account["key"] is None
    assert account["month"]["renders"] == 2 and account["month"]["net"] == "2.50"
    assert account["prices"] == {"fake_priced": "2.00", "fake_upscale": "0.50"}


async def test_a_quotes_refusal_is_the_creates_429_word_for_word(settings: Settings) -> None:
    budget = KeyLimits(monthly_budget=Decimal("5.00"), prices={"fake": Decimal("1.00")})
    async with serve(settings) as server:
        token, _ = await make_key(settings, budget)
        server.services.keys.refresh()
        shop = Caller(server, token)
        fits = await shop.ok("/quote", type="fake", renders="5")
        assert (fits["refusal"], fits["month"]) == (
            None,
            {"charged_net": "0.00", "budget": "5.00", "left": "5.00"},
        )
        over = await shop.ok("/quote", type="fake", renders="6")
        status, refused = await shop.post("/batches", batch(6, type="fake", params=HANG))
        assert status == 429 and over["refusal"] == refused["msg"], (over, refused)
        assert over["refusal"].startswith("this key has been charged 0.00 CNY this month")
        assert over["retry_after_s"] > 0 and over["refusal_limit"] == "monthly_budget"
        assert (await shop.post("/batches", batch(4, type="fake", params=HANG)))[0] == 201
        left = await shop.ok("/quote", type="fake")
        assert (left["refusal"], left["month"]["left"]) == (None, "1.00")


async def test_a_quote_refused_for_work_in_flight_names_the_limit_as_a_create(
    settings: Settings,
) -> None:
    async with serve(settings) as server:
        token, _ = await make_key(settings, KeyLimits(max_in_flight=2))
        server.services.keys.refresh()
        shop = Caller(server, token)
        for _ in range(2):
            made = {"type": "fake", "image_base64": IMAGE, "params": HANG}
            assert (await shop.post("/tasks", made))[0] == 201
        over = await shop.ok("/quote", type="fake")
        status, refused = await shop.post("/tasks", made)
        assert status == 429 and over["refusal"] == refused["msg"]
        assert "its limit of tasks in flight is 2" in over["refusal"]
        assert (over["retry_after_s"], over["refusal_limit"]) == (10, "max_in_flight")


async def test_the_account_is_the_callers_own_and_never_another_keys(settings: Settings) -> None:
    limits = KeyLimits(
        max_in_flight=5, monthly_budget=Decimal("4.00"), prices={"fake": Decimal("1.00")}
    )
    async with serve(settings) as server:
        token, key = await make_key(settings, limits)
        other_token, other = await make_key(settings, KeyLimits(prices=PRICES))
        server.services.keys.refresh()
        shop, other_shop = Caller(server, token), Caller(server, other_token)
        for _ in range(2):
            made = {"type": "fake", "image_base64": IMAGE, "params": HANG}
            assert (await shop.post("/tasks", made))[0] == 201
        made = {"type": "fake_priced", "image_base64": IMAGE}
        assert (await shop.post("/tasks", made))[0] == 201  # the app's 2.00: 4.00 in all
        account = await shop.ok("/account")
        assert account["key"] == {"id": key.key_id, "name": "shop"}
        assert account["month"] | {"since": ""} == {
            "since": "",
            "renders": 3,
            "charged": "4.00",
            "refunded": "0.00",
            "net": "4.00",
        }
        assert account["budget"] == {"monthly": "4.00", "left": "0.00", "low": True}
        assert account["limits"] | {"in_flight": 0} == {
            "rate_per_minute": None,
            "max_in_flight": 5,
            "daily_tasks": None,
            "last_minute": 3,
            "in_flight": 0,  # 2 or 3: the priced one may have finished
            "today": 3,
        }
        assert account["limits"]["in_flight"] >= 2
        assert account["prices"] == {"fake": "1.00", "fake_priced": "2.00", "fake_upscale": "0.50"}
        theirs = await other_shop.ok("/account")
        assert theirs["key"] == {"id": other.key_id, "name": "shop"}
        assert (theirs["month"]["renders"], theirs["month"]["net"]) == (0, "0.00")
        assert (theirs["limits"]["today"], theirs["budget"]["monthly"]) == (0, None)
        assert theirs["prices"]["fake"] == "1.50" and theirs["prices"]["preview"] == "0.80"
        assert (await other_shop.ok("/quote", type="fake"))["month"]["charged_net"] == "0.00"
        own = {"name": "facade", "type": "fake_priced"}
        assert (await shop.post("/presets", own))[0] == 201
        assert (await shop.ok("/quote", preset="facade"))["per_render"] == "2.00"
        status, refused = await other_shop.get("/quote", preset="facade")
        assert status == 422 and "preset 'facade' not found" in refused["detail"][0]["msg"]


async def test_a_quote_refuses_what_the_create_would_naming_the_query(
    server: RunningServer,
) -> None:
    anyone = Caller(server)
    for query, loc, said in [
        ({"type": "nope"}, ["query", "type"], "unknown type 'nope'; known types: "),
        ({"preset": "nope"}, ["query", "preset"], "preset 'nope' not found"),
        ({"type": "fake", "then": "nope"}, ["query", "then.0.type"], "then.0: unknown type"),
        ({"type": "fake", "then": "fake_ref"}, ["query", "then.0.type"], "needs a reference"),
        ({"type": "fake", "then": "a,b,c,d"}, ["query", "then"], "a chain takes at most 3"),
        ({"renders": "0"}, ["query", "renders"], ""),
        ({"renders": "49"}, ["query", "renders"], ""),
    ]:
        status, body = await anyone.get("/quote", **query)
        assert status == 422, (query, body)
        [detail] = body["detail"]
        assert detail["loc"] == loc and said in detail["msg"], (query, body)


async def test_quote_and_account_need_a_key_once_one_exists(settings: Settings) -> None:
    async with serve(settings) as server:
        await make_key(settings, KeyLimits())
        server.services.keys.refresh()
        for path in ("/quote", "/account"):
            status, body = await Caller(server).get(path)
            assert status == 401, body
