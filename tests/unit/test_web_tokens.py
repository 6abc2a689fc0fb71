"""The web pages' design tokens live in one file: static/web/tokens.css, the first stylesheet
both the studio (templates/index.html) and a share link's page (templates/share.html) load.
No other stylesheet declares a token again, and every token a stylesheet uses is declared."""

from __future__ import annotations

import re
from pathlib import Path

API = Path(__file__).parents[2] / "src" / "rendergate" / "api"
WEB = API / "static" / "web"
TOKENS = WEB / "tokens.css"


def set_by_scripts() -> set[str]:
    """Properties a module sets on an element (zoom, a split, a bar's share): not tokens."""
    scripts = (path.read_text(encoding="utf-8") for path in WEB.glob("*.js"))
    return {name for js in scripts for name in re.findall(r'setProperty\("(--[\w-]+)"', js)}


def declared(css: str) -> set[str]:
    return set(re.findall(r"(--[\w-]+)\s*:", css))


def stylesheets(template: str) -> list[str]:
    html = (API / "templates" / template).read_text(encoding="utf-8")
    return re.findall(r'<link rel="stylesheet" href="/static/web/([\w.-]+\.css)', html)


def test_both_pages_load_the_tokens_first_and_only_files_that_exist() -> None:
    for template in ("index.html", "share.html"):
        sheets = stylesheets(template)
        assert sheets[0] == "tokens.css", (template, sheets)
        assert [name for name in sheets if not (WEB / name).is_file()] == [], template
    assert stylesheets("share.html") == ["tokens.css", "share-page.css"]


def test_the_colours_font_and_sizes_are_declared_once() -> None:
    tokens = declared(TOKENS.read_text(encoding="utf-8"))
    scripted = set_by_scripts()
    assert {"--zoom", "--split"} <= scripted
    assert {"--bg", "--text", "--muted", "--accent", "--focus", "--radius", "--gutter"} <= tokens
    for sheet in sorted(WEB.glob("*.css")):
        if sheet == TOKENS:
            continue
        css = sheet.read_text(encoding="utf-8")
        local = declared(css)  # a sheet's own, for its layout (compare's --cols)
        assert local & tokens == set(), sheet.name  # no copy of a token
        assert "prefers-color-scheme" not in css, sheet.name  # dark values: tokens.css's
        assert "font-family: system-ui" not in css, sheet.name  # the stack: tokens.css's
        used = set(re.findall(r"var\((--[\w-]+)", css))
        assert used - tokens - local - scripted == set(), sheet.name  # none undeclared
