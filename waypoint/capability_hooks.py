"""A hook around capability calls, for eval recording and replay.

`CapabilityRegistry.call` asks `current_hook()` before it serves a request. With no hook set (the
normal case) nothing changes. Eval recording sets a hook that traces each call with the hash of
its prompt; replay sets one that answers model calls from a recorded trace instead of a provider
(see `waypoint.evals.model_calls`). A hook receives `serve`, which performs the call as if no hook
were set, so a recording hook can still reach the configured provider.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from waypoint.capabilities import CapabilityRegistry


class CapabilityHook(Protocol):
    """Sees (and may answer) every capability call made while it is set."""

    async def __call__(
        self,
        registry: CapabilityRegistry,
        name: str,
        request: BaseModel,
        model: str | None,
        serve: Callable[[], Awaitable[Any]],
    ) -> Any:
        """Return the validated output of capability `name` for `request`.

        Args:
            registry: the registry the call was made on.
            name: capability name.
            request: the capability's input model instance.
            model: the `provider:model` setting of the run, if any.
            serve: performs the call with the configured provider (no hook).
        """
        ...


_UNSET: Any = object()
_hook: ContextVar[CapabilityHook | None] = ContextVar("waypoint_capability_hook", default=_UNSET)
_default: list[CapabilityHook] = []


def current_hook() -> CapabilityHook | None:
    """The hook set in this context, else the process default (if any)."""
    hook = _hook.get()
    if hook is _UNSET:
        return _default[0] if _default else None
    return hook


def set_default_hook(hook: CapabilityHook | None) -> None:
    """The hook for contexts that set none (the server's `WAYPOINT_RECORD_DIR` switch)."""
    _default.clear()
    if hook is not None:
        _default.append(hook)


@contextmanager
def capability_hook(hook: CapabilityHook | None) -> Iterator[None]:
    """Set `hook` for the calls made in this context (graph tasks inherit it)."""
    token = _hook.set(hook)
    try:
        yield
    finally:
        _hook.reset(token)


async def without_hook(call: Awaitable[Any]) -> Any:
    """Await a capability call with no hook set (how a hook reaches the real provider)."""
    token = _hook.set(None)
    try:
        return await call
    finally:
        _hook.reset(token)
