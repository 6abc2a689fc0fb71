"""`rendergate batch` and `rendergate batches` against a real server process: a batch
followed view by view and saved, read, listed, downloaded, canceled and retried, each
refusal as its exit code, and docs/cli.md's batch example run as written."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from support.images import make_reference, make_scene
from support.process import ServeProcess, serving
from support.process import run_cli as run

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[2]
NAMES = {
    f"view0{v + 1}_{a}_v{k}.png" for v, a in enumerate(("front", "side", "top")) for k in (1, 2)
}
VIEW_LINE = re.compile(r"^view \d .*: \d/\d completed", flags=re.MULTILINE)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    root = tmp_path_factory.mktemp("cli-batches")
    with serving(root / "data", root / "serve.log") as server:
        yield server


def test_a_batch_is_followed_view_by_view_and_saved(live: ServeProcess, tmp_path: Path) -> None:
    shots = []
    for i in range(3):
        shots.append(tmp_path / f"shot{i}.png")
        shots[-1].write_bytes(make_scene(96, 72, seed=i))
    ref = tmp_path / "ref.jpg"
    ref.write_bytes(make_reference())
    angles = ("--angle", "front", "--angle", "side", "--angle", "top")
    done = run(
        "batch",
        *map(str, shots),
        "--reference",
        str(ref),
        "--preset",
        "dusk",
        "--variations",
        "2",
        *angles,
        "--then",
        "upscale",
        "--wait",
        "-o",
        "renders",
        server=live.url,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    batch_id = done.stdout.strip()
    assert sorted(VIEW_LINE.findall(done.stderr)) == [  # each once, as its view ends
        "view 1 front: 4/4 completed",  # two variations, each upscaled
        "view 2 side: 4/4 completed",
        "view 3 top: 4/4 completed",
    ], done.stderr
    saved = {p.name for p in (tmp_path / "renders").iterdir()}
    assert saved == NAMES | {name.replace(".png", "_upscale.png") for name in NAMES}
    assert Image.open(tmp_path / "renders" / "view02_side_v2.png").size == (96, 72)
    assert Image.open(tmp_path / "renders" / "view02_side_v2_upscale.png").size == (192, 144)

    shown = run("batches", "show", batch_id, server=live.url)
    batch = json.loads(shown.stdout)
    assert (batch["status"], batch["preset"], batch["variations"]) == ("completed", "dusk", 2)
    assert batch["then"] == [{"type": "upscale", "params": {"scale": 2}}]
    assert [v["angle"] for v in batch["views"]] == ["front", "side", "top"]
    listed = run("batches", "list", server=live.url)
    assert listed.returncode == 0 and batch_id in listed.stdout
    again = run("batches", "download", batch_id, "-o", str(tmp_path / "again"), server=live.url)
    assert again.returncode == 0, again.stderr
    for name in NAMES:
        assert (tmp_path / "again" / name).read_bytes() == (
            tmp_path / "renders" / name
        ).read_bytes()
    finished = run("batches", "cancel", batch_id, server=live.url)
    assert finished.returncode == 2 and "already" in finished.stderr, finished.stderr


def test_a_hanging_batch_is_canceled_and_retried(live: ServeProcess, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(make_scene(48, 36))
    hang = ("--type", "fake", "--param", 'fake={"outcome": "hang"}')
    made = run("batch", str(shot), str(shot), *hang, server=live.url)
    assert made.returncode == 0, made.stderr
    batch_id = made.stdout.strip()
    assert f"batch {batch_id} submitted: 2 views x 1 variations (fake" in made.stderr
    canceled = run("batches", "cancel", batch_id, server=live.url)
    assert canceled.returncode == 0, canceled.stderr
    assert f"batch {batch_id} canceled: 2 canceled" in canceled.stderr
    retried = run("batches", "retry", batch_id, server=live.url)
    assert retried.returncode == 0, retried.stderr
    assert re.search(rf"batch {batch_id} (submitted|processing)", retried.stderr), retried.stderr
    assert run("batches", "retry", batch_id, server=live.url).returncode == 2  # it runs
    assert run("batches", "cancel", batch_id, server=live.url).returncode == 0
    nothing = run("batches", "download", batch_id, "-o", str(tmp_path / "none"), server=live.url)
    assert nothing.returncode == 4 and "no result yet" in nothing.stderr


def test_a_refused_batch_says_why(live: ServeProcess, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    good.write_bytes(make_scene(48, 36))
    bad.write_bytes(b"not an image")
    refused = run("batch", str(good), str(bad), "--wait", server=live.url)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "refused (415): image is not an image we can read" in refused.stderr, refused.stderr
    too_many = run("batch", str(good), "--variations", "5", server=live.url)
    assert too_many.returncode == 2 and "variations" in too_many.stderr, too_many.stderr
    angles = run("batch", str(good), "--angle", "a", "--angle", "b", server=live.url)
    assert angles.returncode == 2 and "2 --angle for 1 images" in angles.stderr
    assert run("batches", "show", "12345", server=live.url).returncode == 4


def test_the_documented_batch_example_runs(live: ServeProcess, tmp_path: Path) -> None:
    page = (ROOT / "docs" / "cli.md").read_text()
    block = page.split("```sh\n")[2].split("```", 1)[0].replace("\\\n", " ")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    said = []
    for line in block.splitlines():
        command, *args = shlex.split(line)
        assert command == "rendergate"
        done = run(*args, server=live.url, cwd=tmp_path)
        assert done.returncode == 0, (line, done.stderr)
        said.append(done.stderr)
    assert len(VIEW_LINE.findall(said[0])) == 2, said[0]
    renders = {p.name for p in (tmp_path / "renders").iterdir()}
    assert renders >= {"view01_front_v1.png", "view01_front_v2.png", "view02_side_v2.png"}
