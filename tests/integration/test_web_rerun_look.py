"""Re-running in another look, in a real browser at desktop and phone sizes: the Re-run
panel of a task's page and of the compare view offers the task's own look (chosen) and each
preset by its label; picking one sets the settings to the preset's, and the re-run's new
task names that preset (read back from the API) and its result is shown. The open panel is
audited with axe."""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import Browser, expect
from test_web_choose import ENDED, LONG, api, settled

from support.a11y import audit, needs_axe
from support.browser import SHOT, VIEWPORTS, loaded_width, needs_chromium, visit
from support.server import RunningServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), needs_chromium, needs_axe]


def shot_form(**fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("image", SHOT.read_bytes(), filename="front.jpg", content_type="image/jpeg")
    for key, value in fields.items():
        form.add_field(key, value)
    return form


async def expected_looks(server: RunningServer, own: str, skip: str = "") -> list[str]:
    """The panel's options as GET /presets and GET /apps say: its own look, then each
    render preset by its label, greyed with the reason when its app cannot run here."""
    apps = {app["name"]: app for app in await api(server, "GET", "/apps")}
    options = [own]
    for preset in await api(server, "GET", "/presets"):
        if preset["name"] == skip:
            continue
        available = apps[preset["type"]]["available"]
        options.append(preset["label"] + ("" if available else ": not available here"))
    return options


async def test_a_task_is_rerun_in_another_look_chosen_by_its_label(
    server: RunningServer, browser: Browser, viewport: str
) -> None:
    made = await api(
        server, "POST", "/tasks", data=shot_form(type="preview", params='{"strength": 0.3}')
    )
    original = await settled(server, f"/tasks/{made['task_id']}?include_base64=false", ENDED)
    assert (original["status"], original["preset"]) == ("completed", "")
    width, height = VIEWPORTS[viewport]
    seen = await visit(
        browser, server.url, width=width, height=height, route=f"#/tasks/{made['task_id']}"
    )
    page = seen.page
    await page.get_by_role("button", name="Re-run…").click()
    panel = page.locator(".rerun")
    look = panel.get_by_label("Look", exact=True)
    await expect(panel.locator(".rerun-look[data-ready=true]")).to_have_count(1)
    options = await look.locator("option").all_inner_texts()
    assert options == await expected_looks(server, "Its own, as it ran")
    assert options[1:4] == ["Clear noon", "Dusk", "Overcast"]  # labels, not ids
    await expect(look).to_have_value("")  # the task's own look is the one chosen
    strength = panel.get_by_label(re.compile(r"^Tone strength"))
    await expect(strength).to_have_value("0.3")
    await audit(page, f"rerun-look-{viewport}")

    await look.select_option(label="Dusk")
    await expect(strength).to_have_value("0.9")  # the preset's settings
    await seen.screenshot(f"rerun-look-{viewport}")
    async with page.expect_response(lambda r: r.url.endswith("/rerun")) as answer:
        await panel.get_by_role("button", name="Run again").click()
    assert (await answer.value).status == 201
    new_id = (await (await answer.value).json())["data"]["task_id"]
    rerun = await settled(server, f"/tasks/{new_id}?include_base64=false", ENDED)
    assert (rerun["status"], rerun["preset"], rerun["preset_version"]) == ("completed", "dusk", 1)
    assert (rerun["rerun_of"], rerun["seed"]) == (original["task_id"], original["seed"])
    assert rerun["params"]["strength"] == 0.9

    await expect(page).to_have_url(re.compile(rf"#/tasks/{new_id}$"))
    await expect(page.locator(".task-status")).to_have_text("Done", timeout=LONG)
    after = page.get_by_role("img", name=re.compile(r"^Render: "))
    assert await loaded_width(after, LONG) == 800
    assert f"{server.url}/tasks/{new_id}/image" in seen.requests  # the new result shown
    look_used = page.locator(".facts dt", has_text="Look").locator("xpath=following-sibling::dd[1]")
    await expect(look_used).to_have_text("Dusk (dusk v1)")  # by its label, as the App row

    # its own panel offers dusk as its own look, chosen, and the others besides
    await page.get_by_role("button", name="Re-run…").click()
    await expect(panel.locator(".rerun-look[data-ready=true]")).to_have_count(1)
    options = await look.locator("option").all_inner_texts()
    assert options == await expected_looks(server, "Dusk, as it ran", skip="dusk")
    await expect(look).to_have_value("")
    if viewport == "phone":
        assert await seen.no_horizontal_scroll()
    seen.assert_clean()


async def test_a_compared_variation_is_rerun_in_another_look(
    server: RunningServer, browser: Browser, viewport: str
) -> None:
    form = shot_form(type="preview", angle="front", preset="dusk", name="Villa")
    batch = await api(server, "POST", "/batches", data=form)
    batch = await settled(server, f"/batches/{batch['batch_id']}", ENDED)
    (task,) = batch["tasks"]
    width, height = VIEWPORTS[viewport]
    route = f"#/batches/{batch['batch_id']}/views/1"
    seen = await visit(browser, server.url, width=width, height=height, route=route)
    page = seen.page
    await page.get_by_role("button", name="Re-run View 1 · v1").click()
    panel = page.locator(".rerun")
    look = panel.get_by_label("Look", exact=True)
    await expect(panel.locator(".rerun-look[data-ready=true]")).to_have_count(1)
    await expect(look.locator("option:checked")).to_have_text("Dusk, as it ran")
    await look.select_option(label="Overcast")
    await expect(panel.get_by_label(re.compile(r"^Smoothing"))).to_have_value("0.6")
    await audit(page, f"compare-rerun-look-{viewport}")
    async with page.expect_response(lambda r: r.url.endswith("/rerun")) as answer:
        await panel.get_by_role("button", name="Run again").click()
    assert (await answer.value).status == 201
    new_id = (await (await answer.value).json())["data"]["task_id"]
    rerun = await settled(server, f"/tasks/{new_id}?include_base64=false", ENDED)
    assert (rerun["preset"], rerun["rerun_of"], rerun["status"]) == (
        "overcast",
        task["task_id"],
        "completed",
    )
    assert (rerun["params"]["strength"], rerun["params"]["smoothing"]) == (0.7, 0.6)
    pane = page.locator(f'.pane[data-task-id="{new_id}"]')
    await expect(pane.locator("strong")).to_have_text("View 1 · v1 · re-run 1")
    assert await loaded_width(pane.locator("img"), LONG) > 0
    await seen.screenshot(f"compare-rerun-look-{viewport}")
    if viewport == "phone":
        assert await seen.no_horizontal_scroll()
    seen.assert_clean()
