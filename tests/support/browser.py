"""Debian's chromium driven by Playwright's async API, for the web page's tests.

The async API, because the server under test runs on the test's own event loop: blocking
Playwright calls there would stop the server from answering. Never `playwright install`:
the browser is /usr/bin/chromium, which `make test` installs (scripts/chromium-setup.sh).
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    CDPSession,
    Locator,
    Page,
    Response,
    async_playwright,
    expect,
)

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).parents[2]
SHOT = ROOT / "examples" / "shot.jpg"  # 800x600
REF = ROOT / "examples" / "ref.jpg"  # 320x240
ARTIFACTS = Path(os.environ.get("RENDERGATE_TEST_ARTIFACTS", ROOT / "tests-artifacts")) / "web"
NO_CHROMIUM = (
    "Debian's chromium is not at /usr/bin/chromium and could not be installed: `make test` "
    "runs scripts/chromium-setup.sh, which needs root or sudo on Debian (apt-get install "
    "chromium); Playwright's own browsers are never downloaded"
)
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)
# Playwright's expect() waits 5 s by default; the suite runs these beside everything else
# on two cores, so each condition gets longer (a met one still returns at once).
expect.set_options(timeout=20_000)


async def loaded_width(image: Locator, timeout_ms: float = 20_000) -> int:
    """The image's natural width once it has loaded. The page fetches a file with the key
    before it gives the <img> its src, and an <img> without one is already `complete` (with
    width 0): waiting on `complete` alone races that fetch."""
    handle = await image.element_handle(timeout=timeout_ms)
    loaded = "img => img.complete && img.naturalWidth > 0"
    await image.page.wait_for_function(loaded, arg=handle, timeout=timeout_ms)
    return int(await image.evaluate("img => img.naturalWidth"))


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Visit:
    """One page in its own browser context, with what it asked for and what broke in it."""

    page: Page
    base: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def console(self, kind: str, text: str) -> None:
        """Errors the page logs (a blocked resource, say), but not the browser's notes of the
        API's refusals, which the page shows the user."""
        refusal = text.startswith("Failed to load resource")
        if kind == "error" and not refusal:
            self.errors.append(text)

    def assert_clean(self) -> None:
        """No request left the server under test, and nothing broke in the page."""
        own = (f"{self.base}/", "blob:", "data:")
        assert [url for url in self.requests if not url.startswith(own)] == []
        assert self.errors == []

    async def add_views(self, *paths: Path) -> None:
        """Picks screenshots as the view files of a new job (several at once)."""
        await self.page.locator("#view-files").set_input_files(list(paths))

    async def render(self) -> Response:
        """Clicks Render; the API's answer to the batch's create."""
        create = f"{self.base}/batches"
        async with self.page.expect_response(
            lambda r: r.url == create and r.request.method == "POST"
        ) as answer:
            await self.page.get_by_role("button", name="Render", exact=True).click()
        return await answer.value

    async def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        print(f"screenshot: {path}")
        return path

    async def scroll_away(self, height: int = 3000) -> None:
        """Makes the page `height` pixels taller below its content and scrolls to its foot,
        by script (no wheel, touch or key): whatever was on screen is then far out of view."""
        await self.page.evaluate(SCROLL_AWAY, height)

    async def no_horizontal_scroll(self) -> bool:
        width: bool = await self.page.evaluate(
            "() => document.documentElement.scrollWidth <= window.innerWidth"
        )
        return width

    async def drop_file(self, selector: str, path: Path, mime: str) -> None:
        """Drops `path` on the element, as a file dragged from the desktop would be."""
        await self.drop_files(selector, [path], mime)

    async def drop_files(self, selector: str, paths: list[Path], mime: str = "image/jpeg") -> None:
        """Drops the files on the element at once, as several dragged from the desktop."""
        files = [[base64.b64encode(path.read_bytes()).decode(), path.name] for path in paths]
        transfer = await self.page.evaluate_handle(
            """([files, mime]) => {
                const transfer = new DataTransfer();
                for (const [data, name] of files) {
                    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                    transfer.items.add(new File([bytes], name, { type: mime }));
                }
                return transfer;
            }""",
            [files, mime],
        )
        await self.page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
        await self.page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


SCROLL_AWAY = """(height) => {
    const spacer = document.createElement("div");
    spacer.style.height = `${height}px`;
    document.body.append(spacer);
    window.scrollTo(0, document.body.scrollHeight);
}"""
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


async def visit(
    browser: Browser,
    base: str,
    *,
    width: int = 1280,
    height: int = 800,
    route: str = "#/",
    touch: bool = False,
) -> Visit:
    """The page at `route` (a hash route: "#/", "#/batches/12"), in a fresh context; with
    `touch`, a phone's (a touch screen, the meta viewport honoured)."""
    context = await browser.new_context(
        viewport={"width": width, "height": height},
        accept_downloads=True,
        has_touch=touch,
        is_mobile=touch,
    )
    page = await context.new_page()
    page.set_default_timeout(30_000)
    seen = Visit(page=page, base=base)
    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.on("console", lambda message: seen.console(message.type, message.text))
    response = await page.goto(f"{base}/{route}")
    assert response is not None and response.status == 200
    return seen


Point = tuple[float, float]
FRAME = 0.016  # s: a finger's step, one frame of a 60 Hz screen
HOLD = 0.2  # s: still before a lift


@dataclass
class Fingers:
    """Fingers on a touch screen, as chromium hears them from the screen (CDP's
    Input.dispatchTouchEvent): pointer and touch events with real pointer ids, several at
    once, which Playwright's `touchscreen` (one tap) cannot send."""

    cdp: CDPSession

    @classmethod
    async def on(cls, page: Page) -> Fingers:
        return cls(await page.context.new_cdp_session(page))

    async def move(self, *paths: list[Point]) -> None:
        """Each finger down at its path's first point, moved along it a step at a time (the
        fingers together), held still at its end and lifted. The paths are of one length.

        The events carry times a hand's pace apart (a frame a step, then a still 0.2 s)
        ending now. Sent untimed, at the wire's speed, a tap right after a drag lost its
        click in 2 runs of 7 (its pointerdown and pointerup came, no click): the lift
        looks like a flick, and a tap during a fling only stops it."""
        steps = list(zip(*paths, strict=True))
        steps.append(steps[-1])  # held still
        times = [i * FRAME for i in range(len(steps) - 1)] + [(len(steps) - 2) * FRAME + HOLD]
        start = time.time() - times[-1]
        for number, (points, at) in enumerate(zip(steps, times, strict=True)):
            kind = "touchStart" if number == 0 else "touchMove"
            touches = [{"x": x, "y": y, "id": finger} for finger, (x, y) in enumerate(points)]
            await self.touch(kind, touches, start + at)
        await self.touch("touchEnd", [], start + times[-1])

    async def touch(self, kind: str, touches: list[dict[str, float]], at: float) -> None:
        event = {"type": kind, "touchPoints": touches, "timestamp": at}
        await self.cdp.send("Input.dispatchTouchEvent", event)

    async def pinch(self, centre: Point, gap: tuple[float, float], steps: int = 8) -> None:
        """Two fingers level about `centre`, `gap[0]` apart, moved to `gap[1]` apart: a pinch
        out when it grows, in when it shrinks."""
        spans = [gap[0] + (gap[1] - gap[0]) * i / steps for i in range(steps + 1)]
        x, y = centre
        await self.move([(x - s / 2, y) for s in spans], [(x + s / 2, y) for s in spans])

    async def drag(self, start: Point, end: Point, steps: int = 6) -> None:
        """One finger from `start` to `end`."""
        (x0, y0), (x1, y1) = start, end
        path = [(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps) for i in range(steps + 1)]
        await self.move(path)
