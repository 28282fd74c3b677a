"""Start `waypoint` processes fast: fork them from a process that has imported Waypoint once.

Each command is a real OS process running the real command line (`waypoint.cli.app.main`),
which a test may SIGKILL at any moment; only the ~2 s of imports are shared, by `fork()` from
this process before it has opened a database, a thread or an event loop.

Protocol (one JSON object per line): the test writes `{"args": [...], "env": {...}}` to stdin,
this process answers `{"pid": N}` on stdout. Children are reaped here (`SIGCHLD` ignored), so
a pid that no longer answers `os.kill(pid, 0)` has ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys


def _child(args: list[str], env: dict[str, str]) -> None:
    os.environ.update(env)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    sys.argv = ["waypoint", *args]
    from waypoint.cli.app import main

    try:
        main()
    except SystemExit as done:
        os._exit(done.code if isinstance(done.code, int) else 1)
    os._exit(0)


def serve() -> None:
    """Answer fork requests until stdin closes."""
    import waypoint.cli.app  # noqa: F401

    # the workflow and its providers, imported once (absent in a copy without support)
    with contextlib.suppress(ImportError):
        import graphs.support  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(list(request["args"]), dict(request.get("env") or {}))
        sys.stdout.write(json.dumps({"pid": pid}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
