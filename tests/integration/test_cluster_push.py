"""Push across processes on one PostgreSQL: an event stream resumed by Last-Event-ID on
another API process, and webhooks for changes made in any process, sent by the worker.

Two API processes (no worker) and a worker run in the test's process, each with its own
database connections and NOTIFY listener, as separate processes would; RunningHub is the
emulator, holding each job in its phase until the test moves it on."""

from __future__ import annotations

import base64

import pytest
from test_push import read_events

from rendergate.config.settings import Settings
from rendergate.runtime.bootstrap import open_services
from rendergate.runtime.dbos_setup import migrate_system_database
from rendergate_emulators.runninghub import RunningHubEmulator
from support.hub import hub_settings, su_form
from support.receiver import Receiver, receiving
from support.server import RunningServer, serve
from support.waiting import until

pytestmark = [pytest.mark.pg, pytest.mark.emulator(hold=True)]
SECRET = "whsec_" + base64.b64encode(b"cluster-push-test-secret-32bytes").decode()


@pytest.fixture
def cluster(settings: Settings, emulator: RunningHubEmulator, pg_database: str) -> Settings:
    live = hub_settings(
        settings,
        emulator,
        database_url=pg_database,
        webhook_secret=SECRET,
        fetch_allow=["127.0.0.1"],
        webhook_retry_first_s=0.2,
    )
    migrate_system_database(live.system_database_url)
    return live


async def create(api: RunningServer, **fields: str) -> int:
    form = su_form()
    for name, value in fields.items():
        form.add_field(name, value)
    async with api.http.post(f"{api.url}/tasks", data=form) as response:
        body = await response.json()
        assert response.status == 201, body
        return int(body["data"]["task_id"])


async def test_a_stream_resumes_on_another_api_process_missing_nothing(
    cluster: Settings, emulator: RunningHubEmulator
) -> None:
    async with (
        serve(cluster, worker=False) as first,
        serve(cluster, worker=False) as second,
        open_services(cluster, worker=True),
    ):
        task_id = await create(first)
        await until(lambda: len(emulator.tasks) == 1, 30, "the worker to submit")
        [upstream] = emulator.tasks.values()
        url = f"/tasks/{task_id}/events"
        seen = await read_events(first.http, first.url + url, stop_after=1)
        assert seen[0]["event"] in ("task.submitted", "task.processing"), seen
        emulator.advance(upstream.task_id)
        emulator.advance(upstream.task_id)  # the job ends while no stream is open
        rest = await read_events(second.http, second.url + url, last_id=seen[0]["id"])
    versions = [int(e["id"]) for e in seen + rest if "id" in e]
    assert versions == sorted(set(versions)), versions  # none repeated, in order
    kinds = [e["event"] for e in seen + rest if "id" in e]
    assert "task.processing" in kinds and kinds[-1] == "task.completed", kinds
    assert rest[-1]["data"]["status"] == "completed"


async def test_webhooks_come_for_changes_made_in_any_process(
    cluster: Settings, emulator: RunningHubEmulator
) -> None:
    """The completion is written by the worker, the cancel by an API process; the worker's
    delivery loop hears of both through NOTIFY and sends each, signed."""
    async with (
        receiving(Receiver([SECRET])) as hook,
        serve(cluster, worker=False) as api,
        open_services(cluster, worker=True),
    ):
        done = await create(api, webhook_url=hook.url, webhook_events="task.completed")
        canceled = await create(api, webhook_url=hook.url, webhook_events="task.canceled")
        await until(lambda: len(emulator.tasks) == 2, 30, "the worker to submit both")
        async with api.http.post(f"{api.url}/tasks/{canceled}/cancel") as response:
            assert response.status == 200
        await hook.until(1)  # the cancel's, sent while the other job still runs
        assert hook.verified()[0]["type"] == "task.canceled"
        [running] = [job for job in emulator.tasks.values() if job.held is not None]
        emulator.advance(running.task_id)
        emulator.advance(running.task_id)
        await hook.until(2)
    by_type = {p["type"]: p["data"]["task_id"] for p in hook.verified()}
    assert by_type == {"task.canceled": canceled, "task.completed": done}
