"""GET /metrics over real HTTP: the series move as a task is created, run and finished,
as a provider is called and a webhook delivered; a worker serves its own on a port."""

from __future__ import annotations

import base64
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from rendergate.config.settings import Settings, load_settings
from support.images import make_scene
from support.process import RENDERGATE, child_env, free_port
from support.receiver import Receiver, receiving
from support.server import RunningServer, serve
from support.waiting import until, until_sync

SECRET = "whsec_" + base64.b64encode(b"metrics-test-secret-of-32-bytes!").decode()


async def scrape(server: RunningServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with server.http.get(f"{server.url}/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def create(server: RunningServer, **extra: Any) -> int:
    image = base64.b64encode(make_scene(32, 24)).decode()
    body = {"type": "fake", "image_base64": image, **extra}
    async with server.http.post(f"{server.url}/tasks", json=body) as response:
        assert response.status == 201, await response.text()
        return int((await response.json())["data"]["task_id"])


async def test_the_series_move_with_a_task(settings: Settings) -> None:
    live = load_settings(
        data_dir=settings.data_dir,
        apps_file=settings.apps_file,
        webhook_secret=SECRET,
        fetch_allow=["127.0.0.1"],
    )
    async with receiving(Receiver([SECRET])) as hook, serve(live) as server:
        before = await scrape(server)
        hanging = await create(server, params={"fake": {"outcome": "hang"}})
        await server.wait_for(hanging, lambda t: t["status"] == "processing")
        during = await scrape(server)
        task_id = await create(server, webhook_url=hook.url, webhook_events=["task.completed"])
        assert (await server.wait_finished(task_id))["status"] == "completed"
        await hook.until(1)

        async def counted() -> Any:  # the try is counted once its outcome is written
            after = await scrape(server)
            delivered = value(after, "rendergate_webhook_deliveries_total", outcome="delivered")
            return after if delivered == 1 else None

        after = await until(counted, 10, "the delivery to be counted")
    fake = {"app": "fake", "provider": "fake"}
    assert value(before, "rendergate_tasks_created_total", **fake) == 0
    assert value(after, "rendergate_tasks_created_total", **fake) == 2
    assert value(during, "rendergate_in_flight", provider="fake") == 1
    done = {**fake, "status": "completed"}
    assert value(after, "rendergate_tasks_finished_total", **done) == 1
    assert value(after, "rendergate_task_duration_seconds_count", **fake) == 1
    assert value(after, "rendergate_task_queue_wait_seconds_count", provider="fake") == 2
    assert value(after, "rendergate_result_bytes_total", provider="fake") > 0
    calls = value(after, "rendergate_upstream_requests_total", provider="fake", outcome="ok")
    assert calls >= 3  # submit, at least one status, the download
    assert (
        value(after, "rendergate_upstream_request_duration_seconds_count", provider="fake") == calls
    )
    ages = [
        v for (name, _), v in after.items() if name == "rendergate_worker_heartbeat_age_seconds"
    ]
    assert len(ages) == 1 and 0 <= ages[0] < 60


@pytest.mark.slow  # starts `rendergate worker`
def test_a_worker_serves_its_metrics_on_its_port(tmp_path: Path) -> None:
    port = free_port()
    env = child_env(tmp_path / "data", RENDERGATE_METRICS_PORT=str(port))
    worker = subprocess.Popen(
        [str(RENDERGATE), "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )

    def metrics() -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as got:
                return str(got.read().decode())
        except OSError:
            assert worker.poll() is None, worker.stdout and worker.stdout.read()
            return None

    try:
        text = until_sync(metrics, 60, "/metrics on the worker's port", every_s=0.1)
        assert "rendergate_tasks_created_total" in text
        assert "rendergate_upstream_requests_total" in text
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
