"""An Idempotency-Key whose create is cut short: a process killed between claiming the key and
writing the task must not block the retry for longer than it takes to know it died; a
create that is merely slow keeps its key, so the retry never makes a second task.

The create hangs where it stores its inputs (an S3 stand-in holds those PUTs unanswered),
and the test acts when the PUT arrives; nothing here waits a guessed duration."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from test_idempotency import body

from rendergate.config.settings import Settings, load_settings
from rendergate.runtime.dbos_setup import migrate_system_database
from support.process import ServeProcess, free_port
from support.s3 import HangingS3, hanging_s3
from support.server import serve

APPS = Path(__file__).parents[1] / "support" / "apps.toml"
DEAD_AFTER_S = 3.0  # RENDERGATE_WORKER_DEAD_AFTER_S here: a claim's lease is a sixth of it
HELD_FOR_S = 30.0  # how long the test waits for a create to reach the storage


@pytest.fixture
async def storage(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[HangingS3]:
    async with hanging_s3(hold="renders/inputs/") as s3:
        for name, value in s3.env.items():
            if name.startswith("AWS_"):  # for a server in this process
                monkeypatch.setenv(name, value)
        yield s3


async def post(
    http: aiohttp.ClientSession, url: str, key: str
) -> tuple[int, Any, Mapping[str, str]]:
    headers = {"Idempotency-Key": key}
    async with http.post(f"{url}/tasks", json=body(), headers=headers) as response:
        return response.status, await response.json(), response.headers


async def start_serving(data_dir: Path, log: Path, **env: str) -> ServeProcess:
    """`rendergate serve` as a child process (started in a thread: the stand-in answers
    its storage probe on this loop)."""
    return await asyncio.to_thread(ServeProcess, data_dir, free_port(), log, **env)


@contextlib.asynccontextmanager
async def killed_mid_create(
    storage: HangingS3, data_dir: Path, key: str, **env: str
) -> AsyncIterator[float]:
    """A `rendergate serve` that claims `key`, hangs storing the inputs, and is SIGKILLed
    there; yields the monotonic time of the kill."""
    first = await start_serving(data_dir, data_dir.with_name("first.log"), **storage.env, **env)
    try:
        async with aiohttp.ClientSession() as http:
            creating = asyncio.create_task(post(http, first.url, key))
            await asyncio.wait_for(storage.held.wait(), HELD_FOR_S)
            await asyncio.to_thread(first.kill)
            killed_at = time.monotonic()
            with pytest.raises(aiohttp.ClientError):  # no answer: the process is gone
                await creating
    finally:
        await asyncio.to_thread(first.stop)
    storage.release.set()
    yield killed_at


@pytest.mark.slow
async def test_a_create_killed_mid_way_does_not_block_its_retry(
    storage: HangingS3, tmp_path: Path
) -> None:
    """SQLite has one process: a claim an earlier process left is dead, taken over at once."""
    data = tmp_path / "data"
    async with killed_mid_create(storage, data, "order-30"):
        second = await start_serving(data, tmp_path / "second.log", **storage.env)
        try:
            async with aiohttp.ClientSession() as http:
                status, created, headers = await post(http, second.url, "order-30")
                assert status == 201, created
                assert "Idempotent-Replayed" not in headers
                again = await post(http, second.url, "order-30")
                assert again[0] == 201 and again[2]["Idempotent-Replayed"] == "true"
                assert again[1]["data"]["task_id"] == created["data"]["task_id"]
        finally:
            await asyncio.to_thread(second.stop)


@pytest.mark.pg
@pytest.mark.slow
async def test_on_postgresql_a_killed_create_frees_its_key_when_its_lease_lapses(
    storage: HangingS3, settings: Settings, pg_database: str, tmp_path: Path
) -> None:
    """Another process cannot tell a dead holder from a slow one until the holder stops
    renewing its claim: the retry is a 409 with Retry-After until then, and then a 201."""
    other = load_settings(
        data_dir=settings.data_dir,
        apps_file=APPS,
        database_url=pg_database,
        worker_dead_after_s=DEAD_AFTER_S,
    )
    migrate_system_database(other.system_database_url)
    env = {"RENDERGATE_DATABASE_URL": pg_database, "RENDERGATE_WORKER_DEAD_AFTER_S": "3"}
    async with (
        serve(other) as server,  # up before the kill, so the clock below is the retry's
        killed_mid_create(storage, tmp_path / "data", "order-31", **env) as killed_at,
    ):
        while True:
            status, answer, headers = await post(server.http, server.url, "order-31")
            if status == 201:
                break
            assert status == 409 and "still being processed" in answer["msg"], answer
            assert headers["Retry-After"] == "1"
            assert time.monotonic() - killed_at < DEAD_AFTER_S, "the dead claim was not taken over"
            await asyncio.sleep(float(headers["Retry-After"]))
        assert "Idempotent-Replayed" not in headers
        async with server.http.get(f"{server.url}/tasks") as response:
            listed = (await response.json())["data"]["tasks"]
        assert [t["task_id"] for t in listed] == [answer["data"]["task_id"]]


async def test_a_slow_create_keeps_its_key_past_the_lease(
    storage: HangingS3, settings: Settings
) -> None:
    """The holder renews its claim while it works: duplicates are refused with 409 for
    longer than a lease, and once it finishes they get its task."""
    slow = load_settings(
        data_dir=settings.data_dir,
        apps_file=APPS,
        storage_url=storage.env["RENDERGATE_STORAGE_URL"],
        worker_dead_after_s=DEAD_AFTER_S,
    )
    async with serve(slow) as server:
        first = asyncio.create_task(post(server.http, server.url, "order-32"))
        await asyncio.wait_for(storage.held.wait(), HELD_FOR_S)
        leases_later = time.monotonic() + 3 * DEAD_AFTER_S / 6
        while time.monotonic() < leases_later:
            status, refused, headers = await post(server.http, server.url, "order-32")
            assert status == 409 and "still being processed" in refused["msg"], refused
            await asyncio.sleep(float(headers["Retry-After"]))
        storage.release.set()
        status, created, _ = await first
        assert status == 201, created
        again = await post(server.http, server.url, "order-32")
        assert again[0] == 201 and again[2]["Idempotent-Replayed"] == "true"
        assert again[1]["data"]["task_id"] == created["data"]["task_id"]
        async with server.http.get(f"{server.url}/tasks") as response:
            assert len((await response.json())["data"]["tasks"]) == 1
