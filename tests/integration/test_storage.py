"""Shared storage: inputs and results in S3 (moto's server), for processes on different hosts."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from rendergate.config.settings import Settings, load_settings
from rendergate.domain.errors import ConfigError
from rendergate.runtime.bootstrap import open_services
from rendergate.runtime.dbos_setup import migrate_system_database
from support.images import make_scene
from support.pg import fresh_database, pg_url_or_skip
from support.s3 import BUCKET, S3, s3_server
from support.server import serve

APPS = Path(__file__).parents[1] / "support" / "apps.toml"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    with s3_server(monkeypatch) as server:
        yield server


def on_s3(data_dir: Path, **values: object) -> Settings:
    """Open mode (no key needed), as the `settings` fixture gives the other tests."""
    return load_settings(
        data_dir=data_dir,
        apps_file=APPS,
        storage_url=f"s3://{BUCKET}/renders",
        **({"open": True} | values),
    )


async def create(url: str, http: aiohttp.ClientSession) -> int:
    body = {"type": "fake", "image_base64": base64.b64encode(make_scene(64, 48)).decode()}
    async with http.post(f"{url}/tasks", json=body) as response:
        assert response.status == 201, await response.text()
        return int((await response.json())["data"]["task_id"])


@pytest.mark.pg
async def test_an_api_and_a_worker_on_two_hosts_share_inputs_and_results(
    s3: S3, tmp_path: Path
) -> None:
    with fresh_database(pg_url_or_skip()) as database:
        api_host = on_s3(tmp_path / "api-host", database_url=database)
        worker_host = on_s3(tmp_path / "worker-host", database_url=database)
        migrate_system_database(api_host.system_database_url)
        async with open_services(worker_host, worker=True), serve(api_host, worker=False) as api:
            task_id = await create(api.url, api.http)
            task = await api.wait_finished(task_id)
            assert task["status"] == "completed", task
            async with api.http.get(f"{api.url}/tasks/{task_id}/image") as response:
                assert response.status == 200 and response.content_type == "image/png"
                assert (await response.read())[:8] == b"\x89PNG\r\n\x1a\n"
    keys = s3.keys()
    assert any(k.startswith(f"renders/inputs/{task_id}/") for k in keys), keys
    assert any(k.startswith(f"renders/results/{task_id}/") for k in keys), keys
    assert not any(k.startswith("renders/rendergate-probe/") for k in keys)  # probes removed
    for host in ("api-host", "worker-host"):  # nothing of the task on either host's disk
        assert not (tmp_path / host / "blobs").exists()


async def test_presigned_result_links_redirect_to_the_storage(s3: S3, settings: Settings) -> None:
    presigned = on_s3(settings.data_dir, result_links="presigned")
    async with serve(presigned) as server:
        task_id = await create(server.url, server.http)
        assert (await server.wait_finished(task_id))["status"] == "completed"
        image = f"{server.url}/tasks/{task_id}/image"
        async with server.http.get(image, allow_redirects=False) as response:
            assert response.status == 307
            link = response.headers["Location"]
        assert link.startswith(f"{s3.endpoint}/{BUCKET}/renders/results/{task_id}/")
        assert "X-Amz-Signature=" in link
        async with server.http.get(link) as response:  # no credentials: the link is enough
            assert response.status == 200
            assert (await response.read())[:8] == b"\x89PNG\r\n\x1a\n"


async def test_a_storage_that_cannot_be_written_fails_the_start(s3: S3, settings: Settings) -> None:
    missing = load_settings(data_dir=settings.data_dir, storage_url="s3://no-such-bucket/x")
    with pytest.raises(ConfigError, match=r"RENDERGATE_STORAGE_URL s3://no-such-bucket/x cannot"):
        async with open_services(missing):
            raise AssertionError("started on a bucket that does not exist")
