#!/usr/bin/env bash
# `langgraph dev` on a fixed port (PORT, default 2099), offline, no LangSmith key: the server
# LangGraph Studio connects to. Threads live in the server's memory (and .langgraph_api/);
# side effects go to WAYPOINT_DB_URL (default: the SQLite file under .waypoint/).
#
#   PORT=2099          the port (2024, langgraph's default, is often taken)
#   RELOAD=1           restart on code changes (0: --no-reload); logs go to this terminal only
#   STUDIO_USER=NAME   let Studio in without a token, as user NAME (local dev server only)
#   WAYPOINT_API_KEYS / WAYPOINT_API_KEYS_FILE   credentials; without them a key for user `dev`
#                      is made once in .waypoint/dev-api-keys (not in git) and printed
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

export LANGGRAPH_CLI_NO_ANALYTICS=1 LANGGRAPH_NO_VERSION_CHECK=1
export LANGSMITH_TRACING="${LANGSMITH_TRACING:-false}"
PORT="${PORT:-2099}"

if [ -z "${WAYPOINT_API_KEYS:-}${WAYPOINT_API_KEYS_FILE:-}" ]; then
  keys=.waypoint/dev-api-keys
  if [ ! -s "$keys" ]; then
    mkdir -p .waypoint
    (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32) + ":dev")' >"$keys")
  fi
  export WAYPOINT_API_KEYS_FILE="$PWD/$keys"
  echo "dev: user 'dev' authenticates with: Authorization: Bearer $(cut -d: -f1 "$keys")" >&2
fi
if [ -n "${STUDIO_USER:-}" ]; then
  export WAYPOINT_STUDIO_USER="$STUDIO_USER"
  echo "dev: Studio requests without a token act as user '$STUDIO_USER'" >&2
fi

flags=(--host 127.0.0.1 --port "$PORT" --no-browser)
[ "${RELOAD:-1}" = "0" ] && flags+=(--no-reload)
echo "dev: Studio: https://smith.langchain.com/studio/?baseUrl=http://127.0.0.1:$PORT" >&2
exec .venv/bin/langgraph dev "${flags[@]}"
