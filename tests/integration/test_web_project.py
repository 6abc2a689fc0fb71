"""The page's New view (#/) in a real browser, at desktop and phone sizes: several views
dropped, reordered, removed and named by angle; a look from a preset card; the app's
settings built from its params and set by keyboard; variations; the price line; Render
sending one ordered batch and opening it; and every refusal in the API's words."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from rendergate.config.settings import Settings
from support.a11y import audit, needs_axe
from support.browser import REF, SHOT, VIEWPORTS, Visit, loaded_width, needs_chromium, visit
from support.server import RunningServer, serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), needs_chromium]

LONG = 60_000  # ms: a loaded 2-core machine runs the suite beside these


async def open_new(browser: Browser, server: RunningServer, viewport: str) -> Visit:
    width, height = VIEWPORTS[viewport]
    seen = await visit(browser, server.url, width=width, height=height)
    await expect(seen.page.get_by_role("heading", name="New job")).to_be_visible()
    return seen


async def get_json(server: RunningServer, path: str) -> tuple[int, Any]:
    async with server.http.get(f"{server.url}{path}") as response:
        return response.status, await response.json()


def named_copies(tmp_path: Path, **sources: Path) -> list[Path]:
    """The sources copied under the given stems (north.jpg, ...), in that order."""
    made = []
    for stem, source in sources.items():
        made.append(tmp_path / f"{stem}{source.suffix}")
        shutil.copyfile(source, made[-1])
    return made


async def view_names(seen: Visit) -> list[str]:
    alts = await seen.page.locator(".views .view img").evaluate_all("imgs => imgs.map(i => i.alt)")
    return [re.sub(r"^View \d+: ", "", alt) for alt in alts]


@needs_axe
async def test_a_job_of_several_views_goes_as_one_ordered_batch(
    server: RunningServer, browser: Browser, viewport: str, tmp_path: Path
) -> None:
    seen = await open_new(browser, server, viewport)
    page = seen.page
    await seen.screenshot(f"project-empty-{viewport}")
    files = named_copies(tmp_path, north=REF, south=SHOT, east=SHOT)
    await seen.drop_files(".stage", files)
    await expect(page.locator(".views .view img")).to_have_count(3)
    assert await view_names(seen) == ["north.jpg", "south.jpg", "east.jpg"]
    await expect(page.get_by_label("Job name")).to_have_value("north")  # the first's stem

    await page.get_by_role("button", name="Move view 1 later").click()
    assert await view_names(seen) == ["south.jpg", "north.jpg", "east.jpg"]
    await page.get_by_label("Angle of view 3").focus()
    await page.keyboard.press("Alt+ArrowLeft")  # the keyboard moves it too, focus with it
    assert await view_names(seen) == ["south.jpg", "east.jpg", "north.jpg"]
    await expect(page.get_by_label("Angle of view 2")).to_be_focused()
    await page.get_by_role("button", name="Remove view 1").click()
    assert await view_names(seen) == ["east.jpg", "north.jpg"]
    await page.get_by_label("Angle of view 2").fill("garden")

    # the look: a preset card with its reference thumbnail, under its label; its app and
    # params follow
    assert await page.locator("label.look .look-name").all_inner_texts() == [
        "None",
        "Clear noon",
        "Dusk",
        "Overcast",
        "Dusk, photoreal",
        "Overcast, photoreal",
        "Warm interior, photoreal",
        "Warm interior",
        "Own reference",
    ]
    dusk = page.locator("label.look", has=page.get_by_text("Dusk", exact=True))
    assert await loaded_width(dusk.locator("img")) > 0
    await dusk.click()
    await expect(page.get_by_label("App", exact=True)).to_have_value("preview")
    strength = page.get_by_label("Tone strength")
    await expect(strength).to_have_value("0.9")
    await strength.focus()
    await page.keyboard.press("End")  # a slider moved by keyboard, its value shown beside it
    await expect(strength).to_have_value("1")
    shown = page.locator(f'output[for="{await strength.get_attribute("id")}"]')
    await expect(shown).to_have_text("1")

    await page.locator("label[for=variations-2]").click()
    await page.get_by_label("Job name").fill("Villa, scheme B")
    await expect(page.locator(".count")).to_have_text("4 renders")
    await seen.screenshot(f"project-filled-{viewport}")
    await audit(page, f"new-{viewport}")
    if viewport == "phone":
        assert await seen.no_horizontal_scroll()
        render = page.get_by_role("button", name="Render", exact=True)
        box = await render.bounding_box()
        assert box is not None and box["y"] + box["height"] <= VIEWPORTS["phone"][1]  # stuck

    answer = await seen.render()
    assert answer.status == 201, await answer.text()
    batch = (await answer.json())["data"]
    await expect(page).to_have_url(re.compile(rf"#/batches/{batch['batch_id']}$"))
    await expect(page.get_by_role("heading", name="Villa, scheme B")).to_be_visible()
    assert [view["angle"] for view in batch["views"]] == ["east", "garden"]
    assert (batch["name"], batch["preset"], batch["variations"]) == ("Villa, scheme B", "dusk", 2)
    assert batch["params"] == {"strength": 1, "smoothing": 0.5}
    assert len(batch["tasks"]) == 4
    seen.assert_clean()


async def test_an_apps_settings_are_controls_set_by_keyboard(
    server: RunningServer, browser: Browser, viewport: str
) -> None:
    """fake_form's params as a slider, a choice and a switch; the JSON box's keys win."""
    seen = await open_new(browser, server, viewport)
    page = seen.page
    await seen.add_views(SHOT)
    await page.get_by_label("App", exact=True).select_option("fake_form")
    steps = page.get_by_label("Steps")
    await expect(steps).to_be_hidden()  # an advanced param: under "Advanced", closed
    await page.get_by_text("Advanced").click()
    await expect(steps).to_have_value("20")
    await expect(page.get_by_text("How many sampling steps")).to_be_visible()
    await steps.focus()
    await page.keyboard.press("End")
    await expect(steps).to_have_value("50")
    mood = page.get_by_label("mood")
    await mood.focus()
    await page.keyboard.press("ArrowDown")
    await expect(mood).to_have_value('"overcast"')
    hdr = page.get_by_role("switch", name="hdr")
    await hdr.focus()
    await page.keyboard.press("Space")
    await expect(hdr).to_be_checked()
    await page.get_by_label("Parameters (JSON)").fill('{"prompt": "brick"}')
    await seen.screenshot(f"project-settings-{viewport}")
    answer = await seen.render()
    assert answer.status == 201, await answer.text()
    batch = (await answer.json())["data"]
    assert batch["params"] == {"steps": 50, "mood": "overcast", "hdr": True, "prompt": "brick"}
    seen.assert_clean()


READS_IN_ORDER = """label => {
    // each word's place on screen; read by line, then left to right, they must say the
    // label's text in its order (laid out as a column per text node, they did not)
    const words = [];
    const walker = document.createTreeWalker(label, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const found of node.data.matchAll(/\\S+/g)) {
            const range = document.createRange();
            range.setStart(node, found.index);
            range.setEnd(node, found.index + found[0].length);
            const box = range.getClientRects()[0];
            words.push({ word: found[0], top: Math.round(box.top), left: box.left });
        }
    }
    const onScreen = [...words].sort((a, b) => a.top - b.top || a.left - b.left);
    return onScreen.map((w) => w.word).join(" ") === words.map((w) => w.word).join(" ");
}"""


async def test_the_price_line_shows_the_quote_before_render(
    server: RunningServer, browser: Browser, viewport: str
) -> None:
    """With GET /quote the line says what the batch will be charged; without one (a
    server before it), the line stays hidden and Render still works."""
    seen = await open_new(browser, server, viewport)
    page = seen.page
    await seen.add_views(SHOT, REF)
    await expect(page.locator(".render-facts .count")).to_have_text("2 renders")
    await expect(page.locator(".price")).to_be_hidden()  # preview is not priced: no line
    each = page.locator("label[for=upscale-each]")  # the upscaler on the app's own provider
    await expect(each).to_have_text("Upscale each result (Upscale (CPU))")
    assert await each.evaluate(READS_IN_ORDER), "the upscale switch's words are out of order"
    await page.get_by_label("App", exact=True).select_option("fake_priced")
    await expect(each).to_have_text(
        "Upscale each result (Scripted fake upscaler charged 0.50 a result)"
    )
    await page.get_by_text("Advanced").click()
    await page.get_by_label("Parameters (JSON)").fill('{"fake": {"polls": 1}}')
    await page.locator("label[for=variations-2]").click()
    status, quote = await get_json(server, "/quote?type=fake_priced&renders=4")
    price = page.locator(".price")
    if status == 404:
        await expect(price).to_be_hidden()
    else:
        assert status == 200, quote
        await expect(price).to_contain_text(f"= ¥{quote['data']['total']}")
    answer = await seen.render()
    assert answer.status == 201, await answer.text()
    batch_id = (await answer.json())["data"]["batch_id"]
    await expect(page.locator(".batch-status")).to_have_text("Done", timeout=LONG)
    _, batch = await get_json(server, f"/batches/{batch_id}")
    assert batch["data"]["cost"]["charged"] == "8.00"  # 4 renders at 2.00
    if status != 404:
        assert batch["data"]["cost"]["charged"] == quote["data"]["total"]
    seen.assert_clean()


async def expect_refusal(seen: Visit, status: int) -> str:
    """Renders; the page must show the API's own message for the refusal."""
    answer = await seen.render()
    assert answer.status == status
    body = await answer.json()
    message = body["msg"] if "msg" in body else body["detail"][0]["msg"]
    alert = seen.page.locator("#create .alert")
    await expect(alert).to_be_visible()
    await expect(alert.locator("strong")).to_contain_text(f"({status})")
    await expect(alert.locator(".msg")).to_have_text(message)
    return str(message)


async def test_every_refusal_shows_the_apis_message(
    settings: Settings, browser: Browser, viewport: str, tmp_path: Path
) -> None:
    limited = settings.model_copy(update={"max_image_pixels": 100_000, "max_in_flight_per_key": 1})
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    async with serve(limited) as server:
        seen = await open_new(browser, server, viewport)
        page = seen.page
        await page.get_by_label("App", exact=True).select_option("fake")
        await seen.add_views(text)
        assert "image" in await expect_refusal(seen, 415)
        await page.get_by_role("button", name="Remove view 1").click()

        await seen.add_views(REF)
        await page.get_by_text("Advanced").click()
        await page.get_by_label("Parameters (JSON)").fill("{not json")
        assert "params" in await expect_refusal(seen, 422)
        await page.get_by_label("Parameters (JSON)").fill("{}")

        await page.get_by_role("button", name="Remove view 1").click()
        await seen.add_views(SHOT)  # 800x600 px: over the limit
        assert "pixels" in await expect_refusal(seen, 413)
        await page.get_by_role("button", name="Remove view 1").click()
        await seen.add_views(REF)

        # an app that cannot run here is offered but not selectable; posted anyway, a 422
        unconfigured = page.locator('#type option[value="su_render"]')
        await expect(unconfigured).to_be_disabled()
        await page.get_by_text("Why some apps cannot run here").click()
        await expect(page.locator("details.hint")).to_contain_text("RENDERGATE_RUNNINGHUB_API_KEY")
        await unconfigured.evaluate("option => { option.disabled = false; }")
        await page.get_by_label("App", exact=True).select_option("su_render")
        assert "runninghub" in await expect_refusal(seen, 422)

        await page.get_by_label("App", exact=True).select_option("fake")
        await page.get_by_text("Advanced").click()
        await page.get_by_label("Parameters (JSON)").fill('{"fake": {"outcome": "hang"}}')
        assert (await seen.render()).status == 201
        await expect(page.locator(".batch-status")).to_be_visible()
        await page.get_by_role("link", name="New", exact=True).click()
        await seen.add_views(REF)
        await page.get_by_label("App", exact=True).select_option("fake")
        answer = await seen.render()  # a limit: the calm panel, not an error (test_web_money)
        assert answer.status == 429
        panel = page.locator("#create .limit-panel")
        await expect(panel.locator(".msg")).to_have_text((await answer.json())["msg"])
        await expect(panel).to_contain_text("Try again in")
        await seen.screenshot(f"refusal-429-{viewport}")
        await page.go_back()
        await page.get_by_role("button", name="Cancel all").click()
        await expect(page.locator(".batch-status")).to_have_text("Canceled")
        seen.assert_clean()


async def test_a_first_visit_renders_the_sample_with_the_built_in_preview(
    server: RunningServer, browser: Browser
) -> None:
    """What a new user meets: Try a sample, Render with the default app (preview, on this
    machine), and the result on the batch's grid, downloadable."""
    seen = await open_new(browser, server, "desktop")
    page = seen.page
    await expect(page.get_by_label("App", exact=True)).to_have_value("preview")
    await page.get_by_role("button", name="Try a sample").click()
    await expect(page.get_by_role("img", name="View 1: sample-view.jpg")).to_be_visible()
    answer = await seen.render()
    assert answer.status == 201, await answer.text()
    await expect(page.locator(".batch-status")).to_have_text("Done", timeout=LONG)
    result = page.get_by_role("img", name="Render of View 1 · v1")
    await expect(result).to_be_visible()
    assert await loaded_width(result) == 640  # the grid's thumbnail
    await expect(page.get_by_role("link", name="Download View 1 · v1")).to_be_visible()
    await seen.screenshot("first-visit-desktop")
    seen.assert_clean()
