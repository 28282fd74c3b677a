#!/usr/bin/env bash
# Serve langgraph.json with Aegra (self-hosted LangGraph-protocol server) on Postgres + Redis.
#
#   scripts/aegra-serve.sh          setup, then run one instance in the foreground
#   scripts/aegra-serve.sh setup    create the database if missing, run Aegra's migrations
#                                   (`aegra db upgrade`), install Waypoint's checkpoint fence
#   scripts/aegra-serve.sh run      run one instance (no migrations at startup); start more
#                                   instances on other ports against the same Postgres + Redis
#
# Settings (environment; defaults in brackets). Everything binds to loopback unless told otherwise.
#   DATABASE_URL     [postgresql://postgres@127.0.0.1:5432/waypoint]  Aegra's tables + checkpoints
#   WAYPOINT_DB_URL  [= DATABASE_URL]  Waypoint's tables (side effects, ledger); keep them together
#   REDIS_URL        [redis://127.0.0.1:6379/0]   REDIS_BROKER_ENABLED [true]
#   HOST [127.0.0.1]  PORT [2026]
#   WAYPOINT_API_KEYS / WAYPOINT_API_KEYS_FILE   credentials (see waypoint/server/auth.py); required
#   LEASE_DURATION_SECONDS [30] HEARTBEAT_INTERVAL_SECONDS [10] REAPER_INTERVAL_SECONDS [15]
#   WORKER_COUNT [3] N_JOBS_PER_WORKER [10] LANGGRAPH_MIN_POOL_SIZE [2] LANGGRAPH_MAX_POOL_SIZE [10]
#   SQLALCHEMY_POOL_SIZE [5] SQLALCHEMY_MAX_OVERFLOW [5]   (connection budget: docs/deploy.md)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

PY="$(scripts/aegra-env.sh)"
VENV_BIN="$(dirname "$PY")"

export DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/waypoint}"
export WAYPOINT_DB_URL="${WAYPOINT_DB_URL:-$DATABASE_URL}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export REDIS_BROKER_ENABLED="${REDIS_BROKER_ENABLED:-true}"
export HOST="${HOST:-127.0.0.1}" PORT="${PORT:-2026}"
export AEGRA_CONFIG="${AEGRA_CONFIG:-$ROOT/langgraph.json}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# Migrations are run explicitly by `setup`, never by an instance at startup.
export RUN_MIGRATIONS_ON_STARTUP=false
# Every super-step is checkpointed before the next starts (crash-safe resume, as the CLI does).
export AEGRA_CHECKPOINT_DURABILITY="${AEGRA_CHECKPOINT_DURABILITY:-sync}"
# Read by LangGraph when Aegra imports it: its saver then decodes only safe types (docs/security.md).
export LANGGRAPH_STRICT_MSGPACK="${LANGGRAPH_STRICT_MSGPACK:-true}"
export LANGGRAPH_MIN_POOL_SIZE="${LANGGRAPH_MIN_POOL_SIZE:-2}" LANGGRAPH_MAX_POOL_SIZE="${LANGGRAPH_MAX_POOL_SIZE:-10}"
export SQLALCHEMY_POOL_SIZE="${SQLALCHEMY_POOL_SIZE:-5}" SQLALCHEMY_MAX_OVERFLOW="${SQLALCHEMY_MAX_OVERFLOW:-5}"
# Offline by default: no tracing export unless configured.
export OTEL_TARGETS="${OTEL_TARGETS:-}" LANGSMITH_TRACING="${LANGSMITH_TRACING:-false}"

setup() {
  "$PY" -m waypoint.server.fencing install --db "$DATABASE_URL" --create-database
  if [ "$WAYPOINT_DB_URL" != "$DATABASE_URL" ]; then
    "$PY" -m waypoint.server.fencing install --db "$WAYPOINT_DB_URL" --create-database
  fi
  "$VENV_BIN/aegra" db upgrade
}

run() {
  # Aegra builds its own checkpoint saver: it cannot encrypt (docs/security.md, "Servers").
  if [ -n "${WAYPOINT_ENCRYPTION_KEY:-}${WAYPOINT_ENCRYPTION_KEY_FILE:-}" ]; then
    echo "aegra-serve: Aegra stores checkpoints unencrypted (it builds its own saver); unset" \
      "WAYPOINT_ENCRYPTION_KEY / WAYPOINT_ENCRYPTION_KEY_FILE for it (docs/security.md)" >&2
    exit 1
  fi
  if [ -z "${WAYPOINT_API_KEYS:-}${WAYPOINT_API_KEYS_FILE:-}" ]; then
    echo "aegra-serve: set WAYPOINT_API_KEYS=\"TOKEN:USER,...\" or WAYPOINT_API_KEYS_FILE; every" \
      "request is refused (401) without them" >&2
  fi
  # Aegra serves with NO auth at all if the auth file fails to import: refuse to start instead.
  if ! "$PY" - <<'CHECK'; then
import importlib.util
import sys
from langgraph_sdk import Auth
spec = importlib.util.spec_from_file_location("waypoint_auth_check", "waypoint/server/auth.py")
assert spec is not None and spec.loader is not None
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
assert isinstance(module.auth, Auth), "waypoint/server/auth.py:auth is not a langgraph_sdk.Auth"
CHECK
    echo "aegra-serve: waypoint/server/auth.py does not load; not starting an open server" >&2
    exit 1
  fi
  if ! "$PY" -m waypoint.server.fencing check --db "$DATABASE_URL"; then
    echo "aegra-serve: the checkpoint fence is missing; run \`scripts/aegra-serve.sh setup\`" >&2
    exit 1
  fi
  exec "$PY" -m uvicorn aegra_api.main:app --host "$HOST" --port "$PORT" --no-access-log \
    --timeout-graceful-shutdown 30
}

case "${1:-all}" in
setup) setup ;;
run) run ;;
all) setup && run ;;
*)
  echo "usage: scripts/aegra-serve.sh [setup|run]" >&2
  exit 2
  ;;
esac
