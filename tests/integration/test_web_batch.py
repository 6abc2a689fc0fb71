"""The page's batch view (#/batches/{id}) in a real browser, at desktop and phone sizes: a
card per view and variation filling in from the batch's event stream (queue place,
progress, elapsed time), the results shown and downloadable, cancel one or all, retry the
failed, polling when the stream is cut, and on a phone the first result scrolled into view."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from support.a11y import audit, needs_axe
from support.browser import REF, SHOT, VIEWPORTS, Visit, loaded_width, needs_chromium, visit
from support.server import RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240), needs_chromium]

LONG = 90_000  # ms: a loaded 2-core machine runs the suite beside these
# Every text a card's status and clock show, from before Render (the grid replaces the New
# view in the same document): a state the page showed briefly is still seen, however slow
# the test's own steps are on a loaded machine.
RECORD = """() => {
    window.seen = [];
    new MutationObserver(() => {
        for (const node of document.querySelectorAll(".card-status, .card-clock"))
            window.seen.push(node.className + "|" + node.textContent);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""


IN_VIEW = """card => { const box = card.getBoundingClientRect();
    return box.top >= 0 && box.bottom <= window.innerHeight; }"""


async def start_batch(
    browser: Browser,
    server: RunningServer,
    viewport: str,
    script: dict[str, Any],
    *,
    views: tuple[Path, ...] = (SHOT, REF),
    variations: int = 2,
) -> tuple[Visit, int]:
    """A batch of the `fake` app made from the New view; the page on its grid."""
    width, height = VIEWPORTS[viewport]
    seen = await visit(browser, server.url, width=width, height=height)
    page = seen.page
    await seen.add_views(*views)
    await page.get_by_label("App", exact=True).select_option("fake")
    await page.get_by_text("Advanced").click()
    await page.get_by_label("Parameters (JSON)").fill(json.dumps({"fake": script}))
    await page.locator(f"label[for=variations-{variations}]").click()
    await page.evaluate(RECORD)
    answer = await seen.render()
    assert answer.status == 201, await answer.text()
    batch_id = int((await answer.json())["data"]["batch_id"])
    await expect(page).to_have_url(re.compile(rf"#/batches/{batch_id}$"))
    await expect(page.locator(".card")).to_have_count(len(views) * variations)
    return seen, batch_id


@needs_axe
async def test_the_grid_fills_in_as_members_finish(
    server: RunningServer, browser: Browser, viewport: str, tmp_path: Path
) -> None:
    views = (SHOT, REF) if viewport == "desktop" else (SHOT, REF, SHOT, REF)  # a long page
    script = {"queued": 20, "polls": 20}
    seen, batch_id = await start_batch(browser, server, viewport, script, views=views)
    page = seen.page
    await seen.screenshot(f"batch-running-{viewport}")
    if viewport == "phone":  # every card out of view, moved by the page, not by the user
        await seen.scroll_away()
    names = await page.locator(".card h3").all_inner_texts()
    if viewport == "phone":
        assert not any([await card.evaluate(IN_VIEW) for card in await page.locator(".card").all()])
    assert names[:4] == ["View 1 · v1", "View 1 · v2", "View 2 · v1", "View 2 · v2"]
    await expect(page.locator(".batch-status")).to_have_text("Done", timeout=LONG)
    await expect(page.locator(".card img")).to_have_count(2 * len(views))
    seen_texts: list[str] = await page.evaluate("() => window.seen")
    statuses = [text.split("|", 1)[1] for text in seen_texts if text.startswith("card-status")]
    clocks = {text.split("|", 1)[1] for text in seen_texts if text.startswith("card-clock")}
    assert any(re.fullmatch(r"Queued: (\d+ ahead|next in line)", s) for s in statuses), statuses
    assert any(re.fullmatch(r"Rendering ([1-9]|[1-9]\d)%", s) for s in statuses), statuses
    assert len({c for c in clocks if re.fullmatch(r"\d+:\d\d", c)}) >= 2, clocks  # it ticks
    if viewport == "phone":  # before a full-page screenshot, which scrolls
        assert await seen.no_horizontal_scroll()
        async with server.http.get(f"{server.url}/batches/{batch_id}") as response:
            tasks = (await response.json())["data"]["tasks"]
        earliest = min(tasks, key=lambda task: str(task["finished_at"]))["task_id"]
        first = page.locator(f'.card[data-task-id="{earliest}"]')  # scrolled to when done
        assert await first.evaluate(IN_VIEW)
    await expect(page.locator(".batch-facts")).to_contain_text(f"{2 * len(views)} done")
    for image in await page.locator(".card img").all():
        assert await loaded_width(image) > 0

    card = page.locator(".card").first
    task_id = await card.get_attribute("data-task-id")
    async with page.expect_download() as downloading:
        await card.get_by_role("link", name="Download View 1 · v1").click()
    download = await downloading.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
        assert saved.read_bytes() == await response.read()
    await seen.screenshot(f"batch-done-{viewport}")
    await audit(page, f"batch-done-{viewport}")
    seen.assert_clean()


async def test_one_member_or_all_can_be_canceled(
    server: RunningServer, browser: Browser, viewport: str
) -> None:
    seen, batch_id = await start_batch(
        browser, server, viewport, {"outcome": "hang"}, views=(SHOT,), variations=2
    )
    page = seen.page
    first = page.locator(".card").first
    await expect(first.locator(".card-status")).to_have_text(
        re.compile(r"^Rendering [1-9]\d?%$"), timeout=LONG
    )
    await first.get_by_role("button", name="Cancel View 1 · v1").click()
    await expect(first.locator(".card-status")).to_have_text("Canceled")
    await expect(first.get_by_role("button", name="Cancel View 1 · v1")).to_be_hidden()
    second = page.locator(".card").nth(1)
    await expect(second.locator(".card-status")).to_contain_text("Rendering")
    await page.get_by_role("button", name="Cancel all").click()
    await expect(page.locator(".batch-status")).to_have_text("Canceled", timeout=LONG)
    await expect(second.locator(".card-status")).to_have_text("Canceled")
    await expect(page.get_by_role("button", name="Cancel all")).to_be_hidden()
    async with server.http.get(f"{server.url}/batches/{batch_id}") as response:
        batch = (await response.json())["data"]
    assert batch["status"] == "canceled"
    assert [task["status"] for task in batch["tasks"]] == ["canceled", "canceled"]
    await seen.screenshot(f"batch-canceled-{viewport}")
    seen.assert_clean()


async def test_failed_members_are_retried_once_the_batch_has_ended(
    server: RunningServer, browser: Browser, viewport: str
) -> None:
    script = {"polls": 1, "outcome": "fail", "error": "the model refused"}
    seen, batch_id = await start_batch(browser, server, viewport, script, views=(SHOT,))
    page = seen.page
    retry = page.get_by_role("button", name="Retry failed")
    await expect(page.locator(".batch-status")).to_have_text("Failed", timeout=LONG)
    await expect(page.locator(".card-message").first).to_contain_text("the model refused")
    before = await page.locator(".card").evaluate_all("cards => cards.map(c => c.dataset.taskId)")
    async with page.expect_response(
        lambda r: r.url.endswith(f"/batches/{batch_id}/retry") and r.request.method == "POST"
    ) as answer:
        await retry.click()
    assert (await answer.value).status == 200
    for i, task_id in enumerate(before):  # each card now follows its retry
        card = page.locator(".card").nth(i)
        await expect(card).not_to_have_attribute("data-task-id", str(task_id))
    await expect(page.locator(".batch-status")).to_have_text("Failed", timeout=LONG)
    await expect(retry).to_be_visible()
    after = await page.locator(".card").evaluate_all("cards => cards.map(c => c.dataset.taskId)")
    assert len(after) == 2 and set(after).isdisjoint(before)  # each ran again, in place
    await seen.screenshot(f"batch-failed-{viewport}")
    seen.assert_clean()


async def test_without_the_event_stream_the_grid_polls(
    server: RunningServer, browser: Browser
) -> None:
    width, height = VIEWPORTS["desktop"]
    seen = await visit(browser, server.url, width=width, height=height)
    await seen.page.route("**/batches/*/events", lambda route: route.abort())  # a proxy
    seen, batch_id = await start_batch_on(seen, {"polls": 3})
    page = seen.page
    await expect(page.locator(".batch-status")).to_have_text("Done", timeout=LONG)
    await expect(page.locator(".card img")).to_have_count(2)
    streams = [url for url in seen.requests if url.endswith(f"/batches/{batch_id}/events")]
    assert len(streams) == 3  # tried three times, then polled
    polls = [url for url in seen.requests if url == f"{server.url}/batches/{batch_id}"]
    assert len(polls) >= 2
    seen.assert_clean()


async def start_batch_on(seen: Visit, script: dict[str, Any]) -> tuple[Visit, int]:
    page = seen.page
    await seen.add_views(SHOT, REF)
    await page.get_by_label("App", exact=True).select_option("fake")
    await page.get_by_text("Advanced").click()
    await page.get_by_label("Parameters (JSON)").fill(json.dumps({"fake": script}))
    answer = await seen.render()
    assert answer.status == 201, await answer.text()
    return seen, int((await answer.json())["data"]["batch_id"])


async def test_after_the_user_scrolled_a_toast_offers_the_first_result(
    server: RunningServer, browser: Browser
) -> None:
    """On a phone, a user who scrolled keeps their place: the first result is offered in a
    toast, and Show brings it into view."""
    script = {"queued": 3, "polls": 3}
    views = (SHOT, REF, SHOT, REF)
    seen, _ = await start_batch(browser, server, "phone", script, views=views)
    page = seen.page
    await seen.scroll_away()  # every card out of view, whichever finishes first
    await page.mouse.wheel(0, -200)  # the user's own scroll, still below every card
    toast = page.locator(".toast")
    await expect(toast).to_contain_text(re.compile(r"^View \d · v\d done"), timeout=LONG)
    name = (await toast.inner_text()).split(" done")[0]
    card = page.get_by_role("article", name=name)
    assert not await card.evaluate(IN_VIEW)  # the page left the user where they were
    await toast.get_by_role("button", name="Show").click()
    assert await card.evaluate(IN_VIEW)
    await expect(toast).to_be_hidden()
    seen.assert_clean()
