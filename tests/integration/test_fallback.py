"""Fallback between providers end to end: the real app, DBOS on SQLite, the RunningHub
emulator as the first route and the scripted fake as the fallback."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS

from rendergate.blobs.objects import ObjectBlobStore
from rendergate.config.settings import Settings, load_settings
from rendergate.domain.task import InputRef, Task
from rendergate.providers.fake import FakeProvider
from rendergate.runtime.bootstrap import open_services
from rendergate.services.context import utc_now
from rendergate.store.sql import SqlTaskStore, create_engine, migrate
from rendergate_emulators.runninghub import InjectedFault, RunningHubEmulator
from support.hub import KEY, hub_settings
from support.images import make_png, make_scene
from support.pg import fresh_database, pg_url_or_skip
from support.process import free_port
from support.server import RunningServer, serve
from support.waiting import until

WRONG_KEY = "fedcba9876543210fedcba9876543210"
APPS = Path(__file__).parents[1] / "support" / "fallback_apps.toml"
pytestmark = pytest.mark.emulator(run_s=0.2)


def routed(settings: Settings, emu: RunningHubEmulator, **extra: Any) -> Settings:
    """Settings for the apps with fallback routes, RunningHub being the emulator."""
    return hub_settings(settings, emu, apps_file=APPS, **extra)


async def create(server: RunningServer, app: str = "rh_or_fake", **params: Any) -> dict[str, Any]:
    body = {"type": app, "image_base64": base64.b64encode(make_scene(64, 48)).decode()}
    async with server.http.post(f"{server.url}/tasks", json=body | {"params": params}) as response:
        created = await response.json()
        assert response.status == 201, created
        return created["data"]  # type: ignore[no-any-return]


def hub_requests(emu: RunningHubEmulator) -> int:
    return sum(emu.stats.requests_by_path.values())


async def test_a_busy_runninghub_hands_the_task_to_the_fallback(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.inject(InjectedFault.CODE, path="/task/openapi/ai-app/run", code=421, times=None)
    async with serve(routed(settings, emulator)) as server:
        task_id = (await create(server))["task_id"]
        task = await server.wait_finished(task_id)
        assert (task["status"], task["provider"], task["progress"]) == ("completed", "fake", 100)
        assert task["skipped_providers"] == [
            {
                "provider": "runninghub",
                "reason": "runninghub is at its concurrency or quota limit: the account's "
                "concurrent task limit is reached (421): TASK_QUEUE_MAXED",
            }
        ]
        assert emulator.stats.codes_by_path["/task/openapi/ai-app/run"][421] == 1  # no waiting
        fake = server.services.providers["fake"]
        assert isinstance(fake, FakeProvider) and [r.task_id for r in fake.submitted] == [task_id]
        # Each route ran as its own workflow, on its own provider's queue.
        first = await DBOS.get_workflow_status_async(f"task-{task_id}")
        assert first is not None
        assert (first.status, first.queue_name, first.output) == (
            "SUCCESS",
            "provider:runninghub",
            "moved",
        )

        async def second_workflow_ended() -> tuple[str, str | None] | None:
            """The task's row ends before its workflow's finish step and outcome are recorded."""
            second = await DBOS.get_workflow_status_async(f"task-{task_id}.1")
            assert second is not None
            ended = second.status != "PENDING"
            return (second.status, second.queue_name) if ended else None

        ended = await until(second_workflow_ended, 10, "the fallback's workflow to end")
        assert ended == ("SUCCESS", "provider:fake")
        async with server.http.get(f"{server.url}/tasks/{task_id}/image") as response:
            assert response.status == 200 and response.content_type == "image/png"


async def test_refused_credentials_fall_back_without_the_key_in_the_reason(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    configured = routed(settings, emulator, runninghub_api_key=WRONG_KEY)
    async with serve(configured) as server:
        task = await server.wait_finished((await create(server))["task_id"])
        async with server.http.get(f"{server.url}/tasks/{task['task_id']}") as response:
            raw = await response.text()
    assert (task["status"], task["provider"]) == ("completed", "fake")
    [skip] = task["skipped_providers"]
    assert skip["provider"] == "runninghub"
    assert skip["reason"].startswith(
        "runninghub refused our credentials, account or app settings: "
    )
    assert "(802)" in skip["reason"]
    assert WRONG_KEY not in raw and KEY not in raw
    assert emulator.stats.codes_by_path["/task/openapi/upload"][802] == 1


@pytest.mark.slow  # waits out RunningHub's refusals, one by one
async def test_an_open_circuit_skips_runninghub_without_calling_it(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    configured = routed(settings, emulator, runninghub_api_key=WRONG_KEY)
    async with serve(configured) as server:
        for _ in range(3):
            task = await server.wait_finished((await create(server))["task_id"])
            assert task["status"] == "completed"
            assert "credentials" in task["skipped_providers"][0]["reason"]
        calls = hub_requests(emulator)
        assert calls == 3
        task = await server.wait_finished((await create(server))["task_id"])
        assert (task["status"], task["provider"]) == ("completed", "fake")
        assert task["skipped_providers"] == [
            {
                "provider": "runninghub",
                "reason": "circuit open: runninghub failed 3 times in a row for this app",
            }
        ]
        assert hub_requests(emulator) == calls


async def test_the_inputs_own_fault_does_not_fall_back(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.inject(InjectedFault.CODE, path="/task/openapi/ai-app/run", code=301, times=1)
    async with serve(routed(settings, emulator)) as server:
        task = await server.wait_finished((await create(server))["task_id"])
        fake = server.services.providers["fake"]
        assert isinstance(fake, FakeProvider) and fake.submitted == []
    assert (task["status"], task["provider"], task["skipped_providers"]) == (
        "failed",
        "runninghub",
        [],
    )
    assert task["error_message"].startswith("the inputs were refused: RunningHub refused")


async def test_the_fallbacks_own_failure_fails_the_task_and_keeps_the_skip(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    emulator.inject(InjectedFault.CODE, path="/task/openapi/ai-app/run", code=421, times=None)
    async with serve(routed(settings, emulator)) as server:
        created = await create(server, fake={"reject": "no walls in this picture"})
        task = await server.wait_finished(created["task_id"])
    assert (task["status"], task["provider"]) == ("failed", "fake")
    assert task["error_message"] == "the inputs were refused: no walls in this picture"
    assert [s["provider"] for s in task["skipped_providers"]] == ["runninghub"]


async def test_an_unconfigured_first_route_starts_the_task_on_the_fallback(
    settings: Settings,
) -> None:
    configured = load_settings(data_dir=settings.data_dir, apps_file=APPS)  # no RunningHub key
    async with serve(configured) as server:
        created = await create(server)
        assert created["provider"] == "fake"
        skipped = [
            {
                "provider": "runninghub",
                "reason": "provider 'runninghub' is not configured: "
                "set RENDERGATE_RUNNINGHUB_API_KEY",
            }
        ]
        assert created["skipped_providers"] == skipped
        task = await server.wait_finished(created["task_id"])
        assert (task["status"], task["skipped_providers"]) == ("completed", skipped)
        async with server.http.get(f"{server.url}/apps") as response:
            apps = {a["name"]: a for a in (await response.json())["data"]}
        assert apps["rh_or_fake"]["available"] is True
        assert apps["rh_or_fake"]["provider"] == "fake"


async def test_a_restart_after_the_fall_back_runs_the_new_route(
    settings: Settings, emulator: RunningHubEmulator
) -> None:
    """The worker died after recording the fall back and before queuing the new workflow:
    the row says `fake`, no workflow exists for that route. The next start finds it."""
    configured = routed(settings, emulator)
    configured.data_dir.mkdir(parents=True)
    engine = create_engine(configured.task_database_url)
    await migrate(engine)
    now = utc_now()
    task_id, key = 2**50 + 99, f"inputs/{2**50 + 99}/image.png"
    await ObjectBlobStore.local(configured.data_dir / "blobs").put(key, make_png())
    moved = Task(
        task_id=task_id,
        app="rh_or_fake",
        provider="runninghub",
        inputs={"image": InputRef(key=key, content_type="image/png")},
        created_at=now,
        updated_at=now,
    ).fall_back(now=now, to="fake", reason="runninghub is at its concurrency or quota limit")
    await SqlTaskStore(engine).add(moved)
    await engine.dispose()
    async with serve(configured) as server:
        task = await server.wait_finished(task_id)
        status = await DBOS.get_workflow_status_async(f"task-{task_id}.1")
        assert status is not None and status.queue_name == "provider:fake"
    assert (task["status"], task["provider"]) == ("completed", "fake")
    assert task["skipped_providers"][0]["provider"] == "runninghub"
    assert hub_requests(emulator) == 0


async def test_a_runninghub_that_never_answers_is_skipped_after_a_few_tries(
    settings: Settings,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    configured = load_settings(
        data_dir=settings.data_dir,
        apps_file=APPS,
        runninghub_api_key=KEY,
        runninghub_base_url=closed,
    )
    async with serve(configured) as server:
        task = await server.wait_finished((await create(server))["task_id"])
    assert (task["status"], task["provider"]) == ("completed", "fake")
    [skip] = task["skipped_providers"]
    assert skip["reason"].startswith("runninghub did not answer after 3 attempts: ")  # test mode
    assert json.dumps(task).count(KEY) == 0


@pytest.mark.pg
async def test_fallback_on_postgres(settings: Settings, emulator: RunningHubEmulator) -> None:
    emulator.inject(InjectedFault.CODE, path="/task/openapi/ai-app/run", code=421, times=None)
    with fresh_database(pg_url_or_skip()) as url:
        async with serve(routed(settings, emulator, database_url=url)) as server:
            task = await server.wait_finished((await create(server))["task_id"])
            second = await DBOS.get_workflow_status_async(f"task-{task['task_id']}.1")
            assert second is not None and second.queue_name == "provider:fake"
    assert (task["status"], task["provider"]) == ("completed", "fake")
    assert "concurrency or quota" in task["skipped_providers"][0]["reason"]


@pytest.mark.pg
async def test_an_api_only_process_queues_the_route_it_chose(settings: Settings) -> None:
    with fresh_database(pg_url_or_skip()) as url:
        configured = load_settings(data_dir=settings.data_dir, apps_file=APPS, database_url=url)
        async with (
            open_services(configured, worker=True) as worker,
            serve(configured, worker=False) as api,
        ):
            created = await create(api)  # no RunningHub key: straight onto the fake's queue
            assert created["provider"] == "fake" and len(created["skipped_providers"]) == 1
            task = await api.wait_finished(created["task_id"])
            assert task["status"] == "completed", task
            fake = worker.providers["fake"]
            assert isinstance(fake, FakeProvider)
            assert [r.task_id for r in fake.submitted] == [created["task_id"]]
