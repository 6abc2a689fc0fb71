"""Fallback between providers, the pure parts: app routes, Task.fall_back, the circuit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rendergate.domain.apps import AppSpec, NodeBinding, Route, parse_apps
from rendergate.domain.errors import InvalidTransition
from rendergate.domain.task import Skip, Task, TaskStatus
from rendergate.workflow.circuit import Circuit, Circuits

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)
T2 = T0 + timedelta(seconds=2)
ID = 2**40 + 7

RENDER: dict[str, Any] = {
    "provider": "runninghub",
    "title": "Render",
    "deadline_s": 60,
    "bindings": [{"source": "image", "node_id": 112, "field": "image"}],
    "options": {"webapp_id": "42"},
    "fallbacks": [
        {
            "provider": "aliyun",
            "bindings": [{"source": "image", "node_id": "12", "field": "image"}],
            "options": {"workflow_id": "su_render"},
        },
        {"provider": "local"},
    ],
}


# -- apps ------------------------------------------------------------------------------------


def test_fallbacks_are_parsed_in_order_after_the_apps_own_route() -> None:
    app = parse_apps({"apps": {"render": RENDER}})["render"]
    assert (app.provider, app.options, app.deadline_s) == ("runninghub", {"webapp_id": "42"}, 60)
    assert app.routes == (
        Route(
            provider="runninghub",
            bindings=(NodeBinding(source="image", node_id="112", field="image"),),
            options={"webapp_id": "42"},
        ),
        Route(
            provider="aliyun",
            bindings=(NodeBinding(source="image", node_id="12", field="image"),),
            options={"workflow_id": "su_render"},
        ),
        Route(provider="local"),
    )
    assert app.after("runninghub") == ("aliyun", "local")
    assert app.after("local") == () and app.after("fake") == ()


def test_an_app_without_fallbacks_has_one_route() -> None:
    app = parse_apps({"apps": {"bare": {"provider": "local"}}})["bare"]
    assert app.routes == (Route(provider="local"),)
    assert (app.provider, app.bindings, dict(app.options)) == ("local", (), {})


def test_on_gives_the_adapter_the_app_as_that_route_sees_it() -> None:
    app = parse_apps({"apps": {"render": RENDER}})["render"]
    on_aliyun = app.on("aliyun")
    assert on_aliyun.routes == (app.routes[1],) and on_aliyun.provider == "aliyun"
    assert on_aliyun.options == {"workflow_id": "su_render"}
    assert on_aliyun.bindings == (NodeBinding(source="image", node_id="12", field="image"),)
    assert (on_aliyun.name, on_aliyun.title, on_aliyun.deadline_s) == ("render", "Render", 60)
    on_local = app.on("local")
    assert (on_local.bindings, dict(on_local.options)) == ((), {})
    first = app.on("runninghub")
    assert (first.provider, first.options, first.bindings) == (
        app.provider,
        app.options,
        app.bindings,
    )
    with pytest.raises(ValueError, match="no route on provider 'fake'"):
        app.on("fake")


@pytest.mark.parametrize(
    ("fallbacks", "match"),
    [
        (
            [{"provider": "runninghub"}],
            "app 'render' names provider 'runninghub' more than once; each provider may appear "
            "only once among an app's routes",
        ),
        ([{"provider": "local"}, {"provider": "local"}], "names provider 'local' more than once"),
        ({"provider": "local"}, r"fallbacks must be tables \(\[\[apps.render.fallbacks\]\]\)"),
        (["local"], "fallbacks must be tables"),
        ([{"options": {}}], "'render' is malformed"),
        ([{"provider": "local", "bindings": [{"source": "image"}]}], "malformed"),
        ([{"provider": "local", "deadline_s": 5}], "fallback 1 has unknown keys deadline_s"),
    ],
)
def test_bad_fallbacks_are_refused_with_a_clear_message(fallbacks: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_apps({"apps": {"render": {**RENDER, "fallbacks": fallbacks}}})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("deadline_s", 1e308),  # a task's deadline would overflow its date
        ("deadline_s", float("inf")),
        ("deadline_s", 0),
        ("retention_days", 1e308),  # once a traceback at start
        ("retention_days", float("nan")),
    ],
)
def test_a_duration_past_what_a_date_holds_is_refused(key: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"app 'render': {key} must be a number of "):
        parse_apps({"apps": {"render": {**RENDER, key: value}}})


def test_an_app_built_in_code_refuses_a_provider_twice_too() -> None:
    with pytest.raises(ValueError, match="'fake' more than once"):
        AppSpec(name="a", routes=(Route(provider="fake"), Route(provider="fake")))
    with pytest.raises(ValueError, match="app 'a' has no route"):
        AppSpec(name="a", routes=())


# -- Task.fall_back --------------------------------------------------------------------------


def new_task(**changes: Any) -> Task:
    fields: dict[str, Any] = {"task_id": ID, "app": "render", "provider": "runninghub"}
    fields |= {"created_at": T0, "updated_at": T0} | changes
    return Task(**fields)


def test_fall_back_records_the_skip_and_returns_the_task_to_our_queue() -> None:
    task = new_task(queue_position=3, progress=2)
    moved = task.fall_back(now=T1, to="aliyun", reason="runninghub is busy")
    assert (moved.provider, moved.status, moved.provider_job) == ("aliyun", "submitted", None)
    assert moved.skipped == (Skip(provider="runninghub", reason="runninghub is busy"),)
    assert (moved.queue_position, moved.progress, moved.updated_at) == (None, 2, T1)
    assert task.skipped == () and task.provider == "runninghub"  # not mutated


def test_a_processing_task_that_lost_its_job_can_fall_back() -> None:
    started = new_task().start(now=T1, provider_job={"job_id": "j"})
    lost = started.needs_resubmit(now=T1)
    moved = lost.fall_back(now=T2, to="local", reason="busy")
    assert (moved.status, moved.provider, moved.attempts) == (TaskStatus.SUBMITTED, "local", 1)


def test_each_route_gets_its_own_workflow_id() -> None:
    task = new_task()
    assert task.workflow_id == f"task-{ID}"
    once = task.fall_back(now=T1, to="aliyun", reason="a")
    twice = once.fall_back(now=T2, to="local", reason="b")
    assert (once.workflow_id, twice.workflow_id) == (f"task-{ID}.1", f"task-{ID}.2")
    assert [s.provider for s in twice.skipped] == ["runninghub", "aliyun"]


def test_fall_back_refuses_a_finished_task_and_a_provider_tried_already() -> None:
    with pytest.raises(InvalidTransition, match="it is canceled"):
        new_task().cancel(now=T1).fall_back(now=T2, to="local", reason="x")
    moved = new_task().fall_back(now=T1, to="local", reason="x")
    for provider in ("local", "runninghub"):
        with pytest.raises(InvalidTransition, match="tried already"):
            moved.fall_back(now=T2, to=provider, reason="y")


# -- the circuit -----------------------------------------------------------------------------


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_circuit_opens_after_n_failures_in_a_row() -> None:
    circuit = Circuit(3, timedelta(seconds=30))
    circuit.failed(at(0))
    circuit.failed(at(1))
    assert circuit.allows(at(2)) and circuit.opened_at is None
    circuit.failed(at(2))
    assert circuit.opened_at == at(2) and circuit.failures == 3
    assert not circuit.allows(at(2)) and not circuit.allows(at(31.9))


def test_a_success_resets_the_count() -> None:
    circuit = Circuit(3, timedelta(seconds=30))
    for _ in range(2):
        circuit.failed(at(0))
    circuit.succeeded()
    circuit.failed(at(1))
    circuit.failed(at(1))
    assert circuit.allows(at(1)) and circuit.failures == 2


def test_after_the_open_period_one_trial_goes_through_and_its_success_closes() -> None:
    circuit = Circuit(2, timedelta(seconds=30))
    circuit.failed(at(0))
    circuit.failed(at(0))
    assert circuit.allows(at(30))  # half-open: the trial
    assert not circuit.allows(at(30)) and not circuit.allows(at(45))  # one at a time
    circuit.succeeded()
    assert circuit.allows(at(45)) and circuit.allows(at(45))
    assert (circuit.failures, circuit.opened_at) == (0, None)


def test_a_failed_trial_opens_the_circuit_for_another_period() -> None:
    circuit = Circuit(2, timedelta(seconds=30))
    circuit.failed(at(0))
    circuit.failed(at(0))
    assert circuit.allows(at(31))
    circuit.failed(at(32))
    assert circuit.failures == 3 and circuit.opened_at == at(32)
    assert not circuit.allows(at(61)) and circuit.allows(at(62))


def test_a_trial_that_never_reports_frees_its_slot_after_another_period() -> None:
    circuit = Circuit(1, timedelta(seconds=30))
    circuit.failed(at(0))
    assert circuit.allows(at(30))  # this trial's task is canceled and never reports
    assert not circuit.allows(at(59))
    assert circuit.allows(at(60))


def test_circuits_are_per_provider() -> None:
    circuits = Circuits(failures_to_open=1, open_s=10)
    circuits["runninghub"].failed(at(0))
    assert not circuits["runninghub"].allows(at(5))
    assert circuits["aliyun"].allows(at(5))
    assert circuits["runninghub"] is circuits["runninghub"]
    assert circuits["aliyun"].open_for == timedelta(seconds=10)
