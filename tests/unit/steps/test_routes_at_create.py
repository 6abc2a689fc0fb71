"""Which route a task starts on: create picks the first route whose provider runs here,
checks the params with that route's provider, and asks what submit asks; a provider whose
settings went away after a restart is skipped, or named when it was the last route."""

from __future__ import annotations

import pytest

from rendergate.config.settings import Settings
from rendergate.domain.errors import AppUnavailable, InvalidInput
from rendergate.domain.task import Skip
from rendergate.services.routing import RunsHere
from rendergate.workflow.outcomes import Finished, Moved
from support.steps import APPS, MakeWorld


async def test_create_starts_on_the_first_route_configured_here(
    make_world: MakeWorld, settings: Settings
) -> None:
    world = await make_world(settings, providers=("fake",))  # no RunningHub key
    task = await world.create()
    assert (task.provider, task.workflow_id) == ("fake", f"task-{task.task_id}.1")
    assert task.skipped == (
        Skip(
            provider="runninghub",
            reason="provider 'runninghub' is not configured: set RENDERGATE_RUNNINGHUB_API_KEY",
        ),
    )
    assert world.orchestrator.workflow_ids == [task.workflow_id]
    with pytest.raises(AppUnavailable, match="'runninghub' is not configured") as refused:
        await world.create(app="nowhere")
    assert refused.value.field == "type"


async def test_create_checks_params_with_the_route_chosen(
    make_world: MakeWorld, settings: Settings, hub_settings: Settings
) -> None:
    strong = {"strength": 7}  # too strong for the local preview; RunningHub checks nothing
    with pytest.raises(InvalidInput) as refused:
        await (await make_world(settings, providers=("fake", "local"))).create(
            app="hub_or_preview", **strong
        )
    assert refused.value.field == "params.strength"
    task = await (await make_world(hub_settings)).create(app="hub_or_preview", **strong)
    assert (task.provider, task.skipped) == ("runninghub", ())


async def test_create_asks_what_submit_asks_whether_a_provider_runs_here(
    make_world: MakeWorld, settings: Settings
) -> None:
    """A provider the settings allow but this process did not build (local, here) is no
    route at create either: the task is refused rather than queued for a route whose
    submit would find nothing to run it."""
    world = await make_world(settings, providers=("fake",))
    with pytest.raises(AppUnavailable, match="'runninghub' is not configured"):
        await world.create(app="hub_or_preview")
    here = RunsHere(world.services.providers, world.services.settings)
    assert here.reason("local") == "provider 'local' is not running here"
    assert here.reason("fake") is None and here.runs("fake")
    assert here.reason("runninghub") == (
        "provider 'runninghub' is not configured: set RENDERGATE_RUNNINGHUB_API_KEY"
    )
    assert here.availability(APPS["render"]) == ("fake", None)
    assert here.availability(APPS["nowhere"]) == ("runninghub", here.reason("runninghub"))


async def test_a_provider_whose_settings_went_away_is_skipped_or_named(
    make_world: MakeWorld, settings: Settings, hub_settings: Settings
) -> None:
    before = await make_world(hub_settings)
    moved, stranded = await before.create(), await before.create(app="only_hub")
    # restarted without the RunningHub key, on the same database
    after = await make_world(settings, providers=("fake",), store=before.store)
    assert (await after.runner.submit(moved.task_id)) == Moved("fake", f"task-{moved.task_id}.1")
    assert await after.runner.submit(stranded.task_id) == Finished()
    failed = await before.store.get(stranded.task_id)
    assert (failed.status, failed.error_kind) == ("failed", "config")
    assert failed.error_message == (
        "provider 'runninghub' is not configured: set RENDERGATE_RUNNINGHUB_API_KEY"
    )
    [skip] = (await before.store.get(moved.task_id)).skipped
    assert skip.reason == failed.error_message
