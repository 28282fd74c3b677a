"""`waypoint --help` and a usage error import no LangGraph, database driver or model stack.

Each command imports what it runs inside its function (`waypoint/cli/app.py`); a module-level
import in any command module would make every invocation pay for it (2.9 s instead of 0.4 s
here, before this test existed).
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

HEAVY = ("langgraph", "langchain_core", "langsmith", "psycopg", "pydantic", "jinja2", "httpx")


def test_loading_the_command_line_imports_nothing_heavy() -> None:
    probe = (
        "import json, sys, waypoint.cli.app; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert "typer" in loaded  # the probe did load the command line
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
