"""The HTML pages in a real browser: headless Chromium (Debian's `chromium`) opens them offline.

`waypoint report THREAD --html` on the demo's approval thread, approved, then forked: the
browser renders every checkpoint of both lines, the fork as a branch, the path taken, the
human's answer, with no script and no console error; a screenshot is taken. `report --kpis
--html` renders its charts. Without Chromium the test is skipped, except under `CI=true`,
where it fails (`scripts/test.sh` installs it when it can).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, waypoint_cli
from tests.e2e.server_flows import TICKET
from tests.helpers import reset_demo_crm

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return CHROMIUM


def _browser(binary: str, page: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            *args,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


class _Dom(HTMLParser):
    """The rendered DOM: headings, rows per table, visited nodes, chart bars, scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.rows: dict[str, list[dict[str, str]]] = {}
        self.visited: list[str] = []
        self.bars = 0
        self.scripts = 0
        self._h2 = False
        self._table = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self._h2 = tag == "h2"
        if tag == "table":
            self._table = found.get("class", "")
            self.rows.setdefault(self._table, [])
        if tag == "tr" and self._table and found:
            self.rows[self._table].append(found)
        elif tag == "tr" and self._table:
            self.rows[self._table].append({})
        if tag == "g" and "visited" in found.get("class", ""):
            self.visited.append(found.get("data-node", ""))
        if tag == "rect" and "bar" in found.get("class", ""):
            self.bars += 1
        if tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = ""

    def handle_data(self, data: str) -> None:
        if self._h2 and data.strip():
            self.headings.append(data.strip())
            self._h2 = False


def _cli(db: str, *args: str, code: int = 0) -> Any:
    done = waypoint_cli(*args, "--db", db, "--json")
    assert done.returncode == code, (args, done.stderr)
    return json.loads(done.stdout)


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def test_the_timeline_of_an_approved_then_forked_thread_renders_in_chromium(
    chromium: str, sqlite_url: str, tmp_path: Path
) -> None:
    db = sqlite_url
    reset_demo_crm(db)
    thread = f"browser-{uuid.uuid4().hex[:8]}"
    _cli(db, "run", "support", "--input", json.dumps(TICKET), "--thread", thread, code=3)
    _cli(db, "resume", thread, "--approve")
    before_lookup = next(
        r for r in _cli(db, "history", thread)["checkpoints"] if r["next"] == ["lookup"]
    )
    _cli(db, "fork", thread, "--from", str(before_lookup["step"]),
         "--update", '{"order_id": "O-1"}', "--allow-effects")  # fmt: skip
    history = _cli(db, "history", thread)["checkpoints"]

    page = tmp_path / "timeline.html"
    wrote = waypoint_cli("report", thread, "--html", str(page), "--db", db)
    assert wrote.returncode == 0, wrote.stderr
    rendered = _browser(chromium, page, "--dump-dom")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert _console_errors(rendered.stderr) == []
    dom = _Dom()
    dom.feed(rendered.stdout)
    assert dom.headings == [
        "Path taken", "Checkpoints", "Branches", "Humans", "Side effects",
        "Kills and overrides", "Ledger",
    ]  # fmt: skip
    assert dom.scripts == 0
    shown = [r["data-checkpoint"] for r in dom.rows["checkpoints"] if "data-checkpoint" in r]
    assert sorted(shown) == sorted(r["checkpoint_id"] for r in history)  # every checkpoint
    off_line = [r for r in dom.rows["checkpoints"] if "off-line" in r.get("class", "")]
    assert len(off_line) == sum(1 for r in history if not r["on_head_line"]) > 0
    assert len(dom.rows["branches"]) == 1 + 1  # a header and the fork
    assert {"__start__", "intake", "classify"} <= set(dom.visited)  # the fork's line
    assert "approve" in rendered.stdout and "operator" in rendered.stdout  # the answer, and role
    assert "support.payment" in rendered.stdout  # the refund, performed once

    shot = tmp_path / "timeline.png"
    taken = _browser(chromium, page, "--window-size=1300,2400", f"--screenshot={shot}")
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_the_kpi_page_renders_its_charts_in_chromium(
    chromium: str, sqlite_url: str, tmp_path: Path
) -> None:
    db = sqlite_url
    reset_demo_crm(db)
    for index in range(2):
        ticket = {**TICKET, "ticket_id": f"T-KPI-{index}"}
        _cli(db, "run", "support", "--input", json.dumps(ticket),
             "--thread", f"kpi-{index}-{uuid.uuid4().hex[:6]}", code=3)  # fmt: skip
    page = tmp_path / "kpis.html"
    wrote = waypoint_cli("report", "--kpis", "--html", str(page), "--db", db)
    assert wrote.returncode == 0, wrote.stderr
    rendered = _browser(chromium, page, "--dump-dom")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert _console_errors(rendered.stderr) == []
    dom = _Dom()
    dom.feed(rendered.stdout)
    assert dom.headings == [
        "Rates", "Per day", "Handoffs to humans", "Latency by node", "Failure clusters",
    ]  # fmt: skip
    assert len(dom.rows["days"]) == 1 + 1  # both threads started today
    assert dom.bars >= 5 + 1 + 1  # rates, threads per day, handoffs by kind (at least)
    assert "issue_refund" in rendered.stdout  # the handoff kind: two approvals waiting

    bad = waypoint_cli("report", "--kpis", "THREAD", "--html", str(page), "--db", db)
    assert bad.returncode == 2 and "thread:" in bad.stderr
