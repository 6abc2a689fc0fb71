"""A client generated from /openapi.json works as it comes (issue item 7): openapi-python-client
makes the package from a live server's document, and the test drives that server through it
alone: both create bodies, polling, the image download, and typed errors.

The generator runs with --fail-on-warning and no post hooks (no formatter: the code is used as
generated), so a part of the document it cannot model fails here. The client's async calls run
on this event loop beside the server; blocking work (the generator, the key command) runs in
threads, which the server never waits on.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rendergate.config.settings import Settings
from support.process import create_api_key
from support.server import serve
from support.waiting import until

pytestmark = pytest.mark.slow  # runs the client generator and `rendergate keys`

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
SHOT = Path(__file__).parents[2] / "examples" / "shot.jpg"
PACKAGE = "rendergate_client"
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")
CONFIG = {"post_hooks": [], "package_name_override": PACKAGE}


def _generate(document: Path, package: Path) -> None:
    config = document.with_name("generator.json")
    config.write_text(json.dumps(CONFIG))
    command = [GENERATOR, "generate", "--path", document, "--output-path", package]
    command += ["--meta", "none", "--config", config, "--fail-on-warning"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (package / "api" / "tasks" / "create_task.py").is_file(), done.stdout


class Generated:
    """The generated package's modules, by the names a user would import."""

    def __init__(self) -> None:
        self.client = importlib.import_module(f"{PACKAGE}.client")
        self.models = importlib.import_module(f"{PACKAGE}.models")
        self.types = importlib.import_module(f"{PACKAGE}.types")

    def api(self, name: str) -> ModuleType:
        tag = "default" if name in ("healthz", "list_apps") else "tasks"
        return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")


@pytest.fixture
def generated_path(tmp_path: Path) -> Iterator[Path]:
    """tmp_path on sys.path for the test, and the package out of sys.modules after it."""
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


async def _finished(gen: Generated, client: Any, task_id: int) -> Any:
    """Polls through the generated get_task until the task is finished; 60 s at most."""
    status = gen.models.TaskStatus
    last: list[Any] = []

    async def finished() -> Any:
        got = await gen.api("get_task").asyncio(
            client=client, task_id=task_id, include_base64=False
        )
        assert isinstance(got, gen.models.EnvelopeTaskPublic), got
        last[:] = [got.data.to_dict()]
        return (
            got.data
            if got.data.status in (status.COMPLETED, status.FAILED, status.CANCELED)
            else None
        )

    return await until(finished, 60, lambda: f"task {task_id} to finish: {last}")


async def _create_both_ways(gen: Generated, client: Any) -> list[int]:
    """A multipart create with the example screenshot, and a JSON one with its base64."""
    shot = SHOT.read_bytes()
    file = gen.types.File(payload=io.BytesIO(shot), file_name=SHOT.name, mime_type="image/jpeg")
    bodies = [
        gen.models.TaskCreateForm(image=file, type_="preview", angle="front", params="{}"),
        gen.models.TaskCreateJson(image_base64=base64.b64encode(shot).decode(), type_="preview"),
    ]
    ids = []
    for body in bodies:
        created = await gen.api("create_task").asyncio_detailed(client=client, body=body)
        assert created.status_code == 201, created.content
        task = created.parsed.data
        assert task.status is gen.models.TaskStatus.SUBMITTED, task.status  # an enum member
        assert task.type_ == "preview"
        ids.append(task.task_id)
    return ids


async def _check_result(gen: Generated, client: Any, task_id: int) -> None:
    task = await _finished(gen, client, task_id)
    assert task.status is gen.models.TaskStatus.COMPLETED, task.error_message
    full = await gen.api("get_task").asyncio(client=client, task_id=task_id)
    image = await gen.api("get_task_image").asyncio_detailed(client=client, task_id=task_id)
    assert image.status_code == 200 and isinstance(image.parsed, gen.types.File)
    data = image.parsed.payload.read()
    assert len(data) > 0 and data.startswith(IMAGE_MAGIC), data[:16]
    assert data == base64.b64decode(full.data.image.image_base64)
    assert image.headers["content-type"] == task.outputs[0].content_type


async def _check_errors(gen: Generated, client: Any, url: str, task_id: int) -> None:
    """Each error parsed into its declared model, not left as None."""
    envelope, models = gen.models.ErrorEnvelope, gen.models
    shot = base64.b64encode(SHOT.read_bytes()).decode()
    missing = await gen.api("get_task").asyncio(client=client, task_id=1)
    assert isinstance(missing, envelope), missing
    assert (missing.code, missing.msg) == (404, "task 1 not found")
    done = await gen.api("cancel_task").asyncio(client=client, task_id=task_id)
    assert isinstance(done, envelope) and done.code == 409, done
    unknown = models.TaskCreateJson(image_base64=shot, type_="no_such_app")
    refused = await gen.api("create_task").asyncio(client=client, body=unknown)
    assert isinstance(refused, models.ValidationErrors), refused
    assert refused.detail[0].loc == ["body", "type"], refused.to_dict()
    assert refused.detail[0].msg.startswith("unknown type 'no_such_app'"), refused.to_dict()
    stranger = gen.client.AuthenticatedClient(
        base_url=url, token="rk_0123456789ab_nope", raise_on_unexpected_status=True
    )
    async with stranger:
        denied = await gen.api("list_tasks").asyncio(client=stranger)
    assert isinstance(denied, envelope), denied
    assert (denied.code, denied.msg) == (401, "the API key is not valid, or was revoked")


async def test_a_generated_client_works_as_generated(
    settings: Settings, generated_path: Path
) -> None:
    token = await asyncio.to_thread(
        create_api_key, settings.data_dir, "generated"
    )  # before the server reads keys
    async with serve(settings) as server:
        document = generated_path / "openapi.json"
        async with server.http.get(f"{server.url}/openapi.json") as response:
            assert response.status == 200
            document.write_bytes(await response.read())
        await asyncio.to_thread(_generate, document, generated_path / PACKAGE)
        gen = Generated()
        client = gen.client.AuthenticatedClient(
            base_url=server.url, token=token, raise_on_unexpected_status=True
        )
        async with client:
            health = await gen.api("healthz").asyncio(client=client)
            assert health.data.status == "ok" and "local" in health.data.providers
            apps = await gen.api("list_apps").asyncio(client=client)
            assert "preview" in [app.name for app in apps.data]
            ids = await _create_both_ways(gen, client)
            for task_id in ids:
                await _check_result(gen, client, task_id)
            listed = await gen.api("list_tasks").asyncio(
                client=client, status=gen.models.TaskStatus.COMPLETED
            )
            assert sorted(t.task_id for t in listed.data.tasks) == sorted(ids)
            await _check_errors(gen, client, server.url, ids[0])
