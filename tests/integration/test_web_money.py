"""Money on the web page in a real browser, at desktop and phone sizes: the month pill and
the Account view show GET /account's figures (a key with a monthly budget, its bar and
what is left; open mode says there is no key and no budget), a result card and the batch
header show what the task was charged and cost, the quote's refusal shows before Render,
and a create refused by the budget shows the API's message in a panel with when to try
again."""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from test_key_limits import make_key
from test_web_batch import start_batch_on

from rendergate.config.settings import Settings
from rendergate.domain.limits import KeyLimits
from support.a11y import audit, needs_axe
from support.browser import REF, SHOT, VIEWPORTS, Visit, needs_chromium, visit
from support.images import make_scene
from support.server import RunningServer, serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240), needs_chromium]

LONG = 90_000  # ms: a loaded 2-core machine runs the suite beside these
IMAGE = base64.b64encode(make_scene(32, 24)).decode()
TIMES = "\u00d7"  # the price line's multiplication sign
WIDER = """() => [...document.querySelectorAll("body *")]
    .filter((node) => node.getBoundingClientRect().right > window.innerWidth + 0.5)
    .map((node) => `${node.tagName}.${node.className}`)"""  # what a phone would scroll to
FIGURES = """() => Object.fromEntries([...document.querySelectorAll("[data-figure]")]
    .map((figure) => [figure.dataset.figure, figure.textContent]))"""


async def get(server: RunningServer, path: str, token: str = "") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with server.http.get(f"{server.url}{path}", headers=headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["data"]


async def keyed(
    browser: Browser, server: RunningServer, viewport: str, token: str, route: str
) -> Visit:
    """The page at `route` with `token` kept in the browser, as Account's Save keeps it."""
    width, height = VIEWPORTS[viewport]
    seen = await visit(browser, server.url, width=width, height=height, route=route)
    await seen.page.evaluate("(key) => localStorage.setItem('rendergate.apiKey', key)", token)
    await seen.page.reload()
    return seen


async def create_priced(server: RunningServer, token: str, count: int) -> None:
    """`count` tasks of fake_priced (2.00 each) made through the API with the key."""
    made = {"type": "fake_priced", "image_base64": IMAGE}
    for _ in range(count):
        async with server.http.post(
            f"{server.url}/tasks", json=made, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            assert response.status == 201, await response.text()


@needs_axe
async def test_the_pill_and_account_show_the_keys_month(
    settings: Settings, browser: Browser, viewport: str
) -> None:
    limits = KeyLimits(monthly_budget=Decimal("5.00"), max_in_flight=10)
    async with serve(settings) as server:
        token, key = await make_key(settings, limits)
        server.services.keys.refresh()
        await create_priced(server, token, 2)  # 4.00 of 5.00: low
        account = await get(server, "/account", token)
        seen = await keyed(browser, server, viewport, token, "#/account")
        page = seen.page
        pill = page.locator("#month-pill")
        await expect(pill).to_have_text("¥4.00 of ¥5.00 this month")
        await expect(pill).to_be_visible()
        await expect(page.locator("[data-figure=net]")).to_have_text("¥4.00")
        shown = await page.evaluate(FIGURES)
        month, budget = account["month"], account["budget"]
        assert shown | {"in-flight": ""} == {
            "renders": str(month["renders"]),
            "charged": f"¥{month['charged']}",
            "refunded": f"¥{month['refunded']}",
            "net": f"¥{month['net']}",
            "budget-charged": f"¥{month['net']} of ¥{budget['monthly']}",
            "budget-left": f"¥{budget['left']}",
            "rate": f"{account['limits']['last_minute']} (no limit)",
            "in-flight": "",  # the tasks may finish meanwhile
            "today": f"{account['limits']['today']} (no limit)",
        }
        assert (month["renders"], month["net"], budget["left"]) == (2, "4.00", "1.00")
        assert re.fullmatch(r"\d of 10", shown["in-flight"])
        await expect(page.locator(".budget-warn")).to_have_text(
            "Budget low: ¥1.00 left this month."
        )
        assert await page.locator(".budget-bar").get_attribute("aria-valuenow") == "80"
        await expect(page.locator(".who")).to_contain_text(key.key_id)
        prices = page.get_by_role("table", name="What a render of each app is charged")
        apps = {app["name"]: app["label"] for app in await get(server, "/apps", token)}
        for name, amount in account["prices"].items():
            row = prices.get_by_role("row", name=re.compile(re.escape(apps[name])))
            await expect(row).to_contain_text(f"¥{amount}")
        usage = page.get_by_role("table", name="This month's renders by app")
        await expect(
            usage.get_by_role("row", name=re.compile(apps["fake_priced"]))
        ).to_contain_text("¥4.00")
        await audit(page, f"account-{viewport}")
        wide = await page.evaluate(WIDER)
        assert wide == [], wide
        await seen.screenshot(f"account-{viewport}")
        seen.assert_clean()


async def test_open_mode_says_there_is_no_key_and_no_budget(
    server: RunningServer, browser: Browser
) -> None:
    width, height = VIEWPORTS["desktop"]
    seen = await visit(browser, server.url, width=width, height=height, route="#/account")
    page = seen.page
    await expect(page.locator(".open-note")).to_contain_text("there is no key and no budget")
    await expect(page.locator("#month-pill")).to_have_text("¥0.00 this month")
    await expect(page.locator(".budget-bar")).to_have_count(0)
    await seen.screenshot("account-open-desktop")
    seen.assert_clean()


async def test_a_cards_price_is_its_charge_and_the_pill_follows(
    server: RunningServer, browser: Browser, viewport: str
) -> None:
    width, height = VIEWPORTS[viewport]
    seen = await visit(browser, server.url, width=width, height=height)
    page = seen.page
    await expect(page.locator("#month-pill")).to_have_text("¥0.00 this month")
    await seen.add_views(SHOT)
    await page.get_by_label("App", exact=True).select_option("fake_priced")
    await expect(page.locator(".price-text")).to_have_text(f"1 render {TIMES} ¥2.00 = ¥2.00")
    answer = await seen.render()
    assert answer.status == 201, await answer.text()
    batch_id = (await answer.json())["data"]["batch_id"]
    await expect(page.locator(".batch-status")).to_have_text("Done", timeout=LONG)
    card = page.locator(".card").first
    task = await server.get_task(int(await card.get_attribute("data-task-id") or 0))
    charge, cost = task["charge"], task["cost"]
    assert charge == {"amount": "2.00", "currency": "CNY", "refunded": False}
    assert (cost["amount"], cost["estimated"]) == ("0.00", False)  # the fake is free
    await expect(card.locator(".card-price")).to_have_text("¥2.00 · cost ¥0.00")
    batch = await get(server, f"/batches/{batch_id}")
    await expect(page.locator(".batch-facts")).to_contain_text(
        f"Charged so far: ¥{batch['cost']['charged']}"
    )
    assert batch["cost"]["charged"] == "2.00"
    await expect(page.locator("#month-pill")).to_have_text("¥2.00 this month")  # after its end
    await seen.screenshot(f"money-card-{viewport}")
    await page.goto(f"{server.url}/#/tasks/{task['task_id']}")
    await expect(page.locator(".task-price")).to_have_text("¥2.00 · cost ¥0.00")
    seen.assert_clean()


async def test_a_refusal_shows_before_render_and_a_429_in_a_panel(
    settings: Settings, browser: Browser, viewport: str
) -> None:
    async with serve(settings) as server:
        token, _ = await make_key(settings, KeyLimits(monthly_budget=Decimal("3.00")))
        server.services.keys.refresh()
        seen = await keyed(browser, server, viewport, token, "#/")
        page = seen.page
        await seen.add_views(SHOT, REF)
        await page.get_by_label("App", exact=True).select_option("fake_priced")
        await expect(page.locator(".price-text")).to_have_text(f"2 renders {TIMES} ¥2.00 = ¥4.00")
        await expect(page.locator(".price")).not_to_have_attribute("aria-busy", "true")  # settled
        quote = await get(server, "/quote?type=fake_priced&renders=2", token)
        assert quote["refusal"].startswith("this key has been charged 0.00 CNY this month")
        note = page.locator(".price-note")
        await expect(note).to_have_text(f"Monthly budget reached: {quote['refusal']}.")
        await seen.screenshot(f"money-quote-refused-{viewport}")
        answer = await seen.render()
        assert answer.status == 429
        said = (await answer.json())["msg"]
        assert said == quote["refusal"]
        panel = page.locator(".limit-panel")
        await expect(panel.locator("strong")).to_have_text("Monthly budget reached")
        await expect(panel.locator(".msg")).to_have_text(said)
        await expect(panel).to_contain_text(re.compile(r"Try again after \d{4}-\d\d-01 00:00 UTC"))
        await expect(panel.get_by_role("link", name="See your account")).to_be_in_viewport()
        await expect(page.locator(".alert:visible")).to_have_count(0)  # calm: no error box
        await seen.screenshot(f"money-refused-{viewport}")
        seen.assert_clean()


async def test_a_rate_limit_says_when_to_try_again(settings: Settings, browser: Browser) -> None:
    async with serve(settings) as server:
        token, _ = await make_key(settings, KeyLimits(rate_per_minute=2))
        server.services.keys.refresh()
        seen, _ = await start_batch_on(
            await keyed(browser, server, "desktop", token, "#/"), {"outcome": "hang"}
        )  # two creates: the minute's limit
        page = seen.page
        await page.goto(f"{server.url}/#/")
        await seen.add_views(SHOT)
        await page.get_by_label("App", exact=True).select_option("fake")
        answer = await seen.render()
        assert answer.status == 429
        wait = int(answer.headers["retry-after"])
        panel = page.locator(".limit-panel")
        await expect(panel.locator("strong")).to_have_text("Too many renders this minute")
        await expect(panel.locator(".msg")).to_have_text((await answer.json())["msg"])
        await expect(panel).to_contain_text(f"Try again in {wait} s.")
        seen.assert_clean()


async def test_a_batchs_cost_says_what_is_not_known(
    server: RunningServer, browser: Browser
) -> None:
    """The batch's money line, as batch.js writes it in chromium, for the API's `cost`: a
    provider that tells no cost (RunningHub with no coin price) is counted as not known, as
    Account counts it, not summed as ¥0.00."""
    seen = await visit(browser, server.url)
    shown = await seen.page.evaluate(
        """async (costs) => {
            const { costText } = await import("/static/web/batch.js");
            return costs.map(costText);
        }""",
        [
            {
                "amount": "0.00",
                "currency": "CNY",
                "estimated": False,
                "unknown": 6,
                "charged": "4.80",
            },
            {
                "amount": "0.34",
                "currency": "CNY",
                "estimated": True,
                "unknown": 2,
                "charged": "4.80",
            },
            {
                "amount": "0.00",
                "currency": "CNY",
                "estimated": False,
                "unknown": 0,
                "charged": "2.00",
            },
        ],
    )
    assert shown == [
        "Charged so far: ¥4.80 · cost ¥0.00 (+6 not known)",
        "Charged so far: ¥4.80 · cost ¥0.34 (estimated) (+2 not known)",
        "Charged so far: ¥2.00 · cost ¥0.00",
    ]
    seen.assert_clean()
