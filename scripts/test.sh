#!/usr/bin/env bash
# The whole test suite: lint, format check, mypy --strict, pytest (real SQLite and Postgres).
# Extra arguments go to pytest. Under CI=true a missing Postgres fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# the browser the HTML report tests open (Debian's chromium); installed when missing and possible
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test: installing chromium (Debian) for the report's browser tests" >&2
  apt-get install -y -q chromium >/dev/null 2>&1 || echo "test: chromium not installed" >&2
fi
export LANGGRAPH_CLI_NO_ANALYTICS=1 LANGGRAPH_NO_VERSION_CHECK=1 LANGGRAPH_STRICT_MSGPACK=true
# The suite starts several hundred Python processes (the CLI, servers, workers). With
# PYTHONDONTWRITEBYTECODE set (as on this project's machines) each compiled Waypoint's own
# modules from source again; their bytecode is kept under .venv instead (not in the tree).
export PYTHONPYCACHEPREFIX="$PWD/.venv/pycache"
unset PYTHONDONTWRITEBYTECODE
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
set +e
# two workers (pytest-xdist): much of the suite waits on subprocesses and the databases
.venv/bin/pytest -n 2 --durations=25 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "test: pytest collected no tests; that counts as a failure" >&2
  exit 1
fi
exit "$rc"
