"""Seed 003 as its documentation describes it, from the command line: a real emulator
process, a real rendergate process, and `rendergate submit … --type su_render --wait`."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from support.hub import KEY, emulator_process
from support.images import make_reference, make_scene
from support.process import RENDERGATE, child_env, free_port, serving

pytestmark = pytest.mark.slow


def test_submit_su_render_wait(tmp_path: Path) -> None:
    shot, ref, out = tmp_path / "shot.png", tmp_path / "ref.jpg", tmp_path / "render.png"
    shot.write_bytes(make_scene(128, 96))
    ref.write_bytes(make_reference())
    with emulator_process(
        tmp_path / "emulator.log", "--queue-s", "0.2", "--run-s", "1.0"
    ) as runninghub:
        # chosen once the emulator holds its own port: two free_port() calls in a row may
        # hand out the same one, and rendergate's CLI then talked to the emulator
        port = free_port()
        settings = {
            "RENDERGATE_RUNNINGHUB_API_KEY": KEY,
            "RENDERGATE_RUNNINGHUB_BASE_URL": runninghub,
            "RENDERGATE_RUNNINGHUB_HOST": "www.runninghub.cn",
            "RENDERGATE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "RENDERGATE_LOG_LEVEL": "debug",  # the most a log ever says
        }
        with serving(tmp_path / "data", tmp_path / "serve.log", port=port, **settings) as server:
            done = subprocess.run(
                [
                    str(RENDERGATE),
                    "submit",
                    str(shot),
                    "--reference",
                    str(ref),
                    "--type",
                    "su_render",
                    "--wait",
                    "-o",
                    str(out),
                    "--server",
                    server.url,
                ],
                capture_output=True,
                text=True,
                timeout=120,
                env=child_env(tmp_path),
            )
    assert done.returncode == 0, done.stderr
    assert "completed" in done.stderr and "saved" in done.stderr
    assert Image.open(io.BytesIO(out.read_bytes())).size == (128, 96)
    assert KEY not in (tmp_path / "serve.log").read_text()  # the key never reaches a log
