"""A share link's page in a real browser (Debian's chromium, Playwright), at desktop and
phone widths: made through the API by a key, opened in a fresh context that has no key,
it shows the batch's name and only its kept result, large; the result opens full screen,
and downloads, one and all, give the stored bytes. Screenshots go to tests-artifacts/web/."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from test_picks import call
from test_presets import add_key
from test_shares import finished_batch

from rendergate.config.settings import Settings
from support.a11y import audit, needs_axe
from support.browser import SHOT, chromium, loaded_width, needs_chromium, visit
from support.server import RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), needs_chromium]
VIEW = base64.b64encode(SHOT.read_bytes()).decode()
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@needs_axe
@pytest.mark.parametrize("size", SIZES)
async def test_a_share_opens_with_no_key_and_downloads_its_kept_result(
    settings: Settings, server: RunningServer, browser: Browser, size: str, tmp_path: Path
) -> None:
    owner = await add_key(settings, server, "architect")
    views = [{"image_base64": VIEW, "angle": "front"}, {"image_base64": VIEW, "angle": "side"}]
    batch = await finished_batch(server, owner, views=views, type="preview", params={})
    kept = next(t["task_id"] for t in batch["tasks"] if t["view"] == 1)
    assert (await call(server, "PUT", f"/tasks/{kept}/kept", owner))[0] == 200
    status, made = await call(server, "POST", f"/batches/{batch['batch_id']}/shares", owner)
    assert status == 201, made
    async with server.http.get(f"{server.url}/tasks/{kept}/image", headers=owner) as got:
        stored = await got.read()

    width, height = SIZES[size]
    seen = await visit(browser, server.url, width=width, height=height)  # a fresh context
    page = seen.page
    assert await page.evaluate("() => Object.keys(localStorage).length") == 0  # no key
    response = await page.goto(made["data"]["url"])
    assert response is not None and response.status == 200
    await expect(page.get_by_role("heading", level=1)).to_have_text("Villa, scheme B")
    images = page.locator(".share-results img")
    await expect(images).to_have_count(1)  # the kept result only
    await expect(images).to_have_attribute("alt", "View 2 · side · variation 1")
    assert await loaded_width(images) == 800
    assert await seen.no_horizontal_scroll()
    await seen.screenshot(f"share-{size}")
    await audit(page, f"share-page-{size}")

    await page.get_by_role("link", name="View 2 · side · variation 1: view large").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("img")).to_have_js_property("naturalWidth", 800)
    await seen.screenshot(f"share-{size}-large")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()

    async with page.expect_download() as one:
        await page.get_by_role("link", name="Download View 2 · side · variation 1").click()
    download = await one.value
    assert download.suggested_filename == "view02_side_v1.png"
    assert Path(await download.path()).read_bytes() == stored
    async with page.expect_download() as every:
        await page.get_by_role("link", name="Download all (zip)").click()
    zipped = zipfile.ZipFile(io.BytesIO(Path(await (await every.value).path()).read_bytes()))
    assert zipped.namelist() == ["view02_side_v1.png"]
    assert zipped.read("view02_side_v1.png") == stored
    seen.assert_clean()
