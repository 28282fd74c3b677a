#!/usr/bin/env bash
# Install what Waypoint needs: uv (from PyPI if missing), .venv, the locked dependencies, the project.
# Idempotent: does nothing when requirements.lock and pyproject.toml have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
if command -v uv >/dev/null 2>&1; then
  UV=uv
else
  if [ ! -x .tools/bin/uv ]; then
    echo "bootstrap: uv not found; installing uv==$UV_VERSION from PyPI into .tools/" >&2
    python3 -m venv .tools
    .tools/bin/python -m pip install -q "uv==$UV_VERSION"
  fi
  UV="$PWD/.tools/bin/uv"
fi

want=$( (cat requirements.lock pyproject.toml; echo compile-bytecode) | sha256sum | cut -d' ' -f1)
stamp=.venv/.waypoint-installed
compile_project() {
  # The project's own modules too (into __pycache__/, git-ignored): Python still reads them
  # under PYTHONDONTWRITEBYTECODE, and every command compiled them again (≈70 ms of a 0.9 s
  # `waypoint status`). Files changed since are compiled again here; 0.03 s when none are.
  .venv/bin/python -m compileall -q waypoint nodes graphs state  # -q: only errors are shown
}
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  compile_project
  exit 0
fi
[ -x .venv/bin/python ] || "$UV" venv -q .venv --python 3.11
# bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as on this project's machines)
# every new process would otherwise compile LangGraph and its dependencies from source again
# (`import langgraph.graph` ≈2.5 s instead of ≈1 s; the suite starts hundreds of processes)
"$UV" pip sync -q --compile-bytecode --python .venv/bin/python requirements.lock
"$UV" pip install -q --python .venv/bin/python --no-deps --no-build-isolation -e .
compile_project
echo "$want" > "$stamp"
echo "bootstrap: .venv ready" >&2
