"""A batch's end told once to its webhook (batch.completed, batch.canceled), its cancel,
and its retry: the canceled members run again in their places, and its end is told again."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from test_push import SECRET, push_settings

from rendergate.config.settings import Settings
from support.images import make_scene
from support.pg import DATABASES, on_database
from support.receiver import Receiver, receiving
from support.server import RunningServer, serve
from support.waiting import until

IMAGE = base64.b64encode(make_scene(48, 36)).decode()
HANG = {"fake": {"outcome": "hang"}}


@pytest.fixture(params=DATABASES)
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return on_database(settings, request)


async def create(server: RunningServer, **fields: Any) -> dict[str, Any]:
    body = {"views": [{"image_base64": IMAGE}, {"image_base64": IMAGE}], **fields}
    async with server.http.post(f"{server.url}/batches", json=body) as response:
        answer = await response.json()
        assert response.status == 201, answer
        return answer["data"]  # type: ignore[no-any-return]


async def post(server: RunningServer, path: str) -> tuple[int, Any]:
    async with server.http.post(f"{server.url}{path}") as response:
        return response.status, await response.json()


async def read(server: RunningServer, batch_id: int) -> Any:
    async with server.http.get(f"{server.url}/batches/{batch_id}") as response:
        return (await response.json())["data"]


async def test_a_finished_batch_is_told_once_to_its_webhook_after_its_chains(
    settings: Settings,
) -> None:
    async with receiving(Receiver([SECRET])) as hook, serve(push_settings(settings)) as server:
        then = [{"type": "upscale"}]
        batch = await create(server, type="preview", variations=2, then=then, webhook_url=hook.url)
        ended = await until(
            lambda: [p for p in hook.verified() if p["type"].startswith("batch.")],
            30,
            "the batch's webhook",
        )
        assert [p["type"] for p in ended] == ["batch.completed"]
        data = ended[0]["data"]
        assert data["batch_id"] == batch["batch_id"] and data["status"] == "completed"
        assert data["counts"]["completed"] == 8 and data["progress"] == 100  # told once chained
        assert data["finished_at"] is not None
        assert all(t["image"]["image_url"] for t in data["tasks"])

        def of_type(kind: str) -> list[Any]:
            return [p for p in hook.verified() if p["type"] == kind]

        await until(lambda: len(of_type("task.completed")) == 8, 30, "members' task.completed")
        assert len(of_type("batch.completed")) == 1


async def test_a_canceled_batch_ends_canceled_and_a_retry_runs_it_again(
    settings: Settings,
) -> None:
    async with receiving(Receiver([SECRET])) as hook, serve(push_settings(settings)) as server:
        batch = await create(server, type="fake", params=HANG, webhook_url=hook.url)
        status, answer = await post(server, f"/batches/{batch['batch_id']}/cancel")
        assert status == 200, answer
        assert answer["data"]["status"] == "canceled", answer
        assert answer["data"]["counts"]["canceled"] == 2
        status, again = await post(server, f"/batches/{batch['batch_id']}/cancel")
        assert status == 409 and "already canceled" in again["msg"], again

        def batch_events() -> list[str]:
            return [p["type"] for p in hook.verified() if p["type"].startswith("batch.")]

        await until(lambda: batch_events() == ["batch.canceled"], 30, "batch.canceled")
        status, retried = await post(server, f"/batches/{batch['batch_id']}/retry")
        assert status == 200, retried
        old = {t["task_id"] for t in batch["tasks"]}
        new = retried["data"]["tasks"]
        assert len(new) == 2 and {t["rerun_of"] for t in new} == old
        assert {t["task_id"] for t in new}.isdisjoint(old)
        assert [(t["view"], t["variation"]) for t in new] == [(0, 0), (1, 0)]
        assert retried["data"]["status"] in ("submitted", "processing")
        assert retried["data"]["canceled_at"] is None
        status, answer = await post(server, f"/batches/{batch['batch_id']}/retry")
        assert status == 409, answer  # it runs
        status, answer = await post(server, f"/batches/{batch['batch_id']}/cancel")
        assert status == 200 and answer["data"]["status"] == "canceled", answer
        await until(
            lambda: batch_events() == ["batch.canceled", "batch.canceled"], 30, "a second end"
        )
