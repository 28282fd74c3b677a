"""`waypoint report THREAD --html`: one self-contained page of what happened in a thread."""

from __future__ import annotations

import uuid
from html.parser import HTMLParser
from pathlib import Path

from tests.conftest import waypoint_cli
from tests.helpers import footprint, run
from waypoint.runner import resume_thread, start_run

APPROVE = {"decisions": [{"type": "approve"}]}


class _Page(HTMLParser):
    """What a browser would see: headings, visited nodes, table rows, and any fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.visited: list[str] = []
        self.nodes: list[str] = []
        self.tables: dict[str, int] = {}
        self.fetches: list[str] = []
        self._heading = False
        self._table = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "h2":
            self._heading = True
        if tag == "g" and found.get("data-node"):
            self.nodes.append(str(found.get("data-node")))
        if tag == "g" and "visited" in (found.get("class") or ""):
            self.visited.append(str(found.get("data-node")))
        if tag == "table":
            self._table = str(found.get("class") or "")
            self.tables[self._table] = 0
        if tag == "tr" and self._table:
            self.tables[self._table] += 1
        if tag in ("script", "link", "img", "iframe") or "src" in found:
            self.fetches.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._heading = False

    def handle_data(self, data: str) -> None:
        if self._heading:
            self.headings.append(data)


def test_a_report_of_parallel_questions_answered(sqlite_url: str, tmp_path: Path) -> None:
    thread = f"two-{uuid.uuid4().hex[:8]}"
    asked = run(start_run("two_questions", {"topic": "report"}, thread_id=thread,
                          db_url=sqlite_url))  # fmt: skip
    for pending in asked.interrupts:
        run(resume_thread(thread, APPROVE, db_url=sqlite_url, interrupt_id=pending.id))
    out = tmp_path / "report.html"
    before = footprint(sqlite_url, thread)
    done = waypoint_cli("report", thread, "--html", str(out), "--db", sqlite_url)
    assert done.returncode == 0, done.stderr
    assert footprint(sqlite_url, thread) == before  # reading only
    page = _Page()
    page.feed(out.read_text())
    assert page.headings == [
        "Path taken", "Checkpoints", "Branches", "Humans", "Side effects",
        "Kills and overrides", "Ledger",
    ]  # fmt: skip
    assert set(page.visited) == {"__start__", "ask_a", "ask_b", "join", "__end__"}
    assert not [n for n in page.nodes if n.startswith("__error_handler__")]  # ladders left out
    assert page.tables["humans"] == 1 + 2  # a header and the two questions
    assert page.tables["ledger"] >= 1 + 3
    assert page.fetches == []  # nothing to download: no script, no image, no stylesheet link


def test_a_report_refuses_bad_input_and_writes_nothing(sqlite_url: str, tmp_path: Path) -> None:
    thread = f"plain-{uuid.uuid4().hex[:8]}"
    run(start_run("plain", {"steps": ["ok"]}, thread_id=thread, db_url=sqlite_url))
    cases = [
        (("no-such-thread", "--html", str(tmp_path / "a.html")), "thread: no thread"),
        ((thread, "--html", str(tmp_path / "missing" / "a.html")), "html: the folder"),
        ((thread, "--html", str(tmp_path)), "html:"),
    ]
    for args, expected in cases:
        done = waypoint_cli("report", *args, "--db", sqlite_url)
        assert done.returncode == 2, (args, done.stderr)
        assert expected in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "waypoint.sqlite",
        "waypoint.sqlite.locks",
    ]
