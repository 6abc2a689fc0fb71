"""The pure domain: the task's state machine, app definitions, and that it imports no I/O."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rendergate.domain.apps import AppSpec, NodeBinding, Route, parse_apps
from rendergate.domain.errors import Fault, InvalidInput, InvalidTransition
from rendergate.domain.task import ErrorKind, JobHandle, ResultFile, Task, TaskStatus

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)
T2 = T0 + timedelta(seconds=2)
OUT = (ResultFile(key="results/1/0.png", content_type="image/png", size=10),)
JOB = JobHandle(job_id="j-1", data={"attempt": 1})


def new_task(**changes: Any) -> Task:
    fields: dict[str, Any] = {"task_id": 2**40 + 7, "app": "fake", "provider": "fake"}
    fields |= {"created_at": T0, "updated_at": T0} | changes
    return Task(**fields)


def running() -> Task:
    return new_task().start(now=T1, provider_job=JOB)


def test_a_new_task_is_submitted_and_empty() -> None:
    task = new_task()
    assert (task.status, task.progress, task.attempts, task.version) == ("submitted", 0, 0, 0)
    assert task.provider_job is None and task.outputs == () and task.finished_at is None
    assert task.workflow_id == f"task-{2**40 + 7}"


def test_start_hands_the_job_over() -> None:
    task = new_task(queue_position=4)
    started = task.start(now=T1, provider_job=JOB)
    assert started.status is TaskStatus.PROCESSING
    assert started.provider_job == JOB
    assert (started.attempts, started.progress, started.queue_position) == (1, 1, None)
    assert started.updated_at == T1 and started.created_at == T0
    assert task.status is TaskStatus.SUBMITTED and task.provider_job is None  # not mutated


def test_start_again_after_a_lost_job_counts_attempts_and_keeps_progress() -> None:
    task = running().report(now=T1, progress=40).needs_resubmit(now=T2)
    assert task.provider_job is None and task.status is TaskStatus.PROCESSING
    assert task.updated_at == T2
    again = task.start(now=T2, provider_job=JobHandle(job_id="j-2"))
    assert (again.attempts, again.progress, again.provider_job) == (2, 40, JobHandle(job_id="j-2"))


def test_a_second_job_for_the_same_attempt_is_refused() -> None:
    task = running()
    with pytest.raises(InvalidTransition, match="already has job"):
        task.start(now=T1, provider_job=JobHandle(job_id="j-zombie"))


def test_report_moves_progress_forward_only_and_below_100() -> None:
    task = running().report(now=T1, progress=30, queue_position=2)
    assert (task.progress, task.queue_position) == (30, 2)
    assert task.report(now=T2, progress=10).progress == 30
    assert task.report(now=T2).progress == 30
    assert task.report(now=T2, progress=100).progress == 99
    assert task.report(now=T2, progress=500).report(now=T2, progress=50).progress == 99
    assert task.report(now=T2).queue_position is None


def test_complete_sets_100_outputs_cost_and_finish_time() -> None:
    task = running().report(now=T1, progress=99, queue_position=1)
    done = task.complete(now=T2, outputs=OUT, cost={"coins": 3})
    assert done.status is TaskStatus.COMPLETED and done.status.is_terminal
    assert (done.progress, done.outputs, done.cost) == (100, OUT, {"coins": 3})
    assert (done.finished_at, done.updated_at, done.queue_position) == (T2, T2, None)


def test_complete_without_a_cost_keeps_the_earlier_one() -> None:
    task = new_task(cost={"coins": 1})
    assert task.complete(now=T1, outputs=OUT).cost == {"coins": 1}


def test_complete_without_outputs_refuses() -> None:
    with pytest.raises(InvalidTransition, match="without a result"):
        running().complete(now=T2, outputs=())


def test_fail_records_message_and_kind() -> None:
    failed = running().fail(now=T2, message="boom", kind=ErrorKind.USER)
    assert failed.status is TaskStatus.FAILED
    assert (failed.error_message, failed.error_kind, failed.finished_at) == (
        "boom",
        ErrorKind.USER,
        T2,
    )
    assert new_task().fail(now=T1, message="x").error_kind is ErrorKind.PROVIDER
    assert new_task().error_kind is ErrorKind.NONE


def test_each_fault_is_an_error_kind_of_the_same_text() -> None:
    """A provider error fails its task with its Fault as the kind: one value per fault,
    spelled the same, so the stored text says whose fault it was either way."""
    for fault in Fault:
        assert ErrorKind.of(fault).value == fault.value
    assert {ErrorKind.of(fault) for fault in Fault} == {
        ErrorKind.USER,
        ErrorKind.PROVIDER,
        ErrorKind.CONFIG,
    }


def test_cancel_from_submitted_and_processing() -> None:
    for task in (new_task(queue_position=3), running()):
        canceled = task.cancel(now=T2)
        assert canceled.status is TaskStatus.CANCELED
        assert canceled.error_kind is ErrorKind.CANCELED
        assert canceled.error_message == "canceled by request"
        assert (canceled.finished_at, canceled.queue_position) == (T2, None)
    assert new_task().cancel(now=T1, message="by provider").error_message == "by provider"


TRANSITIONS: dict[str, Callable[[Task], Task]] = {
    "start": lambda t: t.start(now=T2, provider_job=JOB),
    "report": lambda t: t.report(now=T2, progress=50),
    "complete": lambda t: t.complete(now=T2, outputs=OUT),
    "fail": lambda t: t.fail(now=T2, message="late"),
    "cancel": lambda t: t.cancel(now=T2),
    "needs_resubmit": lambda t: t.needs_resubmit(now=T2),
}
FINISHED: dict[str, Callable[[], Task]] = {
    "completed": lambda: running().complete(now=T1, outputs=OUT),
    "failed": lambda: running().fail(now=T1, message="boom"),
    "canceled": lambda: new_task().cancel(now=T1),
}


@pytest.mark.parametrize("finished", FINISHED)
@pytest.mark.parametrize("transition", TRANSITIONS)
def test_a_finished_task_refuses_every_transition(finished: str, transition: str) -> None:
    task = FINISHED[finished]()
    with pytest.raises(InvalidTransition, match=f"it is {finished}"):
        TRANSITIONS[transition](task)


def test_is_terminal() -> None:
    assert [s.value for s in TaskStatus if s.is_terminal] == ["completed", "failed", "canceled"]
    assert [s.value for s in TaskStatus if not s.is_terminal] == ["submitted", "processing"]


GOOD_APPS: dict[str, Any] = {
    "apps": {
        "render": {
            "provider": "runninghub",
            "title": "Render",
            "description": "d",
            "requires_reference": True,
            "deadline_s": 60,
            "angles": ["front", "top"],
            "bindings": [{"source": "image", "node_id": 112, "field": "image"}],
            "options": {"webapp_id": "42"},
        },
        "bare": {"provider": "local"},
    }
}


def test_parse_apps_reads_every_field_and_defaults() -> None:
    apps = parse_apps(GOOD_APPS)
    assert set(apps) == {"render", "bare"}
    render = apps["render"]
    assert render == AppSpec(
        name="render",
        routes=(
            Route(
                provider="runninghub",
                bindings=(NodeBinding(source="image", node_id="112", field="image"),),
                options={"webapp_id": "42"},
            ),
        ),
        title="Render",
        label="Render",
        description="d",
        reference="required",
        deadline_s=60.0,
        angles=("front", "top"),
    )
    bare = apps["bare"]
    assert (bare.provider, bare.deadline_s, bare.reference) == ("local", 1800.0, "optional")
    assert (bare.requires_reference, bare.seed, bare.params, bare.label) == (
        False,
        False,
        (),
        "bare",
    )
    assert (bare.angles, bare.bindings, dict(bare.options), bare.title) == ((), (), {}, "")
    assert parse_apps({}) == {}


@pytest.mark.parametrize(
    ("document", "match"),
    [
        ({"apps": ["x"]}, "must be a table"),
        ({"apps": {"a": "local"}}, "'a' must be a table"),
        ({"apps": {"a": {"title": "no provider"}}}, "'a' is malformed"),
        ({"apps": {"a": {"provider": "p", "deadline_s": "soon"}}}, "malformed"),
        ({"apps": {"a": {"provider": "p", "bindings": [{"source": "image"}]}}}, "malformed"),
        ({"apps": {"a": {"provider": "p", "bindings": ["image"]}}}, "malformed"),
        ({"apps": {"a": {"provider": "p", "bindings": 3}}}, "malformed"),
        ({"apps": {"a": {"provider": "p", "options": 3}}}, "malformed"),
        ({"apps": {"a": {"provider": "p", "requires_reference": "false"}}}, "true or false"),
        ({"apps": {"a": {"provider": "p", "angles": "front"}}}, "list of strings"),
    ],
)
def test_parse_apps_refuses_malformed_documents(document: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_apps(document)


def test_check_request() -> None:
    apps = parse_apps(GOOD_APPS)
    apps["render"].check_request(angle="top", has_reference=True)
    apps["bare"].check_request(angle="anything", has_reference=False)
    with pytest.raises(InvalidInput, match="needs a reference") as missing:
        apps["render"].check_request(angle="front", has_reference=False)
    assert missing.value.field == "reference"
    with pytest.raises(InvalidInput, match="'side' is not one of front, top") as angle:
        apps["render"].check_request(angle="side", has_reference=True)
    assert angle.value.field == "angle"


def test_the_domain_imports_no_framework_or_io() -> None:
    code = (
        "import sys\n"
        "import rendergate.domain.task, rendergate.domain.apps, rendergate.domain.errors\n"
        "banned = {'fastapi', 'starlette', 'sqlalchemy', 'dbos', 'aiohttp', 'obstore', 'PIL',"
        " 'pydantic'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in banned))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout
