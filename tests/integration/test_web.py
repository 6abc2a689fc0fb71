"""The web page's shell in a real browser (Debian's driven by Playwright): the
identity bar and nav, the hash routes, the key banner after a 401 and the Account view's
key, and /docs under its own CSP. The views have files of their own (test_web_*.py)."""

from __future__ import annotations

import asyncio
import re
from typing import Literal

import pytest
from playwright.async_api import Browser, expect

from rendergate.config.settings import Settings
from support.browser import SHOT, VIEWPORTS, needs_chromium, visit
from support.process import create_api_key
from support.server import RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), needs_chromium]

LONG = 60_000  # ms: a loaded 2-core machine runs the whole suite beside these
SENTENCE = (
    "Turn SketchUp views into one consistent set of renders, then compare, pick, upscale and "
    "send them to your client."
)


# What of an element can be read: its rendered text, whether overflow cuts any of it (an
# ellipsis included), and whether its box lies within the viewport's width.
READ_WHOLE = """(element) => {
    const box = element.getBoundingClientRect();
    return {
        text: element.innerText,
        clipped: element.scrollWidth > element.clientWidth
            || element.scrollHeight > element.clientHeight,
        inView: box.left >= 0 && box.right <= document.documentElement.clientWidth,
    };
}"""


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
async def test_the_shell_names_itself_and_routes_by_hash(
    server: RunningServer, browser: Browser, viewport: str
) -> None:
    width, height = VIEWPORTS[viewport]
    seen = await visit(browser, server.url, width=width, height=height, route="#/nowhere")
    page = seen.page
    await expect(page).to_have_url(re.compile(r"#/$"))  # an unknown route: the start
    await expect(page.get_by_role("heading", name="New job")).to_be_focused()
    await expect(page.get_by_role("link", name="New", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    tagline = page.locator(".tagline")
    await expect(tagline).to_be_visible()  # on a phone too: under the wordmark
    assert await tagline.evaluate(READ_WHOLE) == {
        "text": SENTENCE,
        "clipped": False,  # no ellipsis, nothing hidden by overflow
        "inView": True,
    }
    assert await page.locator("[style]").count() == 0  # the CSP forbids inline styles
    await page.get_by_role("link", name="History").click()
    await expect(page).to_have_title("History · rendergate")
    await expect(page.get_by_text("No jobs yet")).to_be_visible()
    await page.reload()
    await expect(page.get_by_role("heading", name="History")).to_be_visible()  # kept
    assert await seen.no_horizontal_scroll()
    await seen.screenshot(f"shell-history-{viewport}")
    seen.assert_clean()


async def test_after_a_401_a_banner_takes_the_key_and_account_forgets_it(
    server: RunningServer, browser: Browser, settings: Settings
) -> None:
    key = await asyncio.to_thread(create_api_key, settings.data_dir, "web")
    server.services.keys.refresh()  # read again on the next request, not in 2 s
    async with server.http.get(f"{server.url}/tasks") as response:
        assert response.status == 401  # a key exists: open mode is over
    seen = await visit(browser, server.url)
    page = seen.page
    banner = page.locator("#key-banner")
    await expect(banner).to_be_visible()  # /presets said 401
    await expect(page.get_by_role("textbox", name="Enter your key")).to_be_visible()
    await seen.screenshot("key-banner")
    await page.get_by_label("Enter your key").fill(key)
    await page.get_by_label("Enter your key").press("Enter")
    await expect(banner).to_be_hidden()
    await expect(page.get_by_role("heading", name="New job")).to_be_visible()
    await seen.add_views(SHOT)  # the view asked again, with the key: the form is there
    await page.get_by_label("App", exact=True).select_option("fake")
    await page.reload()
    await expect(page.get_by_label("App", exact=True)).to_be_visible()  # remembered
    await expect(banner).to_be_hidden()

    await page.get_by_role("link", name="Account").click()
    await expect(page.get_by_label("API key", exact=True)).to_have_value(key)
    await page.get_by_role("button", name="Forget").click()
    assert await page.evaluate("() => localStorage.length") == 0
    await page.get_by_role("link", name="History").click()
    await expect(banner).to_be_visible()  # asked without a key: the banner again
    await expect(page.get_by_role("alert")).to_contain_text("(401)")
    seen.assert_clean()


# WCAG 2.1 contrast of an element's border and of its outline (its focus ring, when
# focused) against the first opaque background behind it: what a field's edge and a ring
# are seen against. axe checks text only.
EDGES = """(element) => {
    const rgb = (color) => color.match(/[\\d.]+/g).map(Number);
    const luminance = (color) => {
        const channel = (c) => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
        const [r, g, b] = rgb(color).map(channel);
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const ratio = (a, b) => {
        const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
        return Math.round(((light + 0.05) / (dark + 0.05)) * 100) / 100;
    };
    let behind = element.parentElement;
    while ((rgb(getComputedStyle(behind).backgroundColor)[3] ?? 1) === 0)
        behind = behind.parentElement ?? document.documentElement;
    const backdrop = getComputedStyle(behind).backgroundColor;
    const style = getComputedStyle(element);
    return {
        border: ratio(style.borderTopColor, backdrop),
        outline: style.outlineStyle === "none" ? 0 : ratio(style.outlineColor, backdrop),
    };
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_a_fields_edge_and_the_focus_ring_stand_out_in_either_scheme(
    server: RunningServer, browser: Browser, scheme: Literal["light", "dark"]
) -> None:
    """WCAG 1.4.11: a text field's border and a focus ring at least 3:1 against the page."""
    seen = await visit(browser, server.url, route="#/account")
    page = seen.page
    await page.emulate_media(color_scheme=scheme)
    await page.wait_for_function(f"() => matchMedia('(prefers-color-scheme: {scheme})').matches")
    field = page.get_by_label("API key", exact=True)
    await expect(field).to_be_visible()
    unfocused = await field.evaluate(EDGES)
    await field.focus()  # a text field shows its ring however it is focused
    focused = await field.evaluate(EDGES)
    assert unfocused["border"] >= 3, unfocused
    assert focused["outline"] >= 3, focused
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
