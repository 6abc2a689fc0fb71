"""Accessibility checks for the browser tests: axe-core's audit, and a Tab walk.

axe-core comes from the npm registry, pinned with its integrity hash in
tests/a11y/package-lock.json and installed into tests/a11y/node_modules/ by
scripts/axe-setup.sh (`make browser`). `audit` evaluates its source in the page through
Playwright, which the page's Content-Security-Policy does not govern (an inline <script>
would be refused), and the audit then breaches nothing in that policy
(tests/integration/test_a11y_harness.py listens): so the page needs no `bypass_csp` and is
audited under its real, strict policy. axe cannot press keys, so `tab_walk` checks what
the keyboard meets: where focus goes and whether it shows.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.async_api import Page

from support.browser import ARTIFACTS, ROOT

A11Y = ROOT / "tests" / "a11y"  # package.json, its lock, node_modules/
AXE = A11Y / "node_modules" / "axe-core" / "axe.min.js"
NO_AXE = (
    "axe-core is not installed in tests/a11y/node_modules: `make browser` installs the "
    "version pinned in tests/a11y/package-lock.json (scripts/axe-setup.sh), which needs npm, "
    "or root or sudo on Debian to install it (apt-get install npm)"
)
needs_axe = pytest.mark.skipif(not AXE.exists(), reason=NO_AXE)
# WCAG 2.0, 2.1 and 2.2 at levels A and AA. axe tags no rule `wcag22a` (and refuses an
# unknown tag): WCAG 2.2's new level-A criteria have no automated rule.
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
RUN_AXE = """async (tags) => {
    const results = await axe.run(document, {
        runOnly: { type: "tag", values: tags },
        resultTypes: ["violations"],
    });
    const { url, timestamp, testEngine, testEnvironment, violations, incomplete } = results;
    return { url, timestamp, testEngine, testEnvironment, tags, violations, incomplete };
}"""


@dataclass(frozen=True)
class Violation:
    """One axe rule the page breaks, and where."""

    rule: str  # axe's rule id: "button-name", "label", "color-contrast", ...
    impact: str  # "minor", "moderate", "serious" or "critical"
    targets: tuple[str, ...]  # a CSS selector for each element that breaks it
    help: str

    def __str__(self) -> str:
        return f"{self.rule} ({self.impact}): {', '.join(self.targets)}: {self.help}"


def _artifact(name: str) -> Path:
    return ARTIFACTS / f"a11y-{name}.json"


@functools.cache
def _axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


async def violations(page: Page, name: str) -> list[Violation]:
    """Runs axe's WCAG A and AA rules on the page as it is now; writes axe's whole answer to
    tests-artifacts/web/a11y-<name>.json, to read when a rule fails."""
    if not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"{name!r} cannot name a file: use letters, digits, '.', '-', '_'")
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(_axe_source())  # a navigation drops it: inject once per document
    results: dict[str, Any] = await page.evaluate(RUN_AXE, list(WCAG_TAGS))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _artifact(name).write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    return [_violation(found) for found in results["violations"]]


def _violation(found: dict[str, Any]) -> Violation:
    # A target is a list of selectors, one per frame or shadow root on the way to the node.
    targets = tuple(" >>> ".join(_selectors(node["target"])) for node in found["nodes"])
    return Violation(found["id"], found["impact"] or "unknown", targets, found["help"])


def _selectors(target: list[Any]) -> list[str]:
    return [part if isinstance(part, str) else " >> ".join(part) for part in target]


async def audit(page: Page, name: str) -> None:
    """Fails, listing each rule broken with its impact and elements, unless axe finds the
    page meets WCAG 2.0, 2.1 and 2.2 A and AA as far as a machine can tell, in the light
    colour scheme and then in the dark one (the page follows `prefers-color-scheme`). The
    dark pass is named `<name>-dark` (its answer and a screenshot are kept under that name);
    the page is left in the scheme it was in."""
    was_dark = await page.evaluate(DARK)
    failed: list[str] = []
    try:
        for scheme, pass_name in (("light", name), ("dark", f"{name}-dark")):
            await _emulate(page, scheme)
            found = await violations(page, pass_name)
            if scheme == "dark":
                await page.screenshot(path=str(ARTIFACTS / f"{pass_name}.png"), full_page=True)
            if found:
                listed = "\n".join(f"  {violation}" for violation in found)
                failed.append(
                    f"axe found {len(found)} violations on {pass_name} ({scheme} scheme, "
                    f"{_artifact(pass_name)}):\n{listed}"
                )
    finally:
        await _emulate(page, "dark" if was_dark else "light")
    if failed:
        raise AssertionError("\n".join(failed))


DARK = "() => matchMedia('(prefers-color-scheme: dark)').matches"
# Once the scheme matches, any transition it started is waited out, and two frames let the
# new styles paint: axe reads computed colours, a screenshot reads pixels.
SETTLED = """async () => {
    const finite = document.getAnimations()
        .filter((running) => running.effect?.getComputedTiming().endTime !== Infinity);
    await Promise.all(finite.map((running) => running.finished.catch(() => null)));
    await new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)));
}"""


async def _emulate(page: Page, scheme: Literal["light", "dark"]) -> None:
    await page.emulate_media(color_scheme=scheme)
    await page.wait_for_function(f"() => ({DARK})() === {str(scheme == 'dark').lower()}")
    await page.evaluate(SETTLED)


# The outline and box-shadow of every element before the walk, to compare a focused one's
# against. Transitions are waited out: a ring read at their first frame looks unfocused.
RECORD_UNFOCUSED = """() => {
    window.__a11yRing = (element) => {
        const style = getComputedStyle(element);
        const none = ["none", "hidden"].includes(style.outlineStyle)
            || parseFloat(style.outlineWidth) === 0 || style.outlineColor === "rgba(0, 0, 0, 0)";
        const outline = none
            ? "none" : `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`;
        return { outline, shadow: style.boxShadow };
    };
    window.__a11yUnfocused = new WeakMap();
    for (const element of document.querySelectorAll("*"))
        if (element !== document.activeElement)
            window.__a11yUnfocused.set(element, window.__a11yRing(element));
    window.__a11yVisited = new WeakSet();
}"""
FOCUSED = """async () => {
    const element = document.activeElement;
    if (!element || element === document.body || window.__a11yVisited.has(element))
        return null;
    window.__a11yVisited.add(element);
    const finite = element.getAnimations()
        .filter((running) => running.effect?.getComputedTiming().endTime !== Infinity);
    await Promise.all(finite.map((running) => running.finished.catch(() => null)));
    const ring = window.__a11yRing(element);
    const before = window.__a11yUnfocused.get(element) ?? { outline: "none", shadow: "none" };
    const box = element.getBoundingClientRect();
    const view = document.documentElement;
    return {
        inViewport: box.width > 0 && box.height > 0 && box.right > 0 && box.bottom > 0
            && box.left < view.clientWidth && box.top < view.clientHeight,
        indicator: (ring.outline !== "none" && ring.outline !== before.outline)
            || (ring.shadow !== "none" && ring.shadow !== before.shadow),
    };
}"""


@dataclass(frozen=True)
class Focus:
    """One stop of a Tab walk."""

    role: str  # its ARIA role, as Playwright's ARIA snapshot says: "button", "textbox", ...
    name: str  # its accessible name; "" for none
    in_viewport: bool  # some of it is inside the viewport (WCAG 2.4.11: not wholly hidden)
    indicator: bool  # its outline or box-shadow shows, and differs from when unfocused


async def tab_walk(page: Page, limit: int) -> list[Focus]:
    """Presses Tab up to `limit` times from where focus is, and says what each press
    focused, until focus leaves the page or comes back to an element already met."""
    await page.evaluate(RECORD_UNFOCUSED)
    walk: list[Focus] = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        state: dict[str, bool] | None = await page.evaluate(FOCUSED)
        if state is None:
            break
        role, name = _role_and_name(await page.locator(":focus").aria_snapshot())
        walk.append(Focus(role, name, state["inViewport"], state["indicator"]))
    return walk


def _role_and_name(snapshot: str) -> tuple[str, str]:
    """("button", "Go") from an ARIA snapshot whose first line is `- button "Go"`: YAML, so
    a name with a colon has the whole line in single quotes, and the name itself is in
    double quotes with JSON's escapes."""
    line = snapshot.splitlines()[0].removeprefix("- ") if snapshot else ""
    if quoted := re.match(r"'((?:[^']|'')*)'", line):
        line = quoted.group(1).replace("''", "'")
    if line.startswith("text: "):  # a <summary>: Playwright shows it as its text alone
        return "text", line.removeprefix("text: ")
    node = re.match(r'([\w-]+)(?: ("(?:[^"\\]|\\.)*"))?', line)
    if node is None:
        return line, ""
    return node.group(1), json.loads(node.group(2)) if node.group(2) else ""
