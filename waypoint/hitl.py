"""Human-in-the-loop in LangChain's shapes, so Studio, Agent Inbox and SDK users can answer.

Out: an `HITLRequest` (`action_requests` + `review_configs`). Back: an `HITLResponse`
(`{"decisions": [{"type": "approve" | "edit" | "reject" | "respond", ...}]}`). Answers are checked
against the request's allowed decisions and the edit `args_schema`; a refused answer raises the
interrupt again with the reason in the description, so the thread stays waiting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal, cast

from langchain.agents.middleware.human_in_the_loop import (
    ActionRequest,
    DecisionType,
    HITLRequest,
    ReviewConfig,
)
from langgraph.types import interrupt
from pydantic import BaseModel

from waypoint.errors import BadInput
from waypoint.input_checks import check_json_value, check_text, shown

ALL_DECISIONS: tuple[DecisionType, ...] = ("approve", "edit", "reject", "respond")


class HumanDecision(BaseModel):
    """A validated answer to one action request."""

    type: Literal["approve", "edit", "reject", "respond"]
    message: str | None = None
    edited_args: dict[str, Any] | None = None


def build_request(
    *,
    action: str,
    args: dict[str, Any],
    description: str,
    allowed: list[DecisionType],
    args_schema: dict[str, Any] | None = None,
    deadline_seconds: float | None = None,
    on_timeout: Literal["reject", "approve", "escalate"] = "reject",
    escalate_to: str | None = None,
) -> HITLRequest:
    """One action request with its review config.

    With `deadline_seconds`, the question carries a deadline (`"deadline"`: seconds and the
    default outcome): `waypoint sweep` answers it with `on_timeout` once it has passed, exactly
    once, as the `sweeper` (a default that proceeds runs the node's checks like any approval).
    `on_timeout="escalate"` answers nothing: the question goes to the user `escalate_to`
    (who may then answer it, `resume --as USER`, and finds it in `inbox --as USER`), once,
    announced as `escalated` to the webhooks.
    """
    review: ReviewConfig = {"action_name": action, "allowed_decisions": list(allowed)}
    if args_schema is not None:
        review["args_schema"] = args_schema
    request: ActionRequest = {"name": action, "args": args, "description": description}
    built: dict[str, Any] = {"action_requests": [request], "review_configs": [review]}
    if deadline_seconds is not None:
        escalates = on_timeout == "escalate"
        if not deadline_seconds > 0 or not (escalates or on_timeout in allowed):
            raise ValueError("a deadline needs seconds > 0 and an allowed default outcome")
        if escalates != bool(escalate_to):
            raise ValueError("escalate_to names who an escalated question goes to (and only then)")
        built["deadline"] = {"seconds": float(deadline_seconds), "on_timeout": on_timeout}
        if escalates:
            built["deadline"]["escalate_to"] = escalate_to
    return cast(HITLRequest, built)


PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?")
"""A number in an answer: digits, an optional point and decimals; no exponent, no `_`, no
`NaN`/`Infinity` (all of which Python's `Decimal` would accept)."""


_NOT_FINITE = {"nan", "snan", "inf", "infinity"}


def _number(field: str, value: Any) -> Decimal:
    """A JSON number or a plain decimal string as a `Decimal`; anything else is `BadInput`."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, str):
        text = value
    else:
        text = ""
    if isinstance(value, float) and math.isfinite(value) and "e" in text:
        text = f"{Decimal(text):f}"  # a JSON number written with an exponent
    if not PLAIN_DECIMAL.fullmatch(text):
        kind = "a finite number" if text.lstrip("+-").lower() in _NOT_FINITE else "a number"
        raise BadInput(
            f"{field}: expected {kind} written as a plain decimal such as 49.90 (no exponent, "
            f"no underscores), got {shown(value)}",
            field=field,
        )
    return Decimal(text)


def _check_value(field: str, value: Any, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "number":
        number = _number(field, value)
        if "minimum" in schema and number < Decimal(str(schema["minimum"])):
            raise BadInput(f"{field}: must be at least {schema['minimum']}", field=field)
        if "maximum" in schema and number > Decimal(str(schema["maximum"])):
            raise BadInput(f"{field}: must be at most {schema['maximum']}", field=field)
        return str(number.quantize(Decimal("0.01")))
    if kind == "string":
        if not isinstance(value, str) or (schema.get("minLength", 0) and not value.strip()):
            raise BadInput(f"{field}: expected a non-empty string", field=field)
        check_text(value, field)
        if "enum" in schema and value not in schema["enum"]:
            raise BadInput(f"{field}: expected one of {', '.join(schema['enum'])}", field=field)
        return value
    check_json_value(value, field)
    return value


def check_edit(args: Any, schema: dict[str, Any] | None) -> dict[str, Any]:
    """Validate edited arguments against the review config's `args_schema`.

    Supports the JSON Schema subset the workflows use: object properties of type number or
    string, minimum/maximum, enum, minLength, required, and no unknown keys.
    """
    if not isinstance(args, dict):
        raise BadInput("edited_action.args: expected an object", field="edited_action.args")
    if schema is None:
        check_json_value(args, "edited_action.args")
        return dict(args)
    properties: dict[str, Any] = schema.get("properties", {})
    unknown = sorted(set(args) - set(properties))
    if unknown:
        unknown = [name[:80] for name in unknown[:10]]
        raise BadInput(
            f"edited_action.args: unknown field(s) {', '.join(unknown)}; "
            f"editable: {', '.join(sorted(properties))}",
            field=f"edited_action.args.{unknown[0]}",
        )
    checked = {
        key: _check_value(f"edited_action.args.{key}", value, properties[key])
        for key, value in args.items()
    }
    for key in schema.get("required", []):
        if key not in checked:
            raise BadInput(f"edited_action.args.{key}: required", field=f"edited_action.args.{key}")
    return checked


def approve_answer() -> dict[str, Any]:
    """The `HITLResponse` that approves the action as asked."""
    return {"decisions": [{"type": "approve"}]}


def reject_answer(reason: str | None = None) -> dict[str, Any]:
    """The `HITLResponse` that rejects the action, with the reason if given."""
    decision: dict[str, Any] = {"type": "reject"}
    if reason:
        decision["message"] = reason
    return {"decisions": [decision]}


def respond_answer(message: str) -> dict[str, Any]:
    """The `HITLResponse` that answers in the human's own words instead of the action."""
    return {"decisions": [{"type": "respond", "message": message}]}


def edit_answer(request: Any, args: Any) -> dict[str, Any]:
    """The `HITLResponse` that runs the requested action with edited `args`."""
    action = request["action_requests"][0]["name"]
    return {"decisions": [{"type": "edit", "edited_action": {"name": action, "args": args}}]}


def is_hitl_request(value: Any) -> bool:
    """Whether an interrupt's value is an `HITLRequest` (a plain `interrupt("...")` is not)."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("action_requests"), list)
        and isinstance(value.get("review_configs"), list)
        and len(value["action_requests"]) > 0
    )


def parse_response(value: Any, request: HITLRequest) -> HumanDecision:
    """Validate a resume value against the request it answers.

    Raises:
        BadInput: naming the field that is wrong and what was expected.
    """
    if not isinstance(value, dict) or "decisions" not in value:
        raise BadInput(
            'resume: expected an HITLResponse {"decisions": [{"type": ...}]}', field="decisions"
        )
    decisions = value["decisions"]
    if not isinstance(decisions, list) or len(decisions) != len(request["action_requests"]):
        raise BadInput(
            f"decisions: expected {len(request['action_requests'])} decision(s), one per action",
            field="decisions",
        )
    decision = decisions[0]
    review = request["review_configs"][0]
    allowed = review["allowed_decisions"]
    kind = decision.get("type") if isinstance(decision, dict) else None
    if kind not in allowed:
        raise BadInput(
            f"decisions[0].type: expected one of {', '.join(allowed)}, got {kind!r}",
            field="decisions[0].type",
        )
    decision = cast(dict[str, Any], decision)
    message = decision.get("message")
    if message is not None and not isinstance(message, str):
        raise BadInput("decisions[0].message: expected text", field="decisions[0].message")
    if message is not None:
        check_text(message, "decisions[0].message")
    if kind == "respond" and not (message or "").strip():
        raise BadInput(
            "decisions[0].message: a respond decision needs the reply text",
            field="decisions[0].message",
        )
    if kind == "edit":
        edited = decision.get("edited_action")
        if not isinstance(edited, dict) or edited.get("name") != review["action_name"]:
            raise BadInput(
                f"decisions[0].edited_action: expected {{'name': {review['action_name']!r}, "
                "'args': {...}}",
                field="decisions[0].edited_action",
            )
        args = check_edit(edited.get("args"), review.get("args_schema"))
        return HumanDecision(type="edit", message=message, edited_args=args)
    return HumanDecision(type=kind, message=(message or "").strip() or None)


def ask_human(
    request: HITLRequest, *, recheck: Callable[[HumanDecision], None] | None = None
) -> HumanDecision:
    """Interrupt until a valid answer arrives; `recheck` may refuse it with `BadInput`.

    On resume the calling node runs again from its first line, so the code before this call
    must be idempotent (LangGraph replays earlier answers to earlier `interrupt()` calls).
    """
    pending = request
    while True:
        answer = interrupt(pending)
        try:
            decision = parse_response(answer, request)
            if recheck is not None:
                recheck(decision)
            _report_answer(decision)
            return decision
        except BadInput as refused:
            action = dict(request["action_requests"][0])
            action["description"] = (
                f"{action.get('description', '')}\n\nPrevious answer refused: {refused}"
            ).strip()
            pending = cast(
                HITLRequest, {**request, "action_requests": [cast(ActionRequest, action)]}
            )


def _report_answer(decision: HumanDecision) -> None:
    """Tell the run's ledger who answered what (no-op outside a recorded run)."""
    from langgraph.config import get_config

    from waypoint.actors import acting_role, acting_user
    from waypoint.ledger import current_recorder

    recorder = current_recorder()
    if recorder is None:
        return
    config = get_config()
    metadata = config.get("metadata", {})
    answer = {
        "decision": decision.type,
        **decision.model_dump(exclude_none=True, exclude={"type"}),
        "answered_by": acting_user(config),
        "answered_as": acting_role(config),
    }
    recorder.on_human_answer(
        str(metadata.get("langgraph_node", "?")),
        int(metadata.get("langgraph_step", -1)),
        answer,
        task=metadata.get("langgraph_checkpoint_ns"),
    )
