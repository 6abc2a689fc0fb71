"""The web page at / in a real browser: Debian's chromium, driven by Playwright, against a
real server whose `fake` app scripts each job. Screenshots go to tests-artifacts/web/."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from rendergate.config.settings import Settings
from rendergate.providers.fake import FakeProvider
from support.browser import REF, SHOT, Visit, chromium, needs_chromium, visit
from support.process import create_api_key
from support.server import RunningServer, serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), needs_chromium]

LONG = 60_000  # ms: a loaded 2-core machine runs the whole suite beside these
RECORD_STATUSES = """() => {
    window.seenStatuses = [];
    new MutationObserver((records) => {
        for (const record of records)
            for (const node of record.addedNodes) window.seenStatuses.push(node.textContent);
    }).observe(document.getElementById("task-status"), { childList: true });
}"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def test_a_render_from_dropped_files_to_the_download(
    server: RunningServer, browser: Browser, tmp_path: Path
) -> None:
    seen = await visit(browser, server.url)
    page = seen.page
    params = {"fake": {"queued": 20, "polls": 20}}
    await seen.fill_form(app="fake", params=params, angle="front")
    await seen.drop_file(".drop:has(#reference)", REF, "image/jpeg")  # dragged in
    await expect(page.get_by_role("img", name="The reference you chose")).to_be_visible()
    await page.evaluate(RECORD_STATUSES)
    answer = await seen.render()
    assert answer.status == 201
    task_id = await seen.task_id()

    await expect(page.locator("#task-status")).to_have_text("Done", timeout=LONG)
    statuses = await page.evaluate("() => window.seenStatuses")
    assert any(re.fullmatch(r"Queued at fake: \d+ ahead in line", s) for s in statuses), statuses
    assert any(re.fullmatch(r"Rendering: ([1-9]|[1-9]\d)%", s) for s in statuses), statuses
    assert await page.locator("#task-progress").evaluate("p => p.value") == 100
    await expect(page.locator("#task-provider")).to_have_text("fake")
    await expect(page.locator("#task-cost")).to_have_text("nothing billed")  # the fake is free

    # the result beside the screenshot, with a slider the keyboard moves
    await expect(page.get_by_role("img", name="Your screenshot (before)")).to_be_visible()
    await page.wait_for_function("() => document.getElementById('after').naturalWidth > 0")
    slider = page.get_by_label("Before / after")
    await slider.focus()
    await page.keyboard.press("Home")
    split = "f => f.style.getPropertyValue('--split')"
    assert await page.locator("#result").evaluate(split) == "0%"
    await page.keyboard.press("End")
    assert await page.locator("#result").evaluate(split) == "100%"

    async with page.expect_download() as downloading:
        await page.get_by_role("link", name="Download the render").click()
    download = await downloading.value
    assert download.suggested_filename == f"{task_id}-0.png"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
        assert saved.read_bytes() == await response.read()

    card = page.locator(f'[data-task-id="{task_id}"]')
    await expect(card).to_contain_text("Done")
    await expect(card).to_contain_text("fake on fake")
    await expect(card.get_by_role("img")).to_be_visible()
    task = await server.get_task(task_id, include_base64="false")
    assert (task["type"], task["angle"], task["params"]) == ("fake", "front", params)
    fake = server.services.providers["fake"]
    assert isinstance(fake, FakeProvider)
    assert sorted(upload.role for upload in fake.uploads) == ["image", "reference"]
    await seen.screenshot("render-desktop")
    seen.assert_clean()


async def test_a_hanging_task_shows_its_progress_and_can_be_canceled(
    server: RunningServer, browser: Browser
) -> None:
    seen = await visit(browser, server.url)
    page = seen.page
    await seen.fill_form(app="fake", params={"fake": {"outcome": "hang"}})
    assert (await seen.render()).status == 201
    task_id = await seen.task_id()
    status = page.locator("#task-status")
    await expect(status).to_have_text(re.compile(r"^Rendering: [1-9]\d?%$"), timeout=LONG)
    card = page.locator(f'[data-task-id="{task_id}"]')
    await expect(card).to_contain_text("Rendering")  # the list follows the task on show
    await seen.screenshot("hanging")

    await page.get_by_role("button", name="Cancel this task").click()
    await expect(status).to_have_text("Canceled")
    await expect(page.get_by_role("button", name="Cancel this task")).to_be_hidden()
    assert (await server.get_task(task_id))["status"] == "canceled"
    await expect(card).to_contain_text("Canceled")
    await expect(page.locator("#result")).to_be_hidden()
    seen.assert_clean()


async def test_without_the_event_stream_the_page_polls(
    server: RunningServer, browser: Browser
) -> None:
    seen = await visit(browser, server.url)
    page = seen.page
    await page.route("**/tasks/*/events", lambda route: route.abort())  # a proxy in the way
    await seen.fill_form(app="fake", params={"fake": {"polls": 3}})
    assert (await seen.render()).status == 201
    task_id = await seen.task_id()
    await expect(page.locator("#task-status")).to_have_text("Done", timeout=LONG)
    await page.wait_for_function("() => document.getElementById('after').naturalWidth > 0")
    streams = [url for url in seen.requests if url.endswith(f"/tasks/{task_id}/events")]
    assert len(streams) == 3  # tried three times, then polled
    assert f"{server.url}/tasks/{task_id}?include_base64=false" in seen.requests
    seen.assert_clean()


async def expect_refusal(seen: Visit, status: int) -> str:
    """Renders; the page must show the API's own message for the refusal."""
    answer = await seen.render()
    assert answer.status == status
    body = await answer.json()
    message = body["msg"] if "msg" in body else body["detail"][0]["msg"]
    alert = seen.page.locator("#create-error")
    await expect(alert).to_be_visible()
    await expect(alert.locator("strong")).to_contain_text(f"({status})")
    await expect(alert.locator(".msg")).to_have_text(message)
    return str(message)


async def test_every_refusal_shows_the_apis_message(
    settings: Settings, browser: Browser, tmp_path: Path
) -> None:
    limited = settings.model_copy(update={"max_image_pixels": 100_000, "max_in_flight_per_key": 1})
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    async with serve(limited) as server:
        seen = await visit(browser, server.url)
        page = seen.page
        await seen.fill_form(app="fake", params={}, image=text)
        assert "image" in await expect_refusal(seen, 415)

        await seen.fill_form(app="fake", params="{not json", image=REF)
        assert "params" in await expect_refusal(seen, 422)

        await seen.fill_form(app="fake", params={}, image=SHOT)  # 800x600 px: over the limit
        assert "pixels" in await expect_refusal(seen, 413)

        # an app that cannot run here is offered but not selectable; posted anyway, a 422
        unconfigured = page.locator('#type option[value="su_render"]')
        await expect(unconfigured).to_be_disabled()
        await page.get_by_text("Why some apps cannot run here").click()
        await expect(page.locator("details")).to_contain_text("RENDERGATE_RUNNINGHUB_API_KEY")
        await unconfigured.evaluate("option => { option.disabled = false; }")
        await seen.fill_form(app="su_render", params={}, image=REF)
        await page.get_by_label("Reference image").set_input_files(REF)
        assert "runninghub" in await expect_refusal(seen, 422)
        await page.get_by_role("button", name="Remove the reference").click()

        await seen.fill_form(app="fake", params={"fake": {"outcome": "hang"}}, image=REF)
        assert (await seen.render()).status == 201
        await expect(page.locator("#create-error")).to_be_hidden()
        await expect_refusal(seen, 429)
        await expect(page.locator("#create-error")).to_contain_text("Try again in")
        await seen.screenshot("refusal-429")
        await page.get_by_role("button", name="Cancel this task").click()
        await expect(page.locator("#task-status")).to_have_text("Canceled")
        seen.assert_clean()


async def test_with_api_keys_the_page_loads_and_sends_the_remembered_key(
    server: RunningServer, browser: Browser, settings: Settings
) -> None:
    key = await asyncio.to_thread(
        create_api_key, settings.data_dir, "web"
    )  # the server runs on this loop
    server.services.keys.refresh()  # read again on the next request, not in 2 s
    async with server.http.get(f"{server.url}/tasks") as response:
        assert response.status == 401  # a key exists: open mode is over
    seen = await visit(browser, server.url)
    page = seen.page
    recent_error = page.locator("#recent-error")
    await expect(recent_error).to_contain_text("(401)")
    await expect(recent_error).to_contain_text("Enter your key")

    await page.get_by_label("API key").fill(key)
    await page.get_by_label("API key").press("Enter")
    await expect(recent_error).to_be_hidden()
    await expect(page.get_by_text("No tasks yet.")).to_be_visible()
    await page.reload()
    await expect(page.get_by_label("API key")).to_have_value(key)  # remembered

    await seen.fill_form(app="fake", params={"fake": {"polls": 3}})
    assert (await seen.render()).status == 201
    task_id = await seen.task_id()
    await expect(page.locator("#task-status")).to_have_text("Done", timeout=LONG)
    await page.wait_for_function("() => document.getElementById('after').naturalWidth > 0")
    await expect(page.locator(f'[data-task-id="{task_id}"]')).to_be_visible()

    await page.get_by_role("button", name="Forget").click()
    await expect(recent_error).to_contain_text("(401)")
    await seen.fill_form(app="fake", params={})
    await expect_refusal(seen, 401)
    assert await page.evaluate("() => localStorage.length") == 0
    seen.assert_clean()


async def test_on_a_phone_the_form_fits_and_works_from_the_keyboard(
    server: RunningServer, browser: Browser
) -> None:
    seen = await visit(browser, server.url, width=390, height=844)
    page = seen.page
    assert await seen.no_horizontal_scroll()
    for control in ("#image", "#reference", "#type", "#angle", "#params-json", "#api-key"):
        box = await page.locator(control).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, control
    await seen.fill_form(app="fake", params={"fake": {"polls": 2}})
    await page.get_by_label("Parameters").focus()
    await page.keyboard.press("Tab")
    button = page.get_by_role("button", name="Render", exact=True)
    await expect(button).to_be_focused()
    assert await button.evaluate("b => getComputedStyle(b).outlineStyle") == "solid"
    await page.keyboard.press("Enter")
    await expect(page.locator("#task-status")).to_have_text("Done", timeout=LONG)
    await page.wait_for_function("() => document.getElementById('after').naturalWidth > 0")
    await expect(page.get_by_role("link", name="Download the render")).to_be_visible()
    assert await seen.no_horizontal_scroll()
    await seen.screenshot("phone")
    seen.assert_clean()


async def test_recent_tasks_page_with_thumbnails_and_open_on_click(
    server: RunningServer, browser: Browser
) -> None:
    ids = []
    for _ in range(12):
        with SHOT.open("rb") as image:
            form = {"type": "fake", "params": json.dumps({"fake": {"polls": 1}}), "image": image}
            async with server.http.post(f"{server.url}/tasks", data=form) as response:
                assert response.status == 201, await response.text()
                ids.append((await response.json())["data"]["task_id"])
    for task_id in ids:
        await server.wait_finished(task_id)

    seen = await visit(browser, server.url)
    page = seen.page
    cards = page.locator(".task-card")
    await expect(cards).to_have_count(10)
    await expect(cards.first).to_contain_text(str(ids[-1]))  # newest first
    await expect(page.locator(".task-card img")).to_have_count(10)
    await page.get_by_role("button", name="Load more").click()
    await expect(cards).to_have_count(12)
    await expect(page.get_by_role("button", name="Load more")).to_be_hidden()

    await page.get_by_role("button", name=f"Open task {ids[0]}").click()
    await expect(page.locator("#task-id")).to_have_text(str(ids[0]))
    await expect(page.locator("#task-status")).to_have_text("Done")
    await expect(page.locator("#result")).to_be_visible()
    await expect(page.get_by_label("Before / after")).to_be_hidden()  # no screenshot here
    await expect(cards).to_have_count(12)  # opening a finished task keeps the list as it is
    await seen.screenshot("recent")
    seen.assert_clean()


async def test_the_api_docs_render_under_their_content_security_policy(
    server: RunningServer, browser: Browser
) -> None:
    """/docs allows only its own inline script by hash: Swagger UI must still run there, with
    no violation logged, nothing asked of another host, and no frame allowed."""
    seen = await visit(browser, server.url)
    answer = await seen.page.goto(f"{server.url}/docs")
    assert answer is not None and answer.status == 200
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    await expect(seen.page.locator(".swagger-ui .info .title")).to_contain_text("rendergate")
    await expect(seen.page.locator(".opblock-summary-path").first).to_be_visible()
    seen.assert_clean()


async def test_an_apps_form_is_built_from_its_declared_params(
    server: RunningServer, browser: Browser
) -> None:
    """preview's settings as sliders with their defaults; the JSON box's keys win."""
    seen = await visit(browser, server.url)
    page = seen.page
    await page.get_by_label("App", exact=True).select_option("preview")
    strength = page.get_by_label("Tone strength")
    await expect(strength).to_be_visible()
    assert await strength.input_value() == "0.8"
    await expect(page.locator('fieldset.params[data-app="fake_form"]')).to_be_hidden()
    await strength.fill("0.3")
    await expect(page.locator(f'output[for="{await strength.get_attribute("id")}"]')).to_have_text(
        "0.3"
    )
    await page.get_by_label("SketchUp screenshot").set_input_files(SHOT)
    answer = await seen.render()
    assert answer.status == 201, await answer.text()
    task = (await answer.json())["data"]
    assert task["params"] == {"strength": 0.3, "smoothing": 0.5}
    await page.get_by_label("App", exact=True).select_option("fake_form")
    await expect(page.locator('fieldset.params[data-app="preview"]')).to_be_hidden()
    await page.get_by_label("Parameters").fill('{"steps": 12}')
    answer = await seen.render()
    assert answer.status == 201, await answer.text()
    sent = (await answer.json())["data"]["params"]
    assert sent == {"steps": 12, "mood": "dusk", "hdr": False}, sent


async def test_the_page_shows_the_keys_month_in_money(
    server: RunningServer, browser: Browser
) -> None:
    """A render at the app's price (fake_priced: 2.00) shows in "This month" as money."""
    seen = await visit(browser, server.url)
    page = seen.page
    await expect(page.locator("#month")).to_have_text("This month: no renders")
    await seen.fill_form(app="fake_priced", params={"fake": {"polls": 1}})
    answer = await seen.render()
    assert answer.status == 201, await answer.text()
    await expect(page.locator("#task-status")).to_have_text("Done", timeout=LONG)
    await expect(page.locator("#month")).to_have_text(
        "This month: 1 render, ¥2.00 charged", timeout=LONG
    )
    await expect(page.locator("#task-cost")).to_have_text("nothing billed; charged ¥2.00")
    seen.assert_clean()
