.PHONY: demo test bench bench-quick lint format dev serve serve-setup aegra-env aegra-lock eval

demo:  ## the main job: every workflow's demo cases on SQLite, offline, no key (repeatable)
	@scripts/bootstrap.sh
	.venv/bin/waypoint demo

test:  ## the whole suite: ruff, mypy --strict, pytest on real SQLite and Postgres
	@scripts/test.sh

eval:  ## every suite under evals/: score the recorded traces, then replay them on today's code
	@scripts/bootstrap.sh
	@scripts/eval-all.sh

bench-quick:
	@scripts/bootstrap.sh
	.venv/bin/python -m bench --quick

bench:
	@scripts/bootstrap.sh
	.venv/bin/python -m bench

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

dev:  ## langgraph dev for Studio on 127.0.0.1:$(PORT) (default 2099), offline, no key
	@scripts/dev-server.sh

aegra-env:  ## build .venv-aegra (Python 3.12) from the hash-pinned serve/aegra.lock
	@scripts/aegra-env.sh >/dev/null

aegra-lock:  ## re-resolve serve/aegra.lock (after changing serve/aegra.in or pyproject.toml)
	@scripts/aegra-env.sh --lock

serve-setup:  ## create the database, run Aegra's migrations, install the checkpoint fence
	@scripts/aegra-serve.sh setup

serve:  ## Aegra on the local Postgres + Redis, 127.0.0.1:$(PORT) (default 2026); see docs/deploy.md
	@scripts/aegra-serve.sh
