"""The accessibility harness of the browser tests (tests/support/a11y.py) on a fixture page
of its own, served on 127.0.0.1 under the web page's Content-Security-Policy: the audit
names each fault the page is known to have and passes the page with them mended, and the
Tab walk says where focus goes and whether it shows."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Page

from rendergate.api.routes.web import CSP
from support.a11y import A11Y, DARK, Focus, audit, needs_axe, tab_walk, violations
from support.browser import ARTIFACTS, chromium, needs_chromium

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), needs_chromium]

FIXTURE = A11Y / "fixture"  # broken.html, fixed.html, dusk.html and their fixture.css
PINNED = json.loads((A11Y / "package.json").read_text())["dependencies"]["axe-core"]
# Records each breach of the page's policy, to tell a live policy from one never applied.
RECORD_BREACHES = """() => {
    window.breaches = [];
    document.addEventListener("securitypolicyviolation",
        (event) => window.breaches.push(event.effectiveDirective));
}"""
INLINE_SCRIPT = """() => {
    const script = document.createElement("script");
    script.textContent = "window.inlineRan = true";
    document.head.append(script);
}"""


async def fixture_file(request: web.Request) -> web.FileResponse:
    path = FIXTURE / request.match_info["name"]
    if path.suffix not in {".html", ".css"} or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Security-Policy": CSP})


@pytest.fixture
async def pages() -> AsyncIterator[str]:
    """The fixture pages' origin, http://127.0.0.1:<free port>."""
    app = web.Application()
    app.router.add_get("/{name}", fixture_file)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@dataclass
class Opened:
    page: Page
    errors: list[str] = field(default_factory=list)  # console errors and uncaught ones

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@contextlib.asynccontextmanager
async def opened(browser: Browser, url: str) -> AsyncIterator[Opened]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        seen = Opened(await context.new_page())
        seen.page.on("console", seen.console)
        seen.page.on("pageerror", lambda error: seen.errors.append(str(error)))
        response = await seen.page.goto(url)
        assert response is not None and response.status == 200
        assert response.headers["content-security-policy"] == CSP
        yield seen
    finally:
        await context.close()


@needs_axe
async def test_the_audit_names_each_known_fault_and_fails(browser: Browser, pages: str) -> None:
    async with opened(browser, f"{pages}/broken.html") as seen:
        found = await violations(seen.page, "harness-broken")
        by_rule = {violation.rule: violation for violation in found}
        assert sorted(by_rule) == ["button-name", "color-contrast", "label"]
        assert by_rule["button-name"].targets == (".icon",)
        assert by_rule["label"].targets == ("#query",)
        assert by_rule["color-contrast"].targets == ("p",)  # the grey-on-grey paragraph
        assert {v.impact for v in found} == {"critical", "serious"}

        with pytest.raises(AssertionError) as failed:
            await audit(seen.page, "harness-broken")
        message = str(failed.value)
        assert "axe found 3 violations on harness-broken" in message
        assert "button-name (critical): .icon: Buttons must have discernible text" in message
        assert "label (critical): #query: Form elements must have labels" in message
        assert "color-contrast (serious): p: " in message
        assert seen.errors == []

    written = json.loads((ARTIFACTS / "a11y-harness-broken.json").read_text())
    assert written["testEngine"] == {"name": "axe-core", "version": PINNED}
    assert written["url"] == f"{pages}/broken.html"
    assert sorted(v["id"] for v in written["violations"]) == sorted(by_rule)


@needs_axe
async def test_the_mended_page_passes_under_the_page_policy(browser: Browser, pages: str) -> None:
    async with opened(browser, f"{pages}/fixed.html") as seen:
        await seen.page.evaluate(RECORD_BREACHES)
        await audit(seen.page, "harness-fixed")  # raises on any violation
        await audit(seen.page, "harness-fixed")  # axe is injected once, and runs again

        # axe ran without breaching the policy, and the policy is live: an inline script,
        # which it refuses, is refused and reported.
        assert await seen.page.evaluate("() => window.breaches") == []
        await seen.page.evaluate(INLINE_SCRIPT)
        await seen.page.wait_for_function("() => window.breaches.length > 0")
        assert await seen.page.evaluate("() => window.breaches") == ["script-src-elem"]
        assert await seen.page.evaluate("() => window.inlineRan") is None
        assert [e for e in seen.errors if "Content Security Policy" not in e] == []

    written = json.loads((ARTIFACTS / "a11y-harness-fixed.json").read_text())
    assert written["violations"] == []
    assert written["tags"] == ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@needs_axe
async def test_the_audit_also_runs_in_the_dark_scheme_and_names_that_pass(
    browser: Browser, pages: str
) -> None:
    """dusk.html reads well in the light scheme and breaks contrast only in the dark one."""
    async with opened(browser, f"{pages}/dusk.html") as seen:
        assert await violations(seen.page, "harness-dusk") == []  # the light scheme: clean
        with pytest.raises(AssertionError) as failed:
            await audit(seen.page, "harness-dusk")
        message = str(failed.value)
        assert message.startswith("axe found 1 violations on harness-dusk-dark (dark scheme")
        assert "color-contrast (serious): p: " in message  # the .dusk paragraph
        assert "on harness-dusk (" not in message  # the light pass found nothing
        assert not await seen.page.evaluate(DARK)  # and the page is light again
        assert (
            await seen.page.locator(".dusk").evaluate("p => getComputedStyle(p).color")
            == "rgb(51, 51, 51)"
        )
        assert seen.errors == []

    light = json.loads((ARTIFACTS / "a11y-harness-dusk.json").read_text())
    dark = json.loads((ARTIFACTS / "a11y-harness-dusk-dark.json").read_text())
    assert light["violations"] == []
    assert [v["id"] for v in dark["violations"]] == ["color-contrast"]
    assert (ARTIFACTS / "harness-dusk-dark.png").stat().st_size > 0


async def test_a_tab_walk_says_where_focus_goes_and_whether_it_shows(
    browser: Browser, pages: str
) -> None:
    async with opened(browser, f"{pages}/broken.html") as seen:
        assert await tab_walk(seen.page, 10) == [
            Focus("link", "Skip to content", in_viewport=False, indicator=True),  # off screen
            Focus("button", "", in_viewport=True, indicator=True),
            Focus("textbox", "", in_viewport=True, indicator=True),
            Focus("button", "Go", in_viewport=True, indicator=False),  # outline: none
        ]
        assert seen.errors == []

    async with opened(browser, f"{pages}/fixed.html") as seen:
        walk = await tab_walk(seen.page, 10)
        assert [(stop.role, stop.name) for stop in walk] == [
            ("link", "Skip to content"),
            ("button", "Close"),
            ("textbox", 'Search: name or "code"'),
            ("button", "Go"),
            ("button", "Below the fold"),  # 1500 px down: focus scrolls it into view
        ]
        assert all(stop.in_viewport and stop.indicator for stop in walk), walk
        assert await seen.page.evaluate("() => window.scrollY") > 0

        await seen.page.reload()
        assert [stop.name for stop in await tab_walk(seen.page, 2)] == ["Skip to content", "Close"]
        assert seen.errors == []
