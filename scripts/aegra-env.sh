#!/usr/bin/env bash
# Build the Aegra server environment `.venv-aegra` (Python 3.12) from the hash-pinned serve/aegra.lock.
# Idempotent: does nothing when the lock has not changed since the last build.
#
#   scripts/aegra-env.sh          build or refresh .venv-aegra (prints its python on stdout)
#   scripts/aegra-env.sh --lock   re-resolve serve/aegra.lock from serve/aegra.in + pyproject.toml
#
# Aegra (aegra-api / aegra-cli, Apache-2.0) needs Python >= 3.12, Waypoint's own .venv is 3.11:
# the two never share an environment. Waypoint's code is not installed into .venv-aegra; the
# server imports it from the project folder (`dependencies: ["."]` in langgraph.json, PYTHONPATH).
# Python 3.12 comes from WAYPOINT_PYTHON312, else pyenv, else python3.12 on PATH, else uv.
set -euo pipefail
cd "$(dirname "$0")/.."

# uv as scripts/bootstrap.sh finds it (this script never touches .venv: tests call it from there)
UV_VERSION=0.13.8
if [ -x .tools/bin/uv ]; then
  UV="$PWD/.tools/bin/uv"
elif command -v uv >/dev/null 2>&1; then
  UV=uv
else
  echo "aegra-env: uv not found; installing uv==$UV_VERSION from PyPI into .tools/" >&2
  python3 -m venv .tools
  .tools/bin/python -m pip install -q "uv==$UV_VERSION"
  UV="$PWD/.tools/bin/uv"
fi

find_python312() {
  local candidate
  for candidate in \
    "${WAYPOINT_PYTHON312:-}" \
    "$(pyenv prefix 3.12 2>/dev/null | head -n1 | sed 's|$|/bin/python|')" \
    "$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python 2>/dev/null | tail -n1)" \
    "$(command -v python3.12 2>/dev/null)" \
    "$("$UV" python find '>=3.12' 2>/dev/null)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if [ "${1:-}" = "--lock" ]; then
  "$UV" pip compile pyproject.toml serve/aegra.in -c requirements.lock \
    --generate-hashes --python-version 3.12 --python-platform x86_64-manylinux_2_28 \
    --custom-compile-command "scripts/aegra-env.sh --lock" -q -o serve/aegra.lock
  echo "aegra-env: serve/aegra.lock updated" >&2
  exit 0
fi

want=$(sha256sum serve/aegra.lock | cut -d' ' -f1)
stamp=.venv-aegra/.waypoint-installed
if [ -x .venv-aegra/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$PWD/.venv-aegra/bin/python"
  exit 0
fi
if [ ! -x .venv-aegra/bin/python ]; then
  if ! python312=$(find_python312); then
    echo "aegra-env: no Python >= 3.12 found (Aegra needs it). Install one (e.g. pyenv install 3.12)" \
      "or point WAYPOINT_PYTHON312 at its interpreter." >&2
    exit 1
  fi
  "$UV" venv -q .venv-aegra --python "$python312"
fi
"$UV" pip sync -q --compile-bytecode --python .venv-aegra/bin/python --require-hashes serve/aegra.lock
echo "$want" >"$stamp"
echo "aegra-env: .venv-aegra ready ($(.venv-aegra/bin/python -c 'import aegra_api; print("aegra-api", aegra_api.__version__)'))" >&2
echo "$PWD/.venv-aegra/bin/python"
