"""Run requests a LangGraph server receives, checked before the server touches the thread.

The served graph admits every run itself (`waypoint.guarded_graph`), but a run refused there
has already started: Aegra then marks the thread `error` and refuses a valid answer afterwards
(400, "not in interrupted state"). So `waypoint.server.auth` calls `check_run_request` on every
`threads.create_run` first, and a bad request is a 4xx that changes nothing:

- 422: a command with nothing to do (`{}`, `{"resume": null}`), an answer that is not an
  answer (an `HITLResponse` without decisions), a context that does not fit the schema, text a
  database cannot hold (a NUL character) or JSON nested too deep anywhere in the request;
- 403: a `goto`, an update of a protected field, a context looser than the policy, a
  Waypoint-reserved `configurable` key.

Both request shapes are read: Aegra passes the request itself; `langgraph dev` (langgraph-api)
nests it under `kwargs`, with its own keys already added to `config.configurable` and the
configurable mirrored into the context (it drops context keys the schema does not know).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from waypoint.admission import check_command, protected_fields
from waypoint.errors import BadInput, PolicyRefused
from waypoint.hitl import ALL_DECISIONS
from waypoint.input_checks import check_json_value
from waypoint.policy import admit_context
from waypoint.workflows import Workflow, load_workflow, workflow_names

ASSISTANT_NAMESPACE = uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
"""The namespace both servers derive a graph's default assistant id from (uuid5)."""

RESERVED_PREFIXES = ("waypoint_",)
"""`configurable` keys a caller may not set: Waypoint's own."""


class RequestRefused(Exception):
    """A run request refused before it reached the thread; `status` is the HTTP status."""

    def __init__(self, status: int, detail: str) -> None:
        """Carry the status and the one-line reason."""
        super().__init__(detail)
        self.status = status
        self.detail = detail


def workflow_for(assistant_id: Any) -> Workflow | None:
    """The workflow an assistant id names: a graph name or its default assistant's uuid5."""
    wanted = str(assistant_id or "")
    for name in workflow_names():
        if wanted in (name, str(uuid.uuid5(ASSISTANT_NAMESPACE, name))):
            return load_workflow(name)
    return None


def _check_answer(value: Any, where: str) -> None:
    """An `HITLResponse`-shaped answer has a list of decisions each of a known type."""
    if value is None:
        raise BadInput(
            f"{where}: expected an answer to the pending question, got null", field=where
        )
    if not (isinstance(value, Mapping) and "decisions" in value):
        return  # not an HITL answer: a plain interrupt's question decides what fits
    decisions = value["decisions"]
    if not isinstance(decisions, list) or not decisions:
        raise BadInput(f"{where}.decisions: expected a non-empty list", field=f"{where}.decisions")
    for index, decision in enumerate(decisions):
        kind = decision.get("type") if isinstance(decision, Mapping) else None
        if kind not in ALL_DECISIONS:
            raise BadInput(
                f"{where}.decisions[{index}].type: expected one of {', '.join(ALL_DECISIONS)}, "
                f"got {kind!r}",
                field=f"{where}.decisions[{index}].type",
            )


def _check_resume(command: Mapping[str, Any]) -> None:
    if "resume" not in command:
        return
    resume = command["resume"]
    if isinstance(resume, Mapping) and resume and "decisions" not in resume:
        for interrupt_id, answer in resume.items():  # answers by interrupt id
            _check_answer(answer, f"command.resume.{interrupt_id}")
    elif isinstance(resume, Mapping) and not resume:
        raise BadInput("command.resume: expected an answer, got {}", field="command.resume")
    else:
        _check_answer(resume, "command.resume")


def _check_input(workflow: Workflow, graph_input: Any) -> None:
    """The run's input against the workflow's input schema: every problem at once.

    Raises:
        BadInput: naming each wrong or unknown field (`input.custmer_id`) and the schema.
    """
    from waypoint.runner import validate

    try:
        validate(workflow.input_schema, graph_input, what="input")
    except BadInput as bad:
        schema = getattr(workflow.input_schema, "__name__", "the input schema")
        raise BadInput(f"{bad} (input schema {schema})", field=bad.field) from None


def _check_configurable(configurable: Mapping[str, Any]) -> None:
    for key, value in configurable.items():
        if str(key).startswith(RESERVED_PREFIXES):
            raise PolicyRefused(
                f"config.configurable.{key}: reserved for Waypoint; a caller may not set it "
                "(the actor is the authenticated user)",
                field=f"config.configurable.{key}",
            )
        if key == "checkpoint_ns" and value:
            raise PolicyRefused(
                "config.configurable.checkpoint_ns: a run starts at the thread's root",
                field="config.configurable.checkpoint_ns",
            )


def check_run_request(value: Mapping[str, Any]) -> None:
    """Check a `threads.create_run` request; refuse it with its HTTP status.

    Raises:
        RequestRefused: 403 for what the policy forbids, 422 for what is malformed.
    """
    nested = isinstance(value.get("kwargs"), Mapping)
    payload: Mapping[str, Any] = value["kwargs"] if nested else value
    try:
        for part in ("input", "command", "context"):  # text Postgres cannot hold, depth
            check_json_value(payload.get(part), part)
        config = payload.get("config") or {}
        _check_configurable(config.get("configurable") or {} if isinstance(config, Mapping) else {})
        workflow = workflow_for(value.get("assistant_id") or payload.get("assistant_id"))
        if workflow is None:
            return  # not a Waypoint workflow: the server answers for it (404)
        graph_input = payload.get("input")
        if graph_input is not None:
            _check_input(workflow, graph_input)
        command = payload.get("command")
        if command is not None:
            if not isinstance(command, Mapping):
                raise BadInput("command: expected an object", field="command")
            check_command(command, protected_fields(workflow.state_schema))
            _check_resume(command)
        context = payload.get("context")
        if isinstance(context, Mapping) and context:
            if nested:  # langgraph-api mirrors its configurable here and drops unknown keys
                known = workflow.context_schema.model_fields
                context = {k: v for k, v in context.items() if k in known}
            admit_context(workflow.name, workflow.context_schema, context)
        elif context is not None and not isinstance(context, Mapping):
            raise BadInput("context: expected an object", field="context")
    except PolicyRefused as refused:
        raise RequestRefused(403, str(refused)) from None
    except BadInput as bad:
        raise RequestRefused(422, str(bad)) from None


def answers_only(value: Mapping[str, Any]) -> bool:
    """Whether a run request only answers the pending question (a `resume` command, no input).

    What a reviewer may send for a thread it does not own (`waypoint.roles`).
    """
    nested = isinstance(value.get("kwargs"), Mapping)
    payload: Mapping[str, Any] = value["kwargs"] if nested else value
    command = payload.get("command")
    return (
        payload.get("input") is None
        and isinstance(command, Mapping)
        and set(command) == {"resume"}
        and command["resume"] is not None
    )
