.PHONY: demo test bench bench-quick lint format

demo:  ## the main job: the support demo on SQLite, offline, no key
	@scripts/bootstrap.sh
	.venv/bin/waypoint demo

test:  ## the whole suite: ruff, mypy --strict, pytest on real SQLite and Postgres
	@scripts/test.sh

bench-quick:
	@scripts/bootstrap.sh
	.venv/bin/python -m bench --quick

bench:
	@scripts/bootstrap.sh
	.venv/bin/python -m bench

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .
