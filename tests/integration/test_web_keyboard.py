"""The page by keyboard alone: on each view, every Tab stop has a name, comes into view and
shows where focus is (WCAG 4.1.2, 2.4.11 and 2.4.7), at desktop and phone sizes; and a job
goes from New to its result with the keyboard only."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from support.a11y import Focus, tab_walk
from support.browser import VIEWPORTS, Visit, needs_chromium, visit
from support.server import RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240), needs_chromium]

LONG = 90_000  # ms: a loaded 2-core machine runs the suite beside these
STOPS = 80  # Tab presses at most per view: more than any view has


def faults(stops: list[Focus]) -> list[str]:
    """What is wrong with each stop that is wrong: no name, out of view, no visible focus."""
    found = []
    for stop in stops:
        missing = [
            what
            for what, fine in (
                ("no name", bool(stop.name)),
                ("out of view", stop.in_viewport),
                ("no visible focus", stop.indicator),
            )
            if not fine
        ]
        if missing:
            found.append(f"{stop.role} {stop.name!r}: {', '.join(missing)}")
    return found


async def walked(page: Page, least: int) -> list[Focus]:
    await page.locator("body").focus()
    stops = await tab_walk(page, STOPS)
    assert len(stops) >= least, stops
    assert faults(stops) == []
    return stops


async def open_at(browser: Browser, server: RunningServer, viewport: str, route: str) -> Visit:
    width, height = VIEWPORTS[viewport]
    return await visit(browser, server.url, width=width, height=height, route=route)


async def test_a_job_goes_from_new_to_its_result_by_keyboard_alone(
    server: RunningServer, browser: Browser, viewport: str
) -> None:
    seen = await open_at(browser, server, viewport, "#/")
    page = seen.page
    await expect(page.get_by_role("heading", name="New job")).to_be_visible()
    stops = await walked(page, least=10)
    assert any(s.role == "button" and s.name == "Try a sample" for s in stops), stops
    await page.get_by_role("button", name="Try a sample").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("img", name="View 1: sample-view.jpg")).to_be_visible()
    await page.get_by_label("Job name").focus()
    await page.keyboard.type("Keyboard villa")
    await page.get_by_role("button", name="Render").focus()
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"#/batches/\d+$"))
    await expect(page.locator(".batch-status")).to_have_text("Done", timeout=LONG)
    await expect(page.get_by_role("heading", name="Keyboard villa")).to_be_visible()
    await walked(page, least=3)  # the finished grid: its actions, downloads, links
    seen.assert_clean()


@pytest.mark.parametrize("route", ["#/history", "#/account"])
async def test_every_tab_stop_of_a_view_is_named_in_view_and_shows_focus(
    server: RunningServer, browser: Browser, viewport: str, route: str
) -> None:
    seen = await open_at(browser, server, viewport, route)
    await expect(seen.page.locator("main h1")).to_be_visible()
    await walked(seen.page, least=3)
    seen.assert_clean()
