"""Fallback between providers in the use cases and the TaskRunner, on the in-memory store.

The first route's provider is a scripted double that answers each call with the next error
of its script (or success); the fallback is the shipped fake provider.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
import stamina
from obstore.store import MemoryStore

from rendergate.blobs.base import BlobNotFound
from rendergate.blobs.objects import ObjectBlobStore
from rendergate.config.settings import Settings, load_settings
from rendergate.domain.apps import parse_apps
from rendergate.domain.errors import (
    AppUnavailable,
    Fault,
    InputsGone,
    InvalidInput,
    ProviderBusy,
    ProviderRejected,
    ProviderUnavailable,
)
from rendergate.domain.task import Skip, Task
from rendergate.providers.base import (
    InputFile,
    JobHandle,
    JobPhase,
    JobRequest,
    JobStatus,
    OutputRef,
    Provider,
    WebhookEvent,
)
from rendergate.providers.fake import FakeProvider
from rendergate.providers.local import LocalProvider
from rendergate.runtime.bootstrap import open_services
from rendergate.services.context import Services
from rendergate.services.creating import Creating, NewTask, Upload, create_task
from rendergate.services.routing import RunsHere
from rendergate.services.tasks import Cancelling, cancel_task
from rendergate.store.memory import MemoryTaskStore
from rendergate.testing import T0, ManualClock, RecordingOrchestrator
from rendergate.workflow.execution import Running, TaskRunner
from rendergate.workflow.outcomes import Finished, Moved, Submitted
from rendergate.workflow.provider_calls import Backoff
from rendergate.workflow.reconcile import Reconciling, reconcile
from rendergate.workflow.tracking import MAX_HINTED_RETRY_S, fault_backoff
from support.images import make_png

KEY = "k" * 32
APPS = parse_apps(
    {
        "apps": {
            "render": {
                "provider": "runninghub",
                "options": {"webapp_id": "42"},
                "bindings": [{"source": "image", "node_id": "112", "field": "image"}],
                "fallbacks": [{"provider": "fake", "options": {"note": "fallback"}}],
            },
            "only_hub": {"provider": "runninghub"},
            "nowhere": {"provider": "runninghub", "fallbacks": [{"provider": "aliyun"}]},
            "hub_or_preview": {"provider": "runninghub", "fallbacks": [{"provider": "local"}]},
        }
    }
)


@dataclass
class ScriptedHub:
    """A provider whose calls fail with the queued errors, then succeed."""

    name: str = "runninghub"
    upload_errors: deque[Exception] = field(default_factory=deque)
    submit_errors: deque[Exception] = field(default_factory=deque)
    calls: list[str] = field(default_factory=list)
    requests: list[JobRequest] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    during_calls: Callable[[str], Awaitable[None]] | None = None  # runs inside each call

    async def upload(self, file: InputFile) -> str:
        self.calls.append("upload")
        if self.during_calls is not None:
            await self.during_calls("upload")
        if self.upload_errors:
            raise self.upload_errors.popleft()
        return f"hub/{file.role}.{file.extension}"

    async def submit(self, request: JobRequest) -> JobHandle:
        self.calls.append("submit")
        if self.during_calls is not None:
            await self.during_calls("submit")
        if self.submit_errors:
            raise self.submit_errors.popleft()
        self.requests.append(request)
        return JobHandle(job_id=f"hub-{request.task_id}")

    async def status(self, job: JobHandle) -> JobStatus:
        return JobStatus(phase=JobPhase.SUCCEEDED, outputs=(OutputRef(locator="x"),))

    async def download(self, job: JobHandle, output: OutputRef) -> bytes:
        self.calls.append("download")
        if self.during_calls is not None:
            await self.during_calls("download")
        return make_png()

    async def cancel(self, job: JobHandle) -> bool:
        self.canceled.append(job.job_id)
        return True

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        return WebhookEvent(job_id="")

    def heard(self, job: JobHandle) -> None:
        return None

    async def aclose(self) -> None:
        return None


@dataclass
class World:
    services: Services
    store: MemoryTaskStore
    hub: ScriptedHub
    fake: FakeProvider
    clock: ManualClock
    runner: TaskRunner
    orchestrator: RecordingOrchestrator

    async def create(self, app: str = "render", **params: Any) -> Task:
        uploads = (Upload(role="image", data=make_png(), content_type="image/png"),)
        new = NewTask(app=app, params=params, uploads=uploads)
        return await create_task(new, self.services.unpack(Creating))


MakeWorld = Callable[..., Awaitable[World]]


@pytest.fixture
async def make_world() -> AsyncIterator[MakeWorld]:
    """Worlds wired by the composition root, with the in-memory parts passed in."""
    async with contextlib.AsyncExitStack() as stack:

        async def make(
            settings: Settings,
            *,
            providers: tuple[str, ...] = ("runninghub", "fake"),
            store: MemoryTaskStore | None = None,
        ) -> World:
            store = store or MemoryTaskStore()
            clock, hub, fake = ManualClock(), ScriptedHub(), FakeProvider()
            orchestrator = RecordingOrchestrator()
            available: dict[str, Provider] = {
                "runninghub": hub,
                "fake": fake,
                "local": LocalProvider(),
            }
            services = await stack.enter_async_context(
                open_services(
                    settings,
                    apps=APPS,
                    store=store,
                    blobs=ObjectBlobStore(MemoryStore()),
                    providers={name: available[name] for name in providers},
                    clock=clock,
                    orchestrator=orchestrator,
                )
            )
            runner = TaskRunner(services.unpack(Running))
            return World(services, store, hub, fake, clock, runner, orchestrator)

        yield make


@pytest.fixture
def hub_settings(settings: Settings) -> Settings:
    return load_settings(data_dir=settings.data_dir, runninghub_api_key=KEY)


@pytest.fixture
async def world(make_world: MakeWorld, hub_settings: Settings) -> World:
    return await make_world(hub_settings)


BUSY = ProviderBusy("the account's concurrent task limit is reached (421)", code="421")
DOWN = ProviderUnavailable("RunningHub answered HTTP 502", code="http502")
REFUSED_KEY = ProviderRejected("the API key was refused (802)", fault=Fault.CONFIG, code="802")
BAD_INPUT = ProviderRejected("RunningHub refused the parameters (301)", fault=Fault.USER)


async def test_a_busy_provider_hands_the_task_to_the_next_route_at_once(world: World) -> None:
    task = await world.create()
    world.hub.submit_errors.append(BUSY)
    moved = await world.runner.submit(task.task_id, task.workflow_id)
    assert moved == Moved("fake", f"task-{task.task_id}.1")
    assert world.hub.calls == ["upload", "submit"]  # no waiting for a slot
    stored = await world.store.get(task.task_id)
    assert (stored.provider, stored.status, stored.provider_job) == ("fake", "submitted", None)
    assert stored.skipped == (
        Skip(
            provider="runninghub",
            reason="runninghub is at its concurrency or quota limit: "
            "the account's concurrent task limit is reached (421)",
        ),
    )
    # The new route's workflow runs it on the fake, with the fallback's own options.
    job = await world.runner.submit(task.task_id, stored.workflow_id)
    assert isinstance(job, Submitted)
    await world.runner.collect(task.task_id, await world.runner.track(task.task_id))
    done = await world.store.get(task.task_id)
    assert (done.status, done.provider, done.skipped) == ("completed", "fake", stored.skipped)
    [request] = world.fake.submitted
    assert request.app.provider == "fake" and request.app.options == {"note": "fallback"}
    assert request.app.bindings == () and request.inputs == {"image": "fake-upload-1.png"}


async def test_refused_credentials_fall_back_and_count_on_the_circuit(world: World) -> None:
    task = await world.create()
    world.hub.upload_errors.append(REFUSED_KEY)
    assert (
        isinstance(moved := await world.runner.submit(task.task_id), Moved)
        and moved.provider == "fake"
    )
    assert world.hub.calls == ["upload"]
    [skip] = (await world.store.get(task.task_id)).skipped
    assert skip.reason == (
        "runninghub refused our credentials, account or app settings: the API key was refused (802)"
    )
    assert world.runner.circuits["runninghub/render"].failures == 1


async def test_a_provider_that_does_not_answer_is_tried_a_few_times_then_skipped(
    world: World,
) -> None:
    task = await world.create()
    world.hub.submit_errors.extend([DOWN] * 10)
    assert (
        isinstance(moved := await world.runner.submit(task.task_id), Moved)
        and moved.provider == "fake"
    )
    assert world.hub.calls == ["upload", "submit", "submit", "submit"]  # 3 in test mode
    [skip] = (await world.store.get(task.task_id)).skipped
    assert skip.reason == "runninghub did not answer after 3 attempts: RunningHub answered HTTP 502"


async def test_the_inputs_own_faults_never_fall_back(world: World) -> None:
    task = await world.create()
    world.hub.submit_errors.append(BAD_INPUT)
    assert await world.runner.submit(task.task_id) == Finished()
    failed = await world.store.get(task.task_id)
    assert (failed.status, failed.provider, failed.skipped) == ("failed", "runninghub", ())
    assert failed.error_message == (
        "the inputs were refused: RunningHub refused the parameters (301)"
    )
    assert world.fake.submitted == [] and world.runner.circuits["runninghub/render"].failures == 0


async def test_the_last_route_behaves_as_before(world: World) -> None:
    busy = await world.create(app="only_hub")
    world.hub.submit_errors.extend([BUSY] * 10)
    assert await world.runner.submit(busy.task_id) == Finished()  # waited (3 tries in test mode)
    failed = await world.store.get(busy.task_id)
    assert (failed.status, failed.skipped, failed.error_kind) == ("failed", (), "provider")
    assert failed.error_message == (
        "runninghub failed: the account's concurrent task limit is reached (421)"
    )
    assert world.hub.calls.count("submit") == 3
    refused = await world.create(app="only_hub")
    world.hub.upload_errors.append(REFUSED_KEY)
    assert await world.runner.submit(refused.task_id) == Finished()
    assert (await world.store.get(refused.task_id)).error_kind == "config"


async def test_a_fallback_not_configured_here_is_no_fallback(
    make_world: MakeWorld, hub_settings: Settings
) -> None:
    world = await make_world(hub_settings)
    task = await world.create(app="nowhere")  # its fallback, aliyun, has no key here
    world.hub.submit_errors.append(REFUSED_KEY)
    assert await world.runner.submit(task.task_id) == Finished()
    assert (await world.store.get(task.task_id)).status == "failed"


async def test_an_open_circuit_skips_the_provider_without_calling_it(world: World) -> None:
    for _ in range(3):
        task = await world.create()
        world.hub.upload_errors.append(REFUSED_KEY)
        assert isinstance(await world.runner.submit(task.task_id), Moved)
    calls = len(world.hub.calls)
    skipped = await world.create()
    assert await world.runner.submit(skipped.task_id) == Moved("fake", f"task-{skipped.task_id}.1")
    assert len(world.hub.calls) == calls
    [skip] = (await world.store.get(skipped.task_id)).skipped
    assert skip.reason == "circuit open: runninghub failed 3 times in a row for this app"
    # The last route is always tried, open circuit or not.
    last = await world.create(app="only_hub")
    await world.runner.submit(last.task_id)
    assert len(world.hub.calls) == calls + 2  # upload, submit
    # After the open period, one task tries again; its success closes the circuit.
    world.clock.advance(30)
    trial = await world.create()
    assert await world.runner.submit(trial.task_id) == Submitted()
    assert (await world.store.get(trial.task_id)).provider_job == JobHandle(
        job_id=f"hub-{trial.task_id}"
    )
    assert world.runner.circuits["runninghub/render"].opened_at is None


async def test_the_circuit_skips_only_while_open(world: World) -> None:
    for _ in range(3):
        task = await world.create()
        world.hub.submit_errors.append(REFUSED_KEY)
        await world.runner.submit(task.task_id)
    world.clock.advance(29)
    assert isinstance(await world.runner.submit((await world.create()).task_id), Moved)
    world.clock.advance(1)
    trial, waiting = await world.create(), await world.create()
    world.hub.submit_errors.append(REFUSED_KEY)  # the trial fails: open again
    assert isinstance(await world.runner.submit(trial.task_id), Moved)
    calls = len(world.hub.calls)
    assert isinstance(await world.runner.submit(waiting.task_id), Moved)
    assert len(world.hub.calls) == calls
    [skip] = (await world.store.get(waiting.task_id)).skipped
    assert skip.reason == "circuit open: runninghub failed 4 times in a row for this app"


async def test_a_workflow_the_task_moved_away_from_submits_nothing(world: World) -> None:
    task = await world.create()
    world.hub.submit_errors.append(BUSY)
    moved = await world.runner.submit(task.task_id, task.workflow_id)
    calls = list(world.hub.calls)
    # The old workflow runs its submit step again after a crash: it learns where the task went.
    assert await world.runner.submit(task.task_id, task.workflow_id) == moved
    assert world.hub.calls == calls and world.fake.submit_calls == 0


async def test_reconcile_starts_the_workflow_of_the_route_the_task_moved_to(world: World) -> None:
    task = await world.create()
    world.hub.submit_errors.append(BUSY)
    await world.runner.submit(task.task_id)
    world.orchestrator.started.clear()
    assert await reconcile(world.services.unpack(Reconciling)) == 1
    assert world.orchestrator.workflow_ids == [f"task-{task.task_id}.1"]


async def test_a_task_canceled_while_the_provider_was_busy_does_not_move(world: World) -> None:
    task = await world.create()
    current = await world.store.get(task.task_id)
    assert await world.store.save(current, current.cancel(now=T0)) is not None
    world.hub.submit_errors.append(BUSY)
    assert await world.runner.submit(task.task_id) == Finished()
    canceled = await world.store.get(task.task_id)
    assert (canceled.status, canceled.provider, canceled.skipped) == ("canceled", "runninghub", ())


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


async def test_inputs_the_provider_lost_are_uploaded_again(world: World) -> None:
    task = await world.create(app="only_hub")
    world.hub.submit_errors.append(InputsGone("the input x.png is no longer held here"))
    assert await world.runner.submit(task.task_id) == Submitted()
    assert world.hub.calls == ["upload", "submit", "upload", "submit"]
    assert (await world.store.get(task.task_id)).provider_job == JobHandle(
        job_id=f"hub-{task.task_id}"
    )


async def test_a_task_past_its_deadline_is_not_submitted(world: World) -> None:
    task = await world.create(app="only_hub")
    world.clock.advance(APPS["only_hub"].deadline_s)
    assert await world.runner.submit(task.task_id) == Finished()
    failed = await world.store.get(task.task_id)
    assert (failed.status, failed.error_kind) == ("failed", "timeout")
    assert world.hub.calls == []


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


# -- hardening: patient uploads, no job after a cancel, provider replies we cannot read -----


async def test_uploads_are_retried_as_patiently_as_the_submit(world: World) -> None:
    stamina.set_testing(False)  # real retries, with waits of a millisecond
    world.runner = TaskRunner(world.services.unpack(Running), Backoff(initial_s=0.001, max_s=0.002))
    task = await world.create(app="only_hub")
    world.hub.upload_errors.extend([DOWN] * 8)  # more than the 5 tries uploads once had
    assert await world.runner.submit(task.task_id) == Submitted()
    assert world.hub.calls == ["upload"] * 9 + ["submit"]
    assert (await world.store.get(task.task_id)).provider_job == JobHandle(
        job_id=f"hub-{task.task_id}"
    )


async def test_a_cancel_during_the_uploads_creates_no_job_upstream(world: World) -> None:
    task = await world.create(app="only_hub")

    async def cancel_meanwhile(call: str) -> None:
        await cancel_task(task.task_id, world.services.unpack(Cancelling))

    world.hub.during_calls = cancel_meanwhile
    assert await world.runner.submit(task.task_id) == Finished()
    assert "submit" not in world.hub.calls and world.hub.requests == []
    assert (await world.store.get(task.task_id)).status == "canceled"


async def test_an_unreadable_submit_reply_is_the_providers_error_and_is_not_resent(
    world: World,
) -> None:
    task = await world.create(app="only_hub")
    world.hub.submit_errors.append(KeyError("taskId"))  # code 0 without a task id
    assert await world.runner.submit(task.task_id) == Finished()
    failed = await world.store.get(task.task_id)
    assert (failed.status, failed.error_kind) == ("failed", "provider")
    assert failed.error_message == (
        "runninghub failed: runninghub sent a reply we could not read (KeyError)"
    )
    assert world.hub.calls.count("submit") == 1  # the job may exist: never paid for twice


async def test_upstream_text_is_scrubbed_of_the_key_and_cut_short(
    make_world: MakeWorld, hub_settings: Settings
) -> None:
    world = await make_world(hub_settings)  # its redactor holds the settings' key
    task = await world.create(app="only_hub")
    echo = f"bad request {{'apiKey': '{KEY}', 'x': '{'y' * 100_000}'}}\x00\x1b[31m"
    world.hub.submit_errors.append(ProviderRejected(echo, fault=Fault.USER))
    await world.runner.submit(task.task_id)
    failed = await world.store.get(task.task_id)
    assert KEY not in failed.error_message and "[redacted]" in failed.error_message
    assert len(failed.error_message) == 1000 and failed.error_message.endswith("…")
    assert "\x00" not in failed.error_message


async def test_a_cancel_during_the_download_keeps_no_result_file(world: World) -> None:
    task = await world.create(app="only_hub")
    await world.runner.submit(task.task_id)
    tracked = await world.runner.track(task.task_id)

    async def cancel_meanwhile(call: str) -> None:
        await cancel_task(task.task_id, world.services.unpack(Cancelling))

    world.hub.during_calls = cancel_meanwhile
    await world.runner.collect(task.task_id, tracked)
    assert world.hub.calls.count("download") == 1
    assert (await world.store.get(task.task_id)).status == "canceled"
    with pytest.raises(BlobNotFound):
        await world.services.blobs.get(f"results/{task.task_id}/0.png")


def test_failed_status_calls_back_off_briefly_once_a_webhook_came() -> None:
    waits, hinted = [0.5], [0.5]
    for _ in range(8):
        waits.append(fault_backoff(waits[-1], hinted=False))
        hinted.append(fault_backoff(hinted[-1], hinted=True))
    assert waits[1:] == [1, 2, 4, 8, 16, 30, 30, 30]
    assert hinted[1:] == [MAX_HINTED_RETRY_S] * 8 and MAX_HINTED_RETRY_S <= 1.0


async def test_a_second_execution_cancels_its_own_job_and_follows_the_recorded_one(
    world: World,
) -> None:
    task = await world.create(app="only_hub")
    first = JobHandle(job_id="hub-first-execution")

    async def the_other_execution_records_first(call: str) -> None:
        if call == "submit":  # a zombie worker's submit of the same attempt lands meanwhile
            await world.runner.writer.apply(
                task.task_id, lambda t: t.start(now=world.clock(), provider_job=first)
            )

    world.hub.during_calls = the_other_execution_records_first
    assert await world.runner.submit(task.task_id) == Submitted()  # following the row's job
    stored = await world.store.get(task.task_id)
    assert (stored.provider_job, stored.attempts) == (first, 1)  # not overwritten
    assert world.hub.canceled == [f"hub-{task.task_id}"]  # ours, not the one it records
