"""The owner's share dialog on the batch view, in a real browser at desktop and phone
sizes: Share… makes a link that lasts the days asked and shows only the kept results; the
link is shown once and copied; the list shows it with its expiry, the same as GET
/batches/{id}/shares; it opens with no key in a fresh context; revoked, it opens nothing."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta

import pytest
from playwright.async_api import Browser, expect
from test_picks import call
from test_shares import finished_batch

from support.a11y import audit, needs_axe
from support.browser import SHOT, VIEWPORTS, needs_chromium, visit
from support.server import RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240), needs_chromium, needs_axe]
VIEW = base64.b64encode(SHOT.read_bytes()).decode()


async def test_the_owner_makes_copies_lists_and_revokes_a_link(
    server: RunningServer, browser: Browser, viewport: str
) -> None:
    views = [{"image_base64": VIEW, "angle": "front"}, {"image_base64": VIEW, "angle": "side"}]
    batch = await finished_batch(server, {}, views=views, type="preview", params={})
    batch_id = batch["batch_id"]
    kept = next(t["task_id"] for t in batch["tasks"] if t["view"] == 1)
    assert (await call(server, "PUT", f"/tasks/{kept}/kept"))[0] == 200
    width, height = VIEWPORTS[viewport]
    seen = await visit(
        browser, server.url, width=width, height=height, route=f"#/batches/{batch_id}"
    )
    page = seen.page
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.get_by_role("button", name="Share…").click()
    dialog = page.get_by_role("dialog", name="Share this batch")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator(".share-list")).to_have_text("None yet.")
    await dialog.get_by_label("Expires after (days)").fill("3")
    await expect(dialog.get_by_label("Kept results only")).to_be_checked()
    async with page.expect_response(
        lambda r: r.url.endswith(f"/batches/{batch_id}/shares") and r.request.method == "POST"
    ) as answer:
        await dialog.get_by_role("button", name="Make link").click()
    made = (await (await answer.value).json())["data"]
    link = dialog.get_by_label(re.compile("^The link"))
    await expect(link).to_have_value(made["url"])
    await dialog.get_by_role("button", name="Copy link", exact=True).click()
    await expect(dialog.get_by_role("status")).to_have_text("Copied.")
    assert await page.evaluate("() => navigator.clipboard.readText()") == made["url"]

    listed = (await call(server, "GET", f"/batches/{batch_id}/shares"))[1]["data"]["shares"]
    assert [(s["share_id"], s["state"], s["kept_only"]) for s in listed] == [
        (made["share_id"], "active", True)
    ]
    made_at = datetime.fromisoformat(made["created_at"])
    assert datetime.fromisoformat(made["expires_at"]) - made_at == timedelta(days=3)
    item = dialog.locator(f'li[data-share-id="{made["share_id"]}"]')
    expires = made["expires_at"]
    await expect(item).to_contain_text(f"Active · kept results · made {made['created_at'][:10]}")
    await expect(item).to_contain_text(f"expires {expires[:10]} {expires[11:16]} UTC")
    await page.evaluate("() => navigator.clipboard.writeText('')")
    said = dialog.get_by_role("status")
    await said.evaluate("status => { status.textContent = ''; }")
    await item.get_by_role("button", name=re.compile("^Copy link made")).click()  # again
    await expect(said).to_have_text("Copied.")  # written by then
    assert await page.evaluate("() => navigator.clipboard.readText()") == made["url"]
    await audit(page, f"share-dialog-{viewport}")
    if viewport == "phone":
        assert await seen.no_horizontal_scroll()
    await seen.screenshot(f"share-dialog-{viewport}")

    recipient = await visit(browser, server.url, width=width, height=height)  # no key
    assert (await recipient.page.goto(made["url"])) is not None
    await expect(recipient.page.locator(".share-results img")).to_have_count(1)  # kept only

    await item.get_by_role("button", name=re.compile("^Revoke link made")).click()
    await expect(item).to_have_attribute("data-state", "revoked")
    await expect(dialog.get_by_role("status")).to_have_text("Revoked: the link opens nothing now.")
    await expect(link).to_be_hidden()  # a revoked link is not offered to copy
    token = made["url"].rsplit("/", 1)[1]
    async with server.http.get(f"{server.url}/s/{token}/batch") as gone:
        assert gone.status == 404
    await seen.screenshot(f"share-dialog-revoked-{viewport}")
    await dialog.get_by_role("button", name="Close").click()
    await expect(dialog).to_be_hidden()
    seen.assert_clean()
    recipient.assert_clean()
