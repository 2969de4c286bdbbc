#!/usr/bin/env bash
# Create (or update) the ehps virtual environment in ./.venv and install ehps into it.
#
#   ./setup.sh          runtime: ehps with the embedded defaults (Anny + mediapipe 0.10.21), video, export
#   ./setup.sh --dev    the same plus the test tools (pytest, ruff, the smplx reference, playwright)
#
# With npm on the PATH, the web page's three.js (and, with --dev, gltf-validator) come from the npm
# registry: `npm ci` in web/ (versions pinned by web/package-lock.json), then the page's files are
# copied into src/ehps/serve/static/vendor (git-ignored). Without npm, `ehps serve` says so.
#
# Environment: PYTHON (interpreter to create the venv with, default python3),
#              EHPS_VENV (venv path, default ./.venv).
# Idempotent: a second run only installs what is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${EHPS_VENV:-$here/.venv}"
python="${PYTHON:-python3}"
extras="all"
for arg in "$@"; do
  case "$arg" in
    --dev) extras="dev" ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (use --dev or nothing)" >&2; exit 2 ;;
  esac
done

log() { printf '\033[1m[ehps setup]\033[0m %s\n' "$*" >&2; }
quiet_pip() {
  # pip prints a harmless "Location ... is ignored" line per local index; hide that noise only.
  local rc=0
  "$venv/bin/python" -m pip "$@" > >(grep -vE "is ignored|^[[:space:]]*$" >&2) 2>&1 || rc=$?
  return "$rc"
}

if [ ! -x "$venv/bin/python" ]; then
  log "creating virtual environment at $venv"
  "$python" -m venv "$venv"
fi
quiet_pip install -q --upgrade pip

# 1. torch: detect, don't force. A torch already in the venv is kept. Otherwise prefer a local CPU
#    build (pip's find-links / local index), then the official CPU wheel index on machines without an
#    NVIDIA driver, and only then the default index (which gives CUDA builds on Linux).
if "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
  log "torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)') already installed"
elif "$venv/bin/python" -m pip install -q --no-index torch==2.13.0 >/dev/null 2>&1; then
  log "installed the local CPU build of torch 2.13.0"
elif [ "$(uname -s)" = "Linux" ] && ! command -v nvidia-smi >/dev/null 2>&1 \
     && quiet_pip install -q --retries 0 --timeout 20 torch \
          --index-url https://download.pytorch.org/whl/cpu; then
  log "installed torch (CPU wheel index)"
else
  log "installing torch from the default index"
  quiet_pip install -q torch
fi

# 2. mediapipe 0.10.21: the last release that ships its trained tflite models in the wheel. It
#    declares numpy<2, jax, jaxlib and opencv-contrib, none of which it needs for the bundled models;
#    installing those would break numpy 2 and OpenCV, so it goes in with --no-deps after its real
#    needs (protobuf must stay <5).
quiet_pip install -q "numpy>=2" "opencv-python-headless>=4.8,<5" absl-py attrs flatbuffers \
  "protobuf>=4.25.3,<5" matplotlib
if ! "$venv/bin/python" -c "import mediapipe" >/dev/null 2>&1; then
  log "installing mediapipe 0.10.21 (--no-deps: bundled models only)"
  quiet_pip install -q --no-deps mediapipe==0.10.21
fi

# 3. ehps itself (editable, so the checkout is what runs).
log "installing ehps[$extras]"
quiet_pip install -q -e "$here[$extras]"

# 4. The web page's JavaScript (`ehps serve`): from the npm registry, served by ehps itself.
if command -v npm >/dev/null 2>&1; then
  npm_flags=(--no-audit --no-fund --loglevel=error)
  [ "$extras" = "dev" ] || npm_flags+=(--omit=dev)
  if (cd "$here/web" && npm ci "${npm_flags[@]}" >&2); then
    "$venv/bin/python" -m ehps.serve.assets "$here/web/node_modules" >&2
  else
    log "npm ci in web/ failed: 'ehps serve' will have no page until it works"
  fi
else
  log "npm not found: 'ehps serve' needs it once for its page (three.js); install Node.js + npm" \
      "and re-run ./setup.sh"
fi

log "done: $("$venv/bin/ehps" --version)"
