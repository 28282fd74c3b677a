"""The compiled graph Waypoint serves and runs: every way in is admitted first.

`GuardedGraph` is LangGraph's `CompiledStateGraph` with its entry points checked before
LangGraph sees them: a run's input command and context (`stream` / `astream`, which `invoke`,
`ainvoke` and `astream_events` go through) and state updates (`bulk_update_state` /
`abulk_update_state`, which `update_state` and `aupdate_state` go through). LangGraph servers
copy the graph they load (`Pregel.copy` keeps the class), so their runs are admitted too.

- A command may not jump to a node or write protected fields (`waypoint.admission`).
- A state update may not write protected fields.
- The context is the workflow's policy, tightened where the caller asked (`waypoint.policy`).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, StateUpdate
from pydantic import BaseModel

from waypoint.actors import authenticated_user, runner_actor
from waypoint.admission import check_command, check_update, protected_fields
from waypoint.errors import PolicyRefused
from waypoint.policy import admit_context

BUDGETS_KEY = "waypoint_budgets"
"""Run metadata carrying the admitted budgets of a run a server started (callbacks see
metadata, not the context: `waypoint.served_runs` reads them here)."""

ACTOR_KEY = "waypoint_actor"
"""Run metadata naming the user the server authenticated for the run (for the ledger)."""


class GuardedGraph(CompiledStateGraph[Any, Any, Any, Any]):
    """A compiled graph whose commands, state updates and contexts are admitted first."""

    def _protected(self) -> frozenset[str]:
        schema = self.builder.state_schema
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return protected_fields(schema)
        return frozenset()

    def _admitted_context(self, context: Any) -> Any:
        """The context the run gets (see `waypoint.policy`); others' contexts pass through."""
        schema = self.builder.context_schema
        if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
            return context
        if isinstance(context, BaseModel) and not isinstance(context, schema):
            return context  # a parent graph's context, admitted there
        if context is not None and not isinstance(context, BaseModel | Mapping):
            return context  # not a context this graph can check; LangGraph reports it
        return admit_context(self.name, schema, context)

    def _admit(self, input: Any, config: RunnableConfig | None, kwargs: dict[str, Any]) -> None:
        try:
            if isinstance(input, Command):
                check_command(input, self._protected())
            kwargs["context"] = context = self._admitted_context(kwargs.get("context"))
        except PolicyRefused as refused:
            raise for_caller(refused, config) from None
        if config is None or runner_actor() is not None:
            return  # the runner gives the budgets and the actor to its own recorder
        # for the ledger of a run a server started (`waypoint.served_runs`): set here, over
        # anything the caller put in the run's metadata
        metadata = dict(config.get("metadata") or {})
        budgets = getattr(context, "budgets", None)
        if isinstance(budgets, BaseModel):
            metadata[BUDGETS_KEY] = budgets.model_dump(mode="json")
        else:
            metadata.pop(BUDGETS_KEY, None)
        if (user := authenticated_user(config)) is not None:
            metadata[ACTOR_KEY] = user
        else:
            metadata.pop(ACTOR_KEY, None)
        config["metadata"] = metadata

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        """`Pregel.stream`, admitted first."""
        own: RunnableConfig = {**(config or {})}
        self._admit(input, own, kwargs)
        yield from super().stream(input, own, **kwargs)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """`Pregel.astream`, admitted first."""
        own: RunnableConfig = {**(config or {})}
        self._admit(input, own, kwargs)
        async for part in super().astream(input, own, **kwargs):
            yield part

    def _check_updates(
        self, config: RunnableConfig, supersteps: Sequence[Sequence[StateUpdate]]
    ) -> None:
        protected = self._protected()
        try:
            for superstep in supersteps:
                for update in superstep:
                    check_update(update.values, protected)
        except PolicyRefused as refused:
            raise for_caller(refused, config) from None

    def bulk_update_state(
        self, config: RunnableConfig, supersteps: Sequence[Sequence[StateUpdate]]
    ) -> RunnableConfig:
        """`Pregel.bulk_update_state` (and so `update_state`), admitted first."""
        self._check_updates(config, supersteps)
        return super().bulk_update_state(config, supersteps)

    async def abulk_update_state(
        self, config: RunnableConfig, supersteps: Sequence[Sequence[StateUpdate]]
    ) -> RunnableConfig:
        """`Pregel.abulk_update_state` (and so `aupdate_state`), admitted first."""
        self._check_updates(config, supersteps)
        return await super().abulk_update_state(config, supersteps)


def guarded(graph: CompiledStateGraph[Any, Any, Any, Any]) -> GuardedGraph:
    """`graph` as a `GuardedGraph` (the same nodes, channels and config).

    A graph that is not a `StateGraph` (the functional API's `@entrypoint`) is returned as it
    is: it has no state schema whose fields could be protected and no context schema to admit,
    and it cannot be rebuilt as one (`CompiledStateGraph` needs a builder). The kit reads such a
    graph's `builder` only through `getattr`; its ledger, guards and kill switch come from the
    runner's callbacks, as for every graph.
    """
    if isinstance(graph, GuardedGraph):
        return graph
    if not isinstance(graph, CompiledStateGraph):
        return graph  # typed for the callers; see above
    attrs = {k: v for k, v in graph.__dict__.items() if k != "__orig_class__"}
    return GuardedGraph(**attrs)


def for_caller(refused: PolicyRefused, config: RunnableConfig | None) -> Exception:
    """The refusal as the caller should see it: also a 403 inside a web server's process.

    Aegra and `langgraph dev` turn the framework's `HTTPException` into its status (anything
    else is a 500); the refusal stays a `PolicyRefused` for Python callers either way.
    """
    del config
    http_error = _http_error_class()
    if http_error is None:
        return refused
    refusal: Exception = type(
        "PolicyRefusedHTTP",
        (http_error, PolicyRefused),
        {"__init__": _http_init, "__str__": lambda self: str(self.detail)},
    )(refused)
    return refusal


def _http_init(self: Any, refused: PolicyRefused) -> None:
    for base in type(self).__mro__[1:]:
        if base.__name__ == "HTTPException":
            base.__init__(self, status_code=403, detail=str(refused))  # type: ignore[misc]
            break
    self.field = refused.field


def _http_error_class() -> type[Exception] | None:
    """The loaded web framework's HTTP error (FastAPI's under Aegra, Starlette's otherwise)."""
    for module_name in ("fastapi", "starlette.exceptions"):
        module = sys.modules.get(module_name)
        if module is None:
            continue
        error = getattr(module, "HTTPException", None)
        if isinstance(error, type) and issubclass(error, Exception):
            return error
    return None
