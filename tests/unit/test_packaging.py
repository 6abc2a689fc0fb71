"""The rendergate wheel holds the product only: the provider emulators are a distribution of
their own (emulators/, rendergate-emulators) and must never be packaged into it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_wheel_contains_no_emulator(tmp_path: Path) -> None:
    # Built from a copy of what the wheel is made of, so that no build/ or egg-info is left in
    # the working tree and no stale build/ output can hide in the wheel.
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("*.egg-info", "__pycache__")
    shutil.copytree(ROOT / "src", source / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path / "wheel"
    # no build isolation: the venv's setuptools builds it, so the test needs no network
    command = [
        *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index"),
        *("--no-build-isolation", "-w", str(out)),
    ]
    built = subprocess.run(
        [*command, str(source)], capture_output=True, text=True, timeout=300, check=False
    )
    assert built.returncode == 0, built.stdout + built.stderr
    # `make run` installs the same way: no banner of setuptools' deprecations (the licence's)
    assert "deprecated" not in built.stdout + built.stderr, built.stderr
    (wheel,) = out.glob("rendergate-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "rendergate/__init__.py" in names and "rendergate/apps.toml" in names
    page = {  # the web page at / is package data: without it an installed server has no page
        "rendergate/api/templates/index.html",
        *(f"rendergate/api/static/web/{name}" for name in ("api.js", "main.js", "project.js")),
        "rendergate/api/static/web/base.css",
    }
    assert page <= set(names), page - set(names)
    assert [name for name in names if "htmx" in name] == []  # the page stopped loading it
    assert [name for name in names if "emulator" in name.lower()] == []
    tops = {name.split("/", 1)[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"rendergate"}
