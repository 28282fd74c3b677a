#!/usr/bin/env bash
# The whole test suite: lint, format check, mypy --strict, pytest (real SQLite and Postgres).
# Extra arguments go to pytest. Under CI=true a missing Postgres fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export LANGGRAPH_CLI_NO_ANALYTICS=1 LANGGRAPH_NO_VERSION_CHECK=1 LANGGRAPH_STRICT_MSGPACK=true
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
