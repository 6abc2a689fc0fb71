"""Choosing on a phone (390x844, a touch screen) in a real browser: compare's toolbar is a
bar at the foot of the screen, in the thumb's reach, that hides nothing and scrolls nothing
sideways but itself; a pinch zooms every pane about its midpoint, within the zoom's limits,
a finger drags the zoomed view, and the before/after slider moves under a finger. Fingers
are chromium's own touch input (CDP), several at once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect
from test_web_choose import api, preview_batch

from support.a11y import audit, needs_axe
from support.browser import VIEWPORTS, Fingers, Visit, loaded_width, needs_chromium, visit
from support.server import RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240), needs_chromium, needs_axe]

WIDTH, HEIGHT = VIEWPORTS["phone"]
ZOOMED = """imgs => imgs.map(img => {
    const m = new DOMMatrixReadOnly(getComputedStyle(img).transform);
    return [m.a, m.e, m.f];
})"""
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
# Whether the element's middle is what a finger there would touch (nothing lies over it).
ON_TOP = """el => {
    const r = el.getBoundingClientRect();
    return el.contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
}"""
LOWEST = """() => Math.max(...[...document.querySelectorAll(".compare *")]
    .filter(e => !e.closest(".toolbar") && e.getClientRects().length)
    .map(e => e.getBoundingClientRect().bottom))"""


async def open_view(server: RunningServer, browser: Any, variations: int) -> tuple[Visit, int]:
    """A finished batch of one view, its compare view open on a phone, every image loaded."""
    batch = await preview_batch(server, variations)
    assert batch["status"] == "completed"
    route = f"#/batches/{batch['batch_id']}/views/1"
    seen = await visit(browser, server.url, width=WIDTH, height=HEIGHT, route=route, touch=True)
    await expect(seen.page.locator(".cmp-stage .pane")).to_have_count(variations)
    await expect(seen.page.locator(".filmstrip img")).to_have_count(variations)
    for image in await seen.page.locator(".cmp-stage img, .filmstrip img").all():
        assert await loaded_width(image) > 0
    return seen, batch["batch_id"]


async def views(page: Page) -> list[tuple[float, float, float]]:
    """Each pane's image zoom and pan: (scale, x, y) read from its computed transform."""
    matrices = await page.locator(".cmp-stage img.zoomed").evaluate_all(ZOOMED)
    return [(round(a, 2), round(x, 1), round(y, 1)) for a, x, y in matrices]


async def zoomed_to(page: Page, low: float, high: float) -> tuple[float, float, float]:
    """Waits for the stage's zoom to settle within [low, high]; every pane's view, all equal."""
    await page.wait_for_function(
        "([low, high]) => { const z = Number(document.querySelector('.cmp-stage').dataset.zoom);"
        " return z >= low && z <= high; }",
        arg=[low, high],
    )
    seen = await views(page)
    assert len(set(seen)) == 1, seen  # in sync: every pane the same
    scale = seen[0][0]
    await expect(page.locator(".zoom-level")).to_have_text(f"{round(scale * 100)}%")
    return seen[0]


async def middle(locator: Locator) -> tuple[float, float]:
    box = await locator.bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


async def test_the_toolbar_is_a_bar_at_the_foot_that_hides_nothing(
    server: RunningServer, browser: Any
) -> None:
    seen, batch_id = await open_view(server, browser, variations=2)
    page = seen.page
    bar = page.get_by_role("toolbar", name="Compare")
    await expect(page.get_by_label("Upscaler")).to_be_visible()  # the bar's last to come
    await seen.screenshot("choose-bar-phone", full_page=False)  # what the phone shows
    for scrolled in ("window.scrollTo(0, 0)", "window.scrollTo(0, 1e6)"):
        await page.evaluate(f"() => {scrolled}")
        box = await bar.bounding_box()
        assert box is not None
        assert (box["x"], box["width"], round(box["y"] + box["height"])) == (0, WIDTH, HEIGHT)
        assert box["height"] < 70  # one compact row
        top = box["y"]
    assert await page.evaluate(NO_SIDEWAYS)
    # at the page's foot, the lowest of its content is above the bar
    assert await page.evaluate(LOWEST) <= top

    # every control in the bar can be brought into view inside it and touched
    controls = bar.locator("button:visible, select:visible")
    assert await controls.count() >= 9
    for control in await controls.all():
        await control.scroll_into_view_if_needed()
        place = await control.bounding_box()
        assert place is not None
        assert 0 <= place["x"] <= WIDTH - place["width"]
        assert top <= place["y"] <= HEIGHT - place["height"]
        assert await control.evaluate(ON_TOP), await control.inner_text()
    assert await page.evaluate(NO_SIDEWAYS)

    # a pane's actions, brought as low on screen as the page puts them, are not under the bar
    keep = page.get_by_role("button", name="Keep View 1 · v1")
    await keep.locator("xpath=..").evaluate("e => e.scrollIntoView({ block: 'end' })")
    place = await keep.bounding_box()
    assert place is not None and place["y"] + place["height"] <= top
    assert await keep.evaluate(ON_TOP)
    await keep.tap()
    await expect(keep).to_have_attribute("aria-pressed", "true")

    # Upscale kept, in the bar, tapped for real: the API has the kept one's step
    upscale = bar.get_by_role("button", name=re.compile(r"^Upscale kept"))
    await page.get_by_label("Upscaler").select_option("fake_upscale")
    await expect(upscale).to_have_text("Upscale kept (¥0.50)")
    async with page.expect_response(lambda r: r.url.endswith(f"/batches/{batch_id}/steps")):
        await upscale.tap()
    members = (await api(server, "GET", f"/batches/{batch_id}"))["tasks"]
    v1 = members[0]["task_id"]
    assert [(t["parent_task_id"], t["type"]) for t in members if t["parent_task_id"]] == [
        (v1, "fake_upscale")
    ]
    assert members[0]["kept"] is True
    await audit(page, "compare-phone-bar")
    await page.evaluate("() => window.scrollTo(0, 1e6)")
    await seen.screenshot("choose-bar-phone-foot", full_page=False)
    seen.assert_clean()


async def test_a_pinch_zooms_every_pane_about_its_midpoint_and_a_finger_pans(
    server: RunningServer, browser: Any
) -> None:
    seen, _ = await open_view(server, browser, variations=2)
    page = seen.page
    fingers = await Fingers.on(page)
    frame = page.locator(".cmp-stage .viewport").first
    cx, cy = await middle(frame)
    assert await views(page) == [(1, 0, 0)] * 2

    # out, 50 to 100 px apart, 50 px left of and 30 above the middle: twice the size, and
    # the point under the fingers stays there (so the view moves 50 right and 30 down)
    await fingers.pinch((cx - 50, cy - 30), (50, 100))
    scale, x, y = await zoomed_to(page, 1.95, 2.05)
    assert (scale, x, y) == (2, 50, 30)

    # in, 100 to 60 apart at the same place: smaller, about the same point
    await fingers.pinch((cx - 50, cy - 30), (100, 60))
    scale, x, y = await zoomed_to(page, 1.15, 1.25)
    assert (scale, x, y) == (1.2, 10, 6)

    # one finger drags the zoomed view, every pane with it
    await fingers.drag((cx, cy), (cx - 15, cy - 10))
    await page.wait_for_function(
        "() => Math.round(parseFloat(document.querySelector('.cmp-stage')"
        ".style.getPropertyValue('--x'))) === -5"
    )
    assert await views(page) == [(1.2, -5, -4)] * 2

    # the limits are the buttons': 800% at most, and back to the whole image at 100%
    await fingers.pinch((cx, cy), (20, 300))
    assert (await zoomed_to(page, 8, 8))[0] == 8
    await fingers.pinch((cx, cy), (300, 20))
    assert await zoomed_to(page, 1, 1) == (1, 0, 0)
    await fingers.drag((cx, cy), (cx - 40, cy))  # at 100% a drag moves nothing
    assert await views(page) == [(1, 0, 0)] * 2

    # before/after: the slider follows a finger; its frame pinches too
    await page.get_by_role("button", name="Before/after").tap()
    await expect(page.locator(".cmp-stage .pane")).to_have_count(1)
    slider = page.get_by_role("slider", name=re.compile(r"screenshot shows over View 1 · v1$"))
    await expect(slider).to_have_value("50")
    track = await slider.bounding_box()
    assert track is not None
    y_mid = track["y"] + track["height"] / 2
    start = (track["x"] + track["width"] / 2, y_mid)
    await fingers.drag(start, (track["x"] + track["width"] * 0.2, y_mid))
    await expect(slider).not_to_have_value("50")
    assert int(await slider.input_value()) < 30
    cx, cy = await middle(page.locator(".ba"))
    await fingers.pinch((cx, cy), (60, 120))
    scale, _, _ = await zoomed_to(page, 1.95, 2.05)
    assert await views(page) == [(scale, 0, 0)] * 2  # the render and its screenshot
    assert await page.evaluate(NO_SIDEWAYS)
    seen.assert_clean()
