"""Choosing in a real browser, at desktop and phone sizes: a view's variations side by side
(zoomed and panned together, full screen), each over its screenshot (the before/after
slider, by keyboard), kept (the marks read back from the API), the kept ones upscaled, one
re-run with a changed setting (its params read back), downloads equal to the API's; and one
task's own page (#/tasks/{id}) followed live to its end, with its settings, price and
lineage. Each view is audited with axe."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Download, Page, expect

from support.a11y import audit, needs_axe
from support.browser import SHOT, VIEWPORTS, loaded_width, needs_chromium, visit
from support.server import RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), needs_chromium, needs_axe]

LONG = 90_000  # ms: a loaded 2-core machine runs the suite beside these
ENDED = {"completed", "partial", "failed", "canceled"}
TRANSFORMS = "imgs => imgs.map(img => getComputedStyle(img).transform)"


async def api(server: RunningServer, method: str, path: str, **kwargs: Any) -> Any:
    async with server.http.request(method, f"{server.url}{path}", **kwargs) as response:
        body = await response.json()
        assert response.status < 300, body
        return body["data"]


async def raw(server: RunningServer, path: str) -> bytes:
    async with server.http.get(f"{server.url}{path}") as response:
        assert response.status == 200, await response.text()
        return await response.read()


async def settled(server: RunningServer, path: str, done: set[str], seconds: float = 90) -> Any:
    """GET `path` until its status is one of `done`, within `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        data = await api(server, "GET", path)
        if data["status"] in done:
            return data
        assert time.monotonic() < deadline, f"{path} still {data['status']}"
        await asyncio.sleep(0.2)


async def preview_batch(server: RunningServer, variations: int = 3) -> dict[str, Any]:
    """A finished batch of one view of the local `preview` app (real images)."""
    form = aiohttp.FormData()
    form.add_field("image", SHOT.read_bytes(), filename="front.jpg", content_type="image/jpeg")
    form.add_field("angle", "front")
    form.add_field("type", "preview")
    form.add_field("variations", str(variations))
    form.add_field("name", "Villa, scheme B")
    batch = await api(server, "POST", "/batches", data=form)
    return await settled(server, f"/batches/{batch['batch_id']}", ENDED)


async def saved(download: Download, tmp_path: Path) -> bytes:
    path = tmp_path / download.suggested_filename
    await download.save_as(path)
    return path.read_bytes()


def names(data: bytes) -> list[str]:
    return sorted(zipfile.ZipFile(io.BytesIO(data)).namelist())


async def download_of(page: Page, button: Any, tmp_path: Path) -> bytes:
    async with page.expect_download() as downloading:
        await button.click()
    return await saved(await downloading.value, tmp_path)


async def test_a_view_is_compared_kept_upscaled_rerun_and_downloaded(
    server: RunningServer, browser: Browser, viewport: str, tmp_path: Path
) -> None:
    batch = await preview_batch(server)
    assert batch["status"] == "completed"
    batch_id = batch["batch_id"]
    v1, v2, v3 = [task["task_id"] for task in batch["tasks"]]
    width, height = VIEWPORTS[viewport]
    seen = await visit(
        browser, server.url, width=width, height=height, route=f"#/batches/{batch_id}/views/1"
    )
    page = seen.page
    panes = page.locator(".cmp-stage .pane")
    await expect(panes).to_have_count(3)
    await expect(page.locator("h1")).to_have_text("Villa, scheme B · View 1 · front")
    for image in await page.locator(".cmp-stage img").all():
        assert await loaded_width(image) == 800
    assert await page.locator(".pane figcaption strong").all_inner_texts() == [
        "View 1 · v1",
        "View 1 · v2",
        "View 1 · v3",
    ]
    await audit(page, f"compare-{viewport}")
    await seen.screenshot(f"choose-side-{viewport}")
    # the toolbar: above the panes on a desktop, a bar at the foot of a phone's screen
    bar = await page.get_by_role("toolbar", name="Compare").bounding_box()
    stage = await page.locator(".cmp-stage").bounding_box()
    assert bar is not None and stage is not None
    if viewport == "desktop":
        assert bar["y"] + bar["height"] <= stage["y"]
    else:
        assert round(bar["y"] + bar["height"]) == height

    # zoom: every pane at once, then a drag on one pans them all
    await page.get_by_role("button", name="Zoom in").click()
    await page.get_by_role("button", name="Zoom in").click()
    await expect(page.locator(".zoom-level")).to_have_text("200%")
    imgs = page.locator(".cmp-stage img.zoomed")
    transforms = await imgs.evaluate_all(TRANSFORMS)
    assert transforms == ["matrix(2, 0, 0, 2, 0, 0)"] * 3
    box = await page.locator(".cmp-stage .viewport").first.bounding_box()
    assert box is not None
    middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.move(*middle)
    await page.mouse.down()
    await page.mouse.move(middle[0] + 30, middle[1] + 10, steps=3)
    await page.mouse.up()
    assert await imgs.evaluate_all(TRANSFORMS) == ["matrix(2, 0, 0, 2, 30, 10)"] * 3
    await page.keyboard.press("0")  # the page's key for Fit
    await expect(page.locator(".zoom-level")).to_have_text("100%")

    # full screen: the toolbar and the stage
    await page.get_by_role("button", name="Full screen").click()
    await page.wait_for_function("() => document.fullscreenElement?.className === 'theatre'")
    await seen.screenshot(f"choose-fullscreen-{viewport}")
    await page.get_by_role("button", name="Exit full screen").click()
    await page.wait_for_function("() => document.fullscreenElement === null")

    # before/after: the first over its screenshot, moved by keyboard
    await page.get_by_role("button", name="Before/after").click()
    await expect(panes).to_have_count(1)
    slider = page.get_by_role("slider", name=re.compile(r"screenshot shows over View 1 · v1$"))
    before = page.locator(".ba-before img")
    assert await loaded_width(before) == 800  # GET /tasks/{id}/input
    split = page.locator(".ba")
    await slider.focus()
    for key, value in (("Home", "0"), ("End", "100"), ("ArrowLeft", "99"), ("ArrowLeft", "98")):
        await page.keyboard.press(key)
        await expect(slider).to_have_value(value)
        assert await split.evaluate("b => b.style.getPropertyValue('--split')") == f"{value}%"
    await audit(page, f"compare-slider-{viewport}")
    await seen.screenshot(f"choose-slider-{viewport}")
    await page.get_by_role("button", name="Side by side").click()
    await expect(panes).to_have_count(3)

    # keep two: one by its button, one by K on its pane
    await page.get_by_role("button", name="Keep View 1 · v1").click()
    await expect(page.get_by_role("button", name="Keep View 1 · v1")).to_have_attribute(
        "aria-pressed", "true"
    )
    await page.get_by_role("button", name="Download View 1 · v2").focus()
    await page.keyboard.press("k")
    await expect(page.get_by_role("button", name="Keep View 1 · v2")).to_have_attribute(
        "aria-pressed", "true"
    )
    members = (await api(server, "GET", f"/batches/{batch_id}"))["tasks"]
    kept = {task["task_id"]: task["kept"] for task in members}
    assert kept == {v1: True, v2: True, v3: False}
    await expect(page.locator(".thumb-kept", has_text="Kept")).to_have_count(2)

    # one download equals the API's bytes
    one = await download_of(page, page.get_by_role("button", name="Download View 1 · v3"), tmp_path)
    assert one == await raw(server, f"/tasks/{v3}/image")

    # upscale the kept ones: priced as GET /quote says, two steps made in the batch
    upscaler = page.get_by_label("Upscaler")
    await expect(upscaler).to_have_value("upscale")  # preview's provider (local) upscales too
    await upscaler.select_option("fake_upscale")
    upscale = page.get_by_role("button", name=re.compile(r"^Upscale kept"))
    await expect(upscale).to_have_text("Upscale kept (¥1.00)")
    await upscale.click()
    await expect(page.locator(".filmstrip .thumb")).to_have_count(5)
    after = await settled(server, f"/batches/{batch_id}", ENDED)
    steps = [t for t in after["tasks"] if t["parent_task_id"] is not None]
    assert sorted(t["parent_task_id"] for t in steps) == sorted([v1, v2])
    assert {t["type"] for t in steps} == {"fake_upscale"}
    for step in steps:
        thumb = page.locator(f'.filmstrip .thumb[data-task-id="{step["task_id"]}"] img')
        assert await loaded_width(thumb, LONG) > 0

    # re-run v3 with a changed setting
    await page.get_by_role("button", name="Re-run View 1 · v3").click()
    smoothing = page.locator(".rerun").get_by_label(re.compile(r"^Smoothing"))
    await expect(smoothing).to_have_value("0.5")
    await smoothing.focus()
    await page.keyboard.press("ArrowRight")
    await expect(smoothing).to_have_value("0.55")
    async with page.expect_response(lambda r: r.url.endswith(f"/tasks/{v3}/rerun")) as answer:
        await page.get_by_role("button", name="Run again").click()
    assert (await answer.value).status == 201
    rerun_id = (await (await answer.value).json())["data"]["task_id"]
    rerun = await settled(server, f"/tasks/{rerun_id}?include_base64=false", ENDED)
    original = next(t for t in batch["tasks"] if t["task_id"] == v3)
    assert rerun["status"] == "completed"
    assert rerun["params"] == {**original["params"], "smoothing": 0.55}
    assert (rerun["rerun_of"], rerun["seed"]) == (v3, original["seed"])
    rerun_pane = page.locator(f'.pane[data-task-id="{rerun_id}"]')
    await expect(rerun_pane.locator("strong")).to_have_text("View 1 · v3 · re-run 1")
    assert await loaded_width(rerun_pane.locator("img"), LONG) > 0
    await expect(page.locator(".filmstrip .thumb")).to_have_count(6)
    await seen.screenshot(f"choose-rerun-{viewport}")

    # the kept ones and all, as zips equal to the API's
    kept_button = page.get_by_role("button", name="Download kept (2)")
    kept_zip = await download_of(page, kept_button, tmp_path)
    api_kept = names(await raw(server, f"/batches/{batch_id}/archive?kept=true"))
    assert names(kept_zip) == api_kept
    assert api_kept == [
        "view01_front_v1.png",
        "view01_front_v1_fake_upscale.png",
        "view01_front_v2.png",
        "view01_front_v2_fake_upscale.png",
    ]
    all_zip = await download_of(page, page.get_by_role("button", name="Download all"), tmp_path)
    assert names(all_zip) == names(await raw(server, f"/batches/{batch_id}/archive"))
    assert len(names(all_zip)) == 5

    # the batch grid shows the marks, and each card links to its view
    await page.goto(f"{server.url}/#/batches/{batch_id}")
    await expect(page.locator(".card-kept:visible")).to_have_count(2)
    link = page.get_by_role("link", name="Compare view 1: View 1 · v3")
    await link.click()
    await expect(page).to_have_url(re.compile(rf"#/batches/{batch_id}/views/1$"))
    await expect(panes).to_have_count(3)  # the re-run is in the filmstrip, found again
    await expect(page.locator(".filmstrip .thumb")).to_have_count(6)
    if viewport == "phone":
        assert await seen.no_horizontal_scroll()
    seen.assert_clean()


async def create_task(server: RunningServer, app: str, params: dict[str, Any]) -> int:
    form = aiohttp.FormData()
    form.add_field("image", SHOT.read_bytes(), filename="front.jpg", content_type="image/jpeg")
    form.add_field("type", app)
    form.add_field("params", json.dumps(params))
    return int((await api(server, "POST", "/tasks", data=form))["task_id"])


async def test_a_task_is_followed_to_its_end_and_shows_settings_price_and_lineage(
    server: RunningServer, browser: Browser, viewport: str
) -> None:
    running = await create_task(server, "fake", {"fake": {"polls": 150}})
    width, height = VIEWPORTS[viewport]
    seen = await visit(browser, server.url, width=width, height=height, route="#/history")
    page = seen.page
    async with page.expect_response(
        lambda r: r.url == f"{server.url}/tasks/{running}?include_base64=false"
    ) as first:
        await page.evaluate(f"() => location.hash = '#/tasks/{running}'")
    opened = (await (await first.value).json())["data"]
    assert opened["status"] not in ENDED  # it was running when the page opened it
    status = page.locator(".task-status")
    await expect(status).to_have_text(re.compile(r"^(Waiting|Queued|Rendering)"))
    await seen.screenshot(f"task-running-{viewport}")
    await expect(status).to_have_text("Done", timeout=LONG)  # no reload: followed live
    assert f"{server.url}/tasks/{running}/events" in seen.requests  # by its stream
    assert await loaded_width(page.locator(".ba-before img")) > 0

    params = {"steps": 25, "mood": "overcast", "hdr": True}
    task_id = await create_task(server, "fake_form", params)
    done = await settled(server, f"/tasks/{task_id}?include_base64=false", ENDED)
    await page.evaluate(f"() => location.hash = '#/tasks/{task_id}'")
    await expect(page.locator("h1")).to_have_text("Fake with a form")
    await expect(status).to_have_text("Done")
    facts = page.locator(".facts")
    terms = await facts.locator("dt").all_inner_texts()
    values = await facts.locator("dd").all_inner_texts()
    shown = dict(zip(terms, values, strict=True))
    assert shown == {
        "App": "Fake with a form (fake_form)",
        "Look": "none",
        "Seed": str(done["seed"]),
        "Steps": "25",  # under its label
        "mood": "Overcast sky",  # a choice under its choice's label
        "hdr": "on",
    }
    assert await page.locator(".task-price").inner_text() == "cost ¥0.00"  # fake: free

    slider = page.get_by_role("slider", name=re.compile(r"^Before and after"))
    before = page.locator(".ba-before img")
    assert await loaded_width(before) == 800  # GET /tasks/{id}/input
    await slider.focus()
    await page.keyboard.press("Home")
    await expect(slider).to_have_value("0")
    await page.keyboard.press("End")
    await expect(slider).to_have_value("100")
    await expect(page.locator(".lineage")).to_contain_text("Made on its own")
    await audit(page, f"task-{viewport}")
    await seen.screenshot(f"task-done-{viewport}")

    # a re-run: its original's lineage lists it, and its own names the original
    rerun = await api(server, "POST", f"/tasks/{task_id}/rerun", json={"params": {"steps": 30}})
    await page.reload()
    link = page.get_by_role("link", name=re.compile(rf"^Re-run 1: task {rerun['task_id']}"))
    await link.click()
    await expect(page).to_have_url(re.compile(rf"#/tasks/{rerun['task_id']}$"))
    await expect(page.get_by_role("link", name=f"A re-run of task {task_id}")).to_be_visible()
    if viewport == "phone":
        assert await seen.no_horizontal_scroll()
    seen.assert_clean()
