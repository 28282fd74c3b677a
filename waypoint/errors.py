"""Errors the command line maps to exit codes; each says what to do next."""

from __future__ import annotations


class WaypointError(Exception):
    """Base class; `exit_code` is the command line's exit status for it."""

    exit_code = 1


class BadInput(WaypointError):
    """The caller sent something invalid; nothing was written."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None) -> None:
        """Name the offending field (dotted path) when there is one."""
        super().__init__(message)
        self.field = field


class PolicyRefused(BadInput):
    """The caller asked for more than the workflow's policy allows; nothing was written."""


class Halted(WaypointError):
    """A guard or a kill stopped the thread; it continues only with an override."""

    exit_code = 4


class ThreadBusy(WaypointError):
    """Another process holds the thread."""

    exit_code = 5


class ThreadTakenOver(ThreadBusy):
    """This run lost the thread's writer lock and another writer took the thread over.

    The database refused the run's next checkpoint or side effect (its fencing token is no
    longer the thread's), so the run stopped and wrote nothing more.
    """


class SchemaMigrationMissing(WaypointError):
    """A thread was written by a state schema version this code cannot read."""

    exit_code = 1


class DatabaseUnavailable(WaypointError):
    """The database could not be reached or dropped the connection."""

    exit_code = 1


class RunKeptError(WaypointError):
    """The run started and what it did is kept, but the command could not finish its job.

    For example a recorded answer that did not fit the question the run asked, or a trace that
    could not be written after the run. This is not `BadInput` (which promises nothing was
    written): the message says where the thread stands and what to do next.
    """

    exit_code = 1
