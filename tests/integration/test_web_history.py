"""The page's history (#/history) in a real browser, at desktop and phone sizes: an empty
state that says what to do, jobs listed by name with their covers, status, size and price,
a search by name that narrows them and is kept in the URL across a reload, pictures of the
jobs no longer listed given back (their blob: URLs revoked), a job opened by its own URL,
and "All renders": every task, a task made with POST /tasks directly too, paged with Load
more, opened by its own URL. An app's CJK title never shows where no CJK font is installed:
its ASCII label does."""

from __future__ import annotations

import base64
import re
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from rendergate.config.settings import Settings
from rendergate_emulators.runninghub import RunningHubEmulator
from support.a11y import audit, needs_axe
from support.browser import REF, SHOT, VIEWPORTS, needs_chromium, visit
from support.hub import hub_settings, submit
from support.images import make_scene
from support.server import RunningServer, serve
from support.waiting import until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), needs_chromium, needs_axe]

LONG = 90_000  # ms: a loaded 2-core machine runs the suite beside these
CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")
# A blob: URL given back no longer loads (drawn as an image: the policy lets the page fetch()
# no blob: URL at all, given back or not).
REVOKED = """(url) => new Promise((answer) => {
    const img = new Image();
    img.onload = () => answer(false);
    img.onerror = () => answer(true);
    img.src = url;
})"""


async def make_batch(
    server: RunningServer, name: str, app: str, views: list[bytes], variations: int = 1
) -> int:
    form = aiohttp.FormData()
    for i, image in enumerate(views):
        form.add_field("image", image, filename=f"view{i}.png", content_type="image/png")
    for field, value in (("name", name), ("type", app), ("variations", str(variations))):
        form.add_field(field, value)
    async with server.http.post(f"{server.url}/batches", data=form) as response:
        body = await response.json()
        assert response.status == 201, body
        return int(body["data"]["batch_id"])


async def ended(server: RunningServer, batch_id: int) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        async with server.http.get(f"{server.url}/batches/{batch_id}") as response:
            batch: dict[str, Any] = (await response.json())["data"]
        return batch if batch["status"] == "completed" else None

    return await until(done, 120, f"batch {batch_id} to complete")


async def names(page: Page) -> list[str]:
    return await page.locator(".history-name").all_inner_texts()


async def covers_shown(page: Page, count: int) -> list[str]:
    """The blob: URLs of the first `count` pictures, once each has been drawn."""
    pictures = page.locator(".history-thumb img")
    for i in range(count):
        await page.locator(".history-thumb").nth(i).scroll_into_view_if_needed()
        await expect(pictures.nth(i)).to_be_visible(timeout=LONG)
        assert await pictures.nth(i).evaluate("img => img.decode().then(() => img.naturalWidth)")
    sources = [await pictures.nth(i).get_attribute("src") for i in range(count)]
    assert all(src and src.startswith("blob:") for src in sources), sources
    return [str(src) for src in sources]


async def test_jobs_are_searched_by_name_and_renders_listed_with_their_own_urls(
    server: RunningServer, browser: Browser, viewport: str
) -> None:
    width, height = VIEWPORTS[viewport]
    seen = await visit(browser, server.url, width=width, height=height, route="#/history")
    page = seen.page
    await expect(page.get_by_role("heading", name="No jobs yet")).to_be_visible()
    await expect(page.get_by_role("link", name="Start a new job")).to_have_attribute("href", "#/")
    await seen.screenshot(f"history-empty-{viewport}")

    shot, ref = SHOT.read_bytes(), REF.read_bytes()
    scenes = [make_scene(64, 48, seed=i) for i in range(11)]
    rossi = await make_batch(server, "Villa Rossi, scheme A", "preview", [shot, ref])
    office = await make_batch(server, "Office tower lobby", "fake_priced", scenes, variations=2)
    bianchi = await make_batch(server, "villa Bianchi", "preview", [ref])
    batches = [await ended(server, batch_id) for batch_id in (bianchi, office, rossi)]
    single = await server.completed(
        {"type": "preview", "image_base64": base64.b64encode(shot).decode()}
    )

    await page.reload()
    listed = ["villa Bianchi", "Office tower lobby", "Villa Rossi, scheme A"]
    await expect(page.locator(".history-name")).to_have_text(listed)
    before = await covers_shown(page, 3)
    office_card = page.locator(f'li[data-id="{office}"]')
    assert batches[1]["cost"]["charged"] == "44.00"  # 22 renders at 2.00
    await expect(office_card).to_contain_text("11 views \u00d7 2 variations")
    await expect(office_card).to_contain_text("¥44.00")
    await expect(office_card.locator(".history-status")).to_have_text("Done")
    await audit(page, f"history-jobs-{viewport}")
    await seen.screenshot(f"history-jobs-{viewport}")

    await page.get_by_label("Search jobs by name").fill("VILLA")
    await expect(page).to_have_url(re.compile(r"#/history\?q=VILLA$"))
    await expect(page.locator(".history-name")).to_have_text(
        ["villa Bianchi", "Villa Rossi, scheme A"]
    )
    assert await page.evaluate(REVOKED, before[1])  # the office's cover, no longer listed
    assert not await page.evaluate(REVOKED, (await covers_shown(page, 1))[0])  # one listed
    await page.get_by_label("Search jobs by name").fill("rossi")
    await expect(page.locator(".history-name")).to_have_text(["Villa Rossi, scheme A"])
    await page.reload()
    await expect(page.get_by_label("Search jobs by name")).to_have_value("rossi")
    await expect(page.locator(".history-name")).to_have_text(["Villa Rossi, scheme A"])
    await covers_shown(page, 1)
    assert rossi == batches[2]["batch_id"]
    await page.get_by_role("link", name=re.compile("^Villa Rossi, scheme A")).click()
    await expect(page).to_have_url(re.compile(rf"#/batches/{rossi}$"))
    await page.reload()
    await expect(page.get_by_role("heading", name="Villa Rossi, scheme A")).to_be_visible()
    await expect(page.locator(".card img")).to_have_count(2)
    first_view = page.locator(".card img").first  # an 800x600 render, shown 640 wide
    assert await first_view.evaluate("img => img.decode().then(() => img.naturalWidth)") == 640
    assert not [url for url in seen.requests if url.endswith("/image")]  # only on download
    await page.go_back()
    await expect(page.get_by_label("Search jobs by name")).to_have_value("rossi")
    await page.get_by_label("Search jobs by name").fill("no such job")
    await expect(page.get_by_text("No job's name holds “no such job”.")).to_be_visible()

    await page.get_by_role("link", name="All renders").click()
    await expect(page).to_have_url(re.compile(r"#/history\?tab=renders$"))
    await expect(page.locator(".history li")).to_have_count(20)
    await page.get_by_role("button", name="Load more").click()
    await expect(page.locator(".history li")).to_have_count(26)  # 2 + 22 + 1 + the single
    await expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    ids = [
        int(i)
        for i in await page.locator(".history li").evaluate_all(
            "items => items.map(item => item.dataset.id)"
        )
    ]
    assert ids[0] == single["task_id"] and len(set(ids)) == 26
    first = page.locator(".history li").first
    await expect(first.locator(".history-name")).to_have_text("Local tone-matched preview")
    member = page.locator(f'li[data-id="{batches[0]["tasks"][0]["task_id"]}"]')
    await expect(member.locator(".history-name")).to_have_text("villa Bianchi · View 1 · v1")
    [near] = await covers_shown(page, 1)
    assert not await page.evaluate(REVOKED, near)
    await seen.screenshot(f"history-renders-{viewport}")
    await seen.scroll_away(4000)  # every item beyond the 800 px margin
    await expect(page.locator(".history-thumb img").first).not_to_have_attribute("src", near)
    assert await page.evaluate(REVOKED, near)  # out of view: its picture given back
    assert await page.locator(".history-thumb img").first.get_attribute("src") is None
    [again] = await covers_shown(page, 1)  # and asked again on the way back
    assert again != near
    await audit(page, f"history-renders-{viewport}")
    if viewport == "phone":
        assert await seen.no_horizontal_scroll()
    await first.get_by_role("link").click()
    await expect(page).to_have_url(re.compile(rf"#/tasks/{single['task_id']}$"))
    await page.reload()
    used = page.get_by_role("region", name="Settings used")  # the task itself, loaded
    await expect(used).to_contain_text(str(single["seed"]))
    seen.assert_clean()


async def test_a_cjk_titled_app_shows_its_ascii_label(
    settings: Settings, emulator: RunningHubEmulator, browser: Browser, viewport: str
) -> None:
    async with serve(hub_settings(settings, emulator)) as server:
        task_id = await submit(server)  # su_render, whose title is 截图...: no font here
        assert (await server.wait_finished(task_id, 60))["status"] == "completed"
        width, height = VIEWPORTS[viewport]
        route = "#/history?tab=renders"
        seen = await visit(browser, server.url, width=width, height=height, route=route)
        page = seen.page
        item = page.locator(f'li[data-id="{task_id}"]')
        await expect(item.locator(".history-name")).to_have_text("SketchUp screenshot to render")
        await covers_shown(page, 1)
        text = await page.locator("body").inner_text()
        assert CJK.findall(text) == [], text
        await seen.screenshot(f"history-label-{viewport}")
        seen.assert_clean()
