"""`rendergate doctor` over real parts: a migrated SQLite, local storage, the RunningHub
emulator with a good key and a wrong one, a ComfyUI URL nothing listens on, and a public
URL served by a real rendergate."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from rendergate.store.sql import MIGRATIONS
from rendergate_emulators.aliyun import AliyunEmulator
from rendergate_emulators.runninghub import RunningHubEmulator
from support.emulators import ALIYUN_KEY, ALIYUN_SECRET
from support.hub import KEY
from support.process import RENDERGATE, child_env, free_port, serving

pytestmark = pytest.mark.slow  # runs `rendergate doctor` and `serve`


def doctor(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    command = [str(RENDERGATE), "doctor"]
    environment = child_env(data_dir, COLUMNS="200", **env)
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment)


def rows(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """part -> its mark and what was found, from the table doctor prints."""
    found = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip("│").split("│")]
        if len(cells) == 3 and cells[0] in ("ok", "fix", "off"):
            found[cells[1]] = f"{cells[0]}: {cells[2]}"
    return found


def hub_env(emulator: RunningHubEmulator, key: str) -> dict[str, str]:
    return {
        "RENDERGATE_RUNNINGHUB_API_KEY": key,
        "RENDERGATE_RUNNINGHUB_BASE_URL": str(emulator.base_url),
        "RENDERGATE_RUNNINGHUB_HOST": "www.runninghub.cn",
    }


async def test_doctor_says_what_works_and_what_to_fix(
    tmp_path: Path, emulator: RunningHubEmulator
) -> None:
    data = tmp_path / "data"
    fresh = await asyncio.to_thread(doctor, data)
    assert fresh.returncode == 1
    assert rows(fresh)["database"].startswith("fix: ") and "does not exist yet" in fresh.stdout
    with serving(data, tmp_path / "serve.log") as server:  # migrates, and is the public URL
        good = await asyncio.to_thread(
            doctor, data, RENDERGATE_PUBLIC_URL=server.url, **hub_env(emulator, KEY)
        )
    found = rows(good)
    assert good.returncode == 0, good.stdout + good.stderr
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert found["database"] == f"ok: reachable, at migration {head}"
    assert found["storage"].startswith("ok: wrote, read and deleted a probe")
    assert found["provider runninghub"] == "ok: the key works; 0 jobs queued or running"
    assert found["balance runninghub"] == "ok: 100000 coins"
    assert found["provider local"].startswith("ok: ")
    assert (
        found["provider comfyui"].startswith("off: ")
        and "RENDERGATE_COMFYUI_URLS" in (found["provider comfyui"])
    )
    assert found["public URL"].startswith("ok: ")
    wrong = f"http://127.0.0.1:{free_port()}"
    bad = await asyncio.to_thread(
        doctor,
        data,
        RENDERGATE_COMFYUI_URLS=wrong,
        RENDERGATE_PUBLIC_URL=wrong,
        **hub_env(emulator, "f" * 32),
    )
    found = rows(bad)
    assert bad.returncode == 1 and "3 to fix" in bad.stderr, bad.stdout + bad.stderr
    assert found["provider runninghub"].startswith("fix: ")
    assert found["provider comfyui"].startswith("fix: none of the 1 ComfyUI servers answered (")
    assert found["public URL"].startswith("fix: ") and "cannot be reached" in found["public URL"]
    assert "f" * 32 not in bad.stdout + bad.stderr  # the key is never printed


async def test_doctor_tries_aliyuns_signature(tmp_path: Path, aliyun: AliyunEmulator) -> None:
    data = tmp_path / "data"
    assert (await asyncio.to_thread(migrate, data)).returncode == 0
    base = {
        "RENDERGATE_ALIYUN_APP_KEY": ALIYUN_KEY,
        "RENDERGATE_ALIYUN_BASE_URL": str(aliyun.base_url),
    }
    good = await asyncio.to_thread(doctor, data, RENDERGATE_ALIYUN_APP_SECRET=ALIYUN_SECRET, **base)
    bad = await asyncio.to_thread(doctor, data, RENDERGATE_ALIYUN_APP_SECRET="x" * 32, **base)
    assert rows(good)["provider aliyun"] == "ok: the gateway accepted our signed request"
    refused = rows(bad)["provider aliyun"]
    assert refused.startswith("fix: ") and "signature" in refused, refused
    assert "x" * 32 not in bad.stdout + bad.stderr


def migrate(data_dir: Path) -> subprocess.CompletedProcess[str]:
    command = [str(RENDERGATE), "migrate"]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=child_env(data_dir)
    )


async def test_doctor_prints_no_part_of_a_url_that_can_hold_a_secret(tmp_path: Path) -> None:
    """Userinfo, query and fragment are left out of every URL doctor prints, in what works
    and in what to fix."""
    data = tmp_path / "data"
    assert (await asyncio.to_thread(migrate, data)).returncode == 0
    (tmp_path / "blobs").mkdir()
    public = f"http://operator:userinfo-secret@127.0.0.1:{free_port()}/?token=query-secret#frag"
    for folder in ("blobs", "missing"):  # storage that works, and storage to fix
        storage = f"file://{tmp_path / folder}?token=storage-secret#fragment-secret"
        done = await asyncio.to_thread(
            doctor, data, RENDERGATE_STORAGE_URL=storage, RENDERGATE_PUBLIC_URL=public
        )
        printed = done.stdout + done.stderr
        for secret in ("userinfo-secret", "query-secret", "storage-secret", "fragment-secret"):
            assert secret not in printed, printed
        found = rows(done)
        assert str(tmp_path / folder) in found["storage"], found["storage"]
        assert found["public URL"].startswith("fix: http://127.0.0.1:"), found["public URL"]
