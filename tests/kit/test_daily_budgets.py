"""Daily budgets across runs (`waypoint.daily_budgets`): shared by processes through the database.

A fake chat model reports usage for `openai:gpt-4o` (`tests/kit/priced_model.py`): each call
costs USD 0.0075 and may cost up to about USD 0.010 (its worst case, reserved before the call).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, waypoint_cli
from tests.helpers import is_sqlite, query, run, thread_row
from tests.kit.priced_fakes import COST_MICROS, factory, slow_factory
from waypoint.capabilities import registry
from waypoint.kill import request_kill
from waypoint.persistence.stores import open_stores
from waypoint.runner import start_run

PRICED = {"model": "openai:gpt-4o"}
PLUGIN = {"WAYPOINT_PLUGINS": "tests.kit.priced_model"}


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    path = tmp_path / "waypoint.toml"
    path.write_text(body)
    monkeypatch.setenv("WAYPOINT_CONFIG", str(path))


def _clear(db_url: str) -> None:
    """The workflow's spend today starts at 0 (the Postgres database is shared by the session)."""
    if is_sqlite(db_url):
        return
    import psycopg

    with (
        psycopg.connect(db_url, autocommit=True) as pg,
        contextlib.suppress(
            psycopg.errors.UndefinedTable  # not created yet: nothing spent
        ),
    ):
        pg.execute("DELETE FROM waypoint_daily_spend WHERE scope LIKE '%spender%'")


def _spend(db_url: str, scope: str) -> dict[str, int]:
    found = query(
        db_url,
        "SELECT spent_micros, reserved_micros, calls FROM waypoint_daily_spend WHERE scope = ?",
        (scope,),
    )
    return {k: int(v) for k, v in found[0].items()} if found else {}


def _racer(db_url: str, thread: str) -> subprocess.Popen[str]:
    args = ["run", "spender", "--input", '{"calls": 12}', "--context", json.dumps(PRICED),
            "--thread", thread, "--db", db_url, "--json"]  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "waypoint", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **PLUGIN, "LANGGRAPH_STRICT_MSGPACK": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_share_the_workflow_budget(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each process wants 12 calls; the day's USD 0.06 allows 7 in all, whoever makes them.

    A call is allowed while spent + held + its worst case (≈0.010) fit in 0.06: after 7 calls
    (0.0525) no worst case fits, and no interleaving of the two processes can allow an 8th or
    stop before the 7th (the last refusal sees nothing held by the other).
    """
    _config(tmp_path, monkeypatch, '[daily_budgets.spender]\ncost_usd = "0.06"\n')
    _clear(db_url)
    threads = [f"spend-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    racers = [_racer(db_url, thread) for thread in threads]
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 4, (out, err)
        halt = json.loads(out)["values"]["halt"]
        assert halt["kind"] == "budget" and "daily budget of spender" in halt["reason"], halt
    spend = _spend(db_url, "workflow:spender")
    assert spend == {"spent_micros": 7 * COST_MICROS, "reserved_micros": 0, "calls": 7}
    ledger = query(
        db_url,
        "SELECT cost_usd FROM waypoint_ledger WHERE thread_id IN (?, ?) AND cost_usd <> '0'",
        tuple(threads),
    )
    assert sum(float(row["cost_usd"]) for row in ledger) == pytest.approx(0.0525)


def test_each_user_has_a_daily_budget_of_their_own(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, monkeypatch, '[daily_budgets.spender]\nuser_cost_usd = "0.02"\n')
    monkeypatch.setattr(registry, "chat_model_factory", factory)
    for user in ("alice", "bob"):  # 2 calls each: a 3rd's worst case does not fit 0.02
        monkeypatch.setenv("WAYPOINT_ACTOR", user)
        report = run(start_run("spender", {"calls": 5}, db_url=sqlite_url, context=PRICED))
        assert report.status == "halted"
        assert f"daily budget of user {user} in spender" in report.values["halt"]["reason"]
        assert _spend(sqlite_url, f"user:spender:{user}")["spent_micros"] == 2 * COST_MICROS
    assert _spend(sqlite_url, "workflow:spender") == {}  # no workflow limit: nothing kept

    monkeypatch.setenv("WAYPOINT_ACTOR", "carol")
    unpriced = run(
        start_run("spender", {"calls": 1}, db_url=sqlite_url, context={"model": "openai:nope-9"})
    )
    assert unpriced.status == "halted" and "no price is known" in unpriced.values["halt"]["reason"]
    offline = run(start_run("spender", {"calls": 3}, db_url=sqlite_url))
    assert offline.status == "completed"  # offline providers cost nothing and are not held


def test_a_call_cut_by_a_kill_is_charged_its_worst_case(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The provider may have charged for a call the kill cut short: what was held is spent."""
    _config(tmp_path, monkeypatch, '[daily_budgets.spender]\ncost_usd = "1.00"\n')
    monkeypatch.setattr(registry, "chat_model_factory", slow_factory)
    thread = f"spend-{uuid.uuid4().hex[:8]}"

    async def kill_inside_the_call() -> tuple[str, dict[str, int]]:
        started = asyncio.ensure_future(
            start_run("spender", {"calls": 1}, thread_id=thread, db_url=sqlite_url, context=PRICED)
        )
        while not _spend(sqlite_url, "workflow:spender").get("reserved_micros"):
            assert not started.done(), started.result()
            await asyncio.sleep(0.02)
        held = _spend(sqlite_url, "workflow:spender")["reserved_micros"]
        async with open_stores(sqlite_url) as stores:
            await request_kill(stores.db, thread, "too slow", "test")
        report = await started
        return report.status, {"held": held, **_spend(sqlite_url, "workflow:spender")}

    status, spend = run(kill_inside_the_call())
    assert status == "halted"
    assert spend["reserved_micros"] == 0
    assert spend["spent_micros"] == spend["held"] > COST_MICROS  # the worst case, not the usage
    assert spend["calls"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('[daily_budgets.spender]\ncost_usd = "-1"\n', "daily_budgets.spender.cost_usd"),
        ("[daily_budgets.spender]\ntokns = 5\n", "daily_budgets.spender.tokns"),
        ('[daily_budgets.nope]\ncost_usd = "1"\n', "daily_budgets.nope"),
    ],
)
def test_a_bad_daily_budget_is_refused_and_nothing_is_written(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, field: str
) -> None:
    _config(tmp_path, monkeypatch, body)
    thread = f"spend-{uuid.uuid4().hex[:8]}"
    done = waypoint_cli("run", "spender", "--input", '{"calls": 1}', "--thread", thread,
                        "--db", sqlite_url)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert field in done.stderr
    assert thread_row(sqlite_url, thread) is None
