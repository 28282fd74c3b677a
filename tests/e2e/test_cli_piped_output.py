"""Output is safe when piped: real `waypoint` processes whose stdout is a pipe.

`waypoint graph NAME > g.mmd` is exactly LangGraph's Mermaid (no wrapping at 80 columns, no
styling), and tables keep every column at least as wide as its longest word, on a pipe and on a
narrow `COLUMNS` alike.
"""

from __future__ import annotations

import json
import uuid

from tests.conftest import waypoint_cli
from tests.helpers import demo_input
from waypoint.workflows import load_workflow


def test_graph_on_a_pipe_is_exactly_the_mermaid() -> None:
    done = waypoint_cli("graph", "support", unset=("COLUMNS",))
    assert done.returncode == 0, done.stderr
    expected = load_workflow("support").served.get_graph().draw_mermaid()
    assert done.stdout.rstrip("\n") == expected.rstrip("\n")
    assert done.stdout.startswith(("graph TD;", "---"))
    assert max(len(line) for line in done.stdout.splitlines()) > 0
    assert "\x1b[" not in done.stdout  # no colour codes in a file


def test_graph_ignores_a_narrow_terminal_width() -> None:
    done = waypoint_cli("graph", "support", env={"COLUMNS": "20"})
    assert done.returncode == 0, done.stderr
    expected = load_workflow("support").served.get_graph().draw_mermaid()
    assert done.stdout.rstrip("\n") == expected.rstrip("\n")


def _threads(db: str, *ids: str) -> None:
    for thread in ids:
        ran = waypoint_cli(
            "run",
            "support",
            "--input",
            json.dumps(demo_input("shipping question")),
            "--thread",
            thread,
            "--db",
            db,
        )
        assert ran.returncode == 0, ran.stderr


def test_tables_keep_every_cell_whole_on_a_pipe_and_on_a_narrow_terminal(sqlite_url: str) -> None:
    long_id = "thread-with-a-rather-long-name-" + uuid.uuid4().hex
    _threads(sqlite_url, long_id)
    for env, unset in (({}, ("COLUMNS",)), ({"COLUMNS": "40"}, ())):
        done = waypoint_cli("threads", "--db", sqlite_url, env=env, unset=unset)
        assert done.returncode == 0, done.stderr
        assert long_id in done.stdout  # on one line, not folded or cut to "…"
        assert "…" not in done.stdout
        header = next(line for line in done.stdout.splitlines() if "thread" in line)
        for name in ("thread", "graph", "status", "updated", "subject", "outcome"):
            assert name in header  # no column squeezed to nothing
        assert "replied" in done.stdout
        assert_whole_table(done.stdout)


BOX_ENDS = "┓┃┩│┤┘┛└┴┼"


def assert_whole_table(text: str) -> None:
    """Every table line ends in a border: none was cropped at the console's width."""
    lines = [line for line in text.splitlines() if line[:1] in "┏┃┡│├└┗"]
    assert lines
    assert all(line.rstrip()[-1] in BOX_ENDS for line in lines), text
    assert len({len(line.rstrip()) for line in lines}) == 1, text


def test_a_wide_table_on_a_narrow_terminal_keeps_its_words_and_borders() -> None:
    for columns in ("40", "80"):
        done = waypoint_cli("graph", "support", "--policies", env={"COLUMNS": columns})
        assert done.returncode == 0, done.stderr
        for word in ("classify_ticket", "classification_gate", "429-aware", "(exit"):
            assert word in done.stdout, (columns, done.stdout)
        assert_whole_table(done.stdout)
