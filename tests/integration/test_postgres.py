"""The whole service on PostgreSQL: our task table and DBOS's system tables both there."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rendergate.config.settings import Settings, load_settings
from rendergate.providers.fake import FakeProvider
from rendergate.runtime.bootstrap import open_services
from support.images import make_reference, make_scene
from support.server import RunningServer, serve

pytestmark = pytest.mark.pg
APPS = Path(__file__).parents[1] / "support" / "apps.toml"


@pytest.fixture
def pg_settings(settings: Settings, pg_database: str) -> Settings:
    return load_settings(data_dir=settings.data_dir, apps_file=APPS, database_url=pg_database)


@pytest.fixture
async def pg_server(pg_settings: Settings) -> AsyncIterator[RunningServer]:
    async with serve(pg_settings) as running:
        yield running


async def test_preview_task_completes_on_postgres(pg_server: RunningServer) -> None:
    body = {
        "type": "preview",
        "image_base64": base64.b64encode(make_scene(200, 150)).decode(),
        "reference_base64": base64.b64encode(make_reference()).decode(),
    }
    async with pg_server.http.post(f"{pg_server.url}/tasks", json=body) as response:
        assert response.status == 201, await response.text()
        task_id = (await response.json())["data"]["task_id"]
    task = await pg_server.wait_finished(task_id)
    assert task["status"] == "completed" and task["progress"] == 100
    assert pg_server.services.settings.system_database_url.startswith("postgresql://")


async def test_tasks_survive_a_restart_on_postgres(pg_settings: Settings) -> None:
    body = {
        "type": "fake",
        "image_base64": base64.b64encode(make_scene(64, 48)).decode(),
        "params": {"fake": {"polls": 30}},
    }
    async with serve(pg_settings) as first:
        async with first.http.post(f"{first.url}/tasks", json=body) as response:
            task_id = (await response.json())["data"]["task_id"]
        await first.wait_for(task_id, lambda t: t["status"] == "processing")
    # The job is lost with the process; the next process resumes the workflow from
    # PostgreSQL, submits the job again and follows it to the end.
    async with serve(pg_settings) as second:
        task = await second.wait_finished(task_id)
        assert task["status"] == "completed", task
        assert task["attempts"] == 2
        fake = second.services.providers["fake"]
        assert isinstance(fake, FakeProvider)
        assert [r.attempt for r in fake.submitted] == [2]


async def test_api_only_process_enqueues_for_a_separate_worker(pg_settings: Settings) -> None:
    body = {"type": "fake", "image_base64": base64.b64encode(make_scene(64, 48)).decode()}
    async with (
        open_services(pg_settings, worker=True) as worker,
        serve(pg_settings, worker=False) as api,
    ):
        async with api.http.post(f"{api.url}/tasks", json=body) as response:
            assert response.status == 201
            task_id = (await response.json())["data"]["task_id"]
        task = await api.wait_finished(task_id)
        assert task["status"] == "completed", task
        api_fake = api.services.providers["fake"]
        assert isinstance(api_fake, FakeProvider) and api_fake.submitted == []
    fake = worker.providers["fake"]
    assert isinstance(fake, FakeProvider)
    assert [r.task_id for r in fake.submitted] == [task_id]
