"""The real `waypoint` app, run in this process with typer's `CliRunner`.

It is the same app object the console script runs (`waypoint.cli.app.app`), on real databases;
only the process is shared, which makes hundreds of invocations affordable (a subprocess costs
seconds of imports). `assert_refused` is the contract for bad input: the expected exit code,
exactly one `error:` line on stderr, nothing on stdout, no traceback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from typer.testing import CliRunner

from tests.helpers import demo_input
from waypoint.cli.app import app

_RUNNER = CliRunner()


@dataclass
class CliOutcome:
    """What one in-process invocation left behind."""

    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    def describe(self) -> str:
        """Everything a failing assertion should show."""
        shown = [a if len(a) < 200 else f"{a[:200]}…({len(a)})" for a in self.args]
        return (
            f"args={shown}\nexit={self.exit_code}\nstdout={self.stdout[:2000]!r}\n"
            f"stderr={self.stderr[:2000]!r}\nexception={self.exception!r}"
        )


def invoke(*args: str, env: dict[str, str] | None = None) -> CliOutcome:
    """Run `waypoint ARGS` in this process and collect the outcome (exceptions are kept)."""
    result = _RUNNER.invoke(app, list(args), env=env, catch_exceptions=True)
    return CliOutcome(
        args=args,
        exit_code=result.exit_code,
        stdout=result.stdout,
        stderr=result.stderr,
        exception=result.exception,
    )


def assert_refused(outcome: CliOutcome, *words: str, code: int = 2) -> str:
    """Exit `code`, one `error:` line naming `words`, nothing else printed; returns the line."""
    info = outcome.describe()
    assert outcome.exit_code == code, info
    assert isinstance(outcome.exception, SystemExit), info  # no crash, no traceback
    assert "Traceback" not in outcome.stderr, info
    assert outcome.stdout == "", info
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1, info
    assert lines[0].startswith("error: "), info
    for word in words:
        assert word in lines[0], f"{word!r} missing\n{info}"
    return lines[0]


def ticket_json(case: str = "auto refund", **changes: Any) -> str:
    """A demo ticket as the JSON `--input` takes."""
    return json.dumps(demo_input(case, **changes))
