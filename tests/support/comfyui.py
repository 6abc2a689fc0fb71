"""A real ComfyUI server on the CPU, for the ComfyUI adapter's tests.

scripts/test.sh installs it (scripts/comfyui-setup.sh) and names its Python in
RENDERGATE_TEST_COMFYUI_PYTHON; without that variable the tests that need it skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rendergate.config.settings import Settings, load_settings
from support.images import make_png
from support.process import free_port
from support.server import RunningServer
from support.waiting import until_sync

APPS = Path(__file__).with_name("comfyui_apps.toml")
SERVE = Path(__file__).parents[2] / "scripts" / "comfyui_serve.py"
START_TIMEOUT_S = 180.0  # about 7 s on an idle machine; CI runs it beside the suite
GATE_LIMIT_S = 300.0  # a gate nobody opens fails its prompt after this, so no server hangs

# A custom node every test server loads: it passes its image on once `release_file` exists,
# so a prompt holding it runs until the test says so (no duration to guess). It checks
# ComfyUI's interrupt flag while it waits, so cancel and /interrupt stop it too, and says
# it is half-way every 0.2 s, so a websocket that connects late still hears its progress.
GATE_NODE = f"""
import os
import time

import comfy.model_management
import comfy.utils


class RendergateTestGate:
    CATEGORY = "rendergate/test"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "wait"

    @classmethod
    def INPUT_TYPES(cls):
        release_file = ("STRING", {{"default": ""}})
        return {{"required": {{"image": ("IMAGE",), "release_file": release_file}}}}

    @classmethod
    def IS_CHANGED(cls, image, release_file):
        return float("nan")  # never from the cache: every prompt waits for its own gate

    def wait(self, image, release_file):
        bar = comfy.utils.ProgressBar(2)
        deadline = time.monotonic() + {GATE_LIMIT_S!r}
        told = 0.0
        while not os.path.exists(release_file):
            comfy.model_management.throw_exception_if_processing_interrupted()
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError("gate " + release_file + " was never released")
            if now - told >= 0.2:
                bar.update_absolute(1)
                told = now
            time.sleep(0.02)
        return (image,)


NODE_CLASS_MAPPINGS = {{"RendergateTestGate": RendergateTestGate}}
"""


def comfyui_python() -> str:
    python = os.environ.get("RENDERGATE_TEST_COMFYUI_PYTHON", "")
    if not python:
        pytest.skip("no ComfyUI here: `make test` installs one (scripts/comfyui-setup.sh)")
    return python


def call(url: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    return json.loads(raw) if raw[:1] in (b"{", b"[") else None


class ComfyServer:
    def __init__(self, base_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base_dir.mkdir(parents=True, exist_ok=True)
        (base_dir / "custom_nodes").mkdir(exist_ok=True)
        (base_dir / "custom_nodes" / "rendergate_test_gate.py").write_text(GATE_NODE)
        self.log_path = base_dir / "comfyui.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                comfyui_python(),
                str(SERVE),
                "--port",
                str(self.port),
                "--base-directory",
                str(base_dir),
                "--disable-metadata",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> ComfyServer:
        def ready() -> bool:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"ComfyUI exited with {self.process.returncode}:\n{tail}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                return "exec_info" in (call(f"{self.url}/prompt") or {})
            return False

        until_sync(ready, START_TIMEOUT_S, "ComfyUI to start", every_s=0.2)
        return self

    def wait_running(self, prompt_id: str, timeout_s: float = 60.0) -> None:
        """Until the server reports this prompt as the one it runs."""
        until_sync(
            lambda: self.queue()["running"] == [prompt_id],
            timeout_s,
            lambda: f"{prompt_id} to run: {self.queue()}",
        )

    def queue(self) -> dict[str, list[str]]:
        """Prompt ids, running and pending."""
        body = call(f"{self.url}/queue")
        return {
            "running": [item[1] for item in body["queue_running"]],
            "pending": [item[1] for item in body["queue_pending"]],
        }

    def history(self, prompt_id: str) -> dict[str, Any]:
        return dict(call(f"{self.url}/history/{prompt_id}").get(prompt_id) or {})

    def view(self, filename: str, subfolder: str, kind: str) -> bytes:
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": kind})
        with urllib.request.urlopen(f"{self.url}/view?{query}", timeout=30) as response:
            return bytes(response.read())

    def prompt(self, graph: dict[str, Any], prompt_id: str) -> None:
        call(f"{self.url}/prompt", "POST", {"prompt": graph, "prompt_id": prompt_id})

    def interrupt_all(self) -> None:
        call(f"{self.url}/queue", "POST", {"clear": True})
        call(f"{self.url}/interrupt", "POST", {})

    def wait_idle(self, timeout_s: float = 60.0) -> None:
        until_sync(
            lambda: self.queue() == {"running": [], "pending": []},
            timeout_s,
            lambda: f"ComfyUI to be idle: {self.queue()}",
        )

    def kill(self) -> None:
        """SIGKILL: the server vanishes mid-job, as when its machine dies."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@contextlib.contextmanager
def comfy_server(base_dir: Path) -> Iterator[ComfyServer]:
    server = ComfyServer(base_dir)
    try:
        yield server.wait_ready()
    finally:
        server.stop()


def blur_graph(size: int, prefix: str = "slow") -> dict[str, Any]:
    """A model-free graph that keeps the CPU busy: about 3.5 s at 1024, 14 s at 2048."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": size, "height": size, "batch_size": 1, "color": 0},
        },
        "2": {
            "class_type": "ImageBlur",
            "inputs": {"image": ["1", 0], "blur_radius": 31, "sigma": 1.0},
        },
        "3": {
            "class_type": "ImageBlur",
            "inputs": {"image": ["2", 0], "blur_radius": 31, "sigma": 1.0},
        },
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": prefix}},
    }


class Gate:
    """Holds every prompt whose RendergateTestGate node names `path` until `release`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def release(self) -> None:
        self.path.touch()


@contextlib.contextmanager
def gate(path: Path) -> Iterator[Gate]:
    """A closed gate, released on the way out whatever happens (no prompt is left held)."""
    held = Gate(path)
    try:
        yield held
    finally:
        held.release()


def gated_graph(held: Gate, prefix: str = "gated", size: int = 64) -> dict[str, Any]:
    """A graph that runs until `held` is released: node 1 finishes at once, node 2 waits."""
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": size, "height": size, "batch_size": 1, "color": 0},
        },
        "2": {
            "class_type": "RendergateTestGate",
            "inputs": {"image": ["1", 0], "release_file": str(held.path)},
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": prefix}},
    }


def comfy_settings(settings: Settings, *urls: str, **extra: Any) -> Settings:
    """The test's settings with these ComfyUI servers and the comfy_slow app."""
    return load_settings(
        data_dir=settings.data_dir, apps_file=APPS, comfyui_urls=list(urls), **extra
    )


async def provider_job(server: RunningServer, task_id: int) -> tuple[str, Mapping[str, Any]]:
    """The stored task's ComfyUI prompt id and its handle's data (server, node count)."""
    job = (await server.services.store.get(task_id)).provider_job
    assert job is not None, f"task {task_id} has no job yet"
    return job.job_id, job.data


async def submit(server: RunningServer, app: str, params: str = "{}", **image: Any) -> int:
    form = aiohttp.FormData()
    form.add_field("image", make_png(**image), filename="shot.png", content_type="image/png")
    form.add_field("type", app)
    form.add_field("params", params)
    async with server.http.post(f"{server.url}/tasks", data=form) as response:
        body = await response.json()
        assert response.status == 201, body
        return int(body["data"]["task_id"])
