"""Human-in-the-loop in LangChain's shapes, so Studio, Agent Inbox and SDK users can answer.

Out: an `HITLRequest` (`action_requests` + `review_configs`). Back: an `HITLResponse`
(`{"decisions": [{"type": "approve" | "edit" | "reject" | "respond", ...}]}`). Answers are checked
against the request's allowed decisions and the edit `args_schema`; a refused answer raises the
interrupt again with the reason in the description, so the thread stays waiting.
"""

from __future__ import annotations

import builtins
import math
import re
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from langgraph.types import interrupt
from pydantic import BaseModel, ValidationError

from waypoint.errors import BadInput
from waypoint.input_checks import check_json_value, check_text, shown

if TYPE_CHECKING:  # LangChain's HITL shapes are TypedDicts: types only (no `langchain.agents`
    # import, ≈70 ms, for a command that only reads a thread)
    from jsonschema.exceptions import ValidationError as SchemaError
    from langchain.agents.middleware.human_in_the_loop import (
        ActionRequest,
        DecisionType,
        HITLRequest,
        ReviewConfig,
    )

EditT = TypeVar("EditT", bound=BaseModel)

ALL_DECISIONS: tuple[DecisionType, ...] = ("approve", "edit", "reject", "respond")


class HumanDecision(BaseModel):
    """A validated answer to one action request."""

    type: Literal["approve", "edit", "reject", "respond"]
    message: str | None = None
    edited_args: dict[str, Any] | None = None

    def edits(self, model: builtins.type[EditT]) -> EditT:
        """The edited arguments as `model` (the one given as the request's `args_schema`).

        Raises:
            BadInput: they do not fit it (naming the field), e.g. a bound only the model knows.
        """
        try:
            return model.model_validate(self.edited_args or {})
        except ValidationError as invalid:
            first = invalid.errors()[0]
            field = ".".join(["edited_action.args", *(str(p) for p in first["loc"])])
            raise BadInput(f"{field}: {first['msg']}", field=field) from None


def build_request(
    *,
    action: str,
    args: dict[str, Any],
    description: str,
    allowed: list[DecisionType],
    args_schema: ArgsSchema | None = None,
    deadline_seconds: float | None = None,
    on_timeout: Literal["reject", "approve", "escalate"] = "reject",
    escalate_to: str | None = None,
) -> HITLRequest:
    """One action request with its review config.

    `args_schema` says what an `edit` may change: a pydantic model (its JSON Schema goes in the
    request; read the answer back typed with `HumanDecision.edits`) or a JSON Schema.

    With `deadline_seconds`, the question carries a deadline (`"deadline"`: seconds and the
    default outcome): `waypoint sweep` answers it with `on_timeout` once it has passed, exactly
    once, as the `sweeper` (a default that proceeds runs the node's checks like any approval).
    `on_timeout="escalate"` answers nothing: the question goes to the user `escalate_to`
    (who may then answer it, `resume --as USER`, and finds it in `inbox --as USER`), once,
    announced as `escalated` to the webhooks.
    """
    review: ReviewConfig = {"action_name": action, "allowed_decisions": list(allowed)}
    schema = schema_of(args_schema)
    if schema is not None:
        review["args_schema"] = schema
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
    return cast("HITLRequest", built)


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


ArgsSchema = dict[str, Any] | type[BaseModel]
"""What an edit's arguments must satisfy: a JSON Schema, or a pydantic model (its schema)."""


def schema_of(args_schema: ArgsSchema | None) -> dict[str, Any] | None:
    """The JSON Schema an HITL request carries for `args_schema` (a model gives its own)."""
    if isinstance(args_schema, type) and issubclass(args_schema, BaseModel):
        return args_schema.model_json_schema()
    return args_schema


def _number_kind(schema: dict[str, Any]) -> str | None:
    """How a field takes numbers, if it does.

    `money` (a plain `number`: kept to cents), `integer`, `decimal` (a `number` among other
    shapes, as pydantic writes a `Decimal`), or None.
    """
    kind = schema.get("type")
    if kind == "number":
        return "money"
    if kind == "integer":
        return "integer"
    branches = [b.get("type") for b in schema.get("anyOf", []) if isinstance(b, dict)]
    if "number" in branches or "integer" in branches:
        return "decimal"
    return None


def _string_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of the field's text, when it takes only text (or text or null)."""
    if schema.get("type") == "string":
        return schema
    branches = [b for b in schema.get("anyOf", []) if isinstance(b, dict)]
    texts = [b for b in branches if b.get("type") == "string"]
    if len(texts) == 1 and all(b.get("type") in ("string", "null") for b in branches):
        return texts[0]
    return None


def _normalised(field: str, value: Any, schema: dict[str, Any]) -> Any:
    """A value as the schema will judge it.

    Numbers parsed strictly (`_number`) as `Decimal` (an integer field's as `int`), text checked
    (a `minLength` field may not be blank).
    """
    number = _number_kind(schema)
    if number is not None and not (value is None and "anyOf" in schema):
        parsed = _number(field, value)
        if number == "integer" and parsed == parsed.to_integral_value():
            return int(parsed)
        return parsed
    text = _string_schema(schema)
    blank_or_not_text = not isinstance(value, str) or (
        text is not None and text.get("minLength", 0) and not value.strip()
    )
    if text is not None and not (value is None and "anyOf" in schema) and blank_or_not_text:
        raise BadInput(f"{field}: expected a non-empty string", field=field)
    check_json_value(value, field)
    return value


_SAID = {
    "minimum": "must be at least {}",
    "exclusiveMinimum": "must be above {}",
    "maximum": "must be at most {}",
    "exclusiveMaximum": "must be below {}",
    "enum": "expected one of {}",
}
"""How a refusal by these JSON Schema keywords is said (others keep the validator's words)."""


def _leaves(errors: Iterable[SchemaError]) -> Iterator[SchemaError]:
    """The errors to tell.

    For a value no `anyOf` branch takes: the branches' own errors that are not about its type
    (`Decimal | None` refused 0 because of `gt=0`, not for not being null).
    """
    for error in errors:
        if error.validator in ("anyOf", "oneOf") and error.context:
            telling = [e for e in error.context if e.validator != "type"]
            if telling:
                yield from _leaves(telling)
                continue
        yield error


def _problems(args: dict[str, Any], schema: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (field, problem) the JSON Schema finds in `args` (jsonschema, draft 2020-12)."""
    problems: list[tuple[str, str]] = []
    from jsonschema import Draft202012Validator  # ≈55 ms: imported when an edit is checked

    for error in _leaves(Draft202012Validator(schema).iter_errors(args)):
        path = ".".join(["edited_action.args", *(str(p) for p in error.absolute_path)])
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = [k for k in error.validator_value if k not in error.instance]
            problems += [(f"{path}.{name}", "required") for name in missing]
            continue
        template = _SAID.get(str(error.validator))
        if template is None:
            said = shown(error.message, 200).strip('"')
        elif error.validator == "enum":
            said = template.format(", ".join(str(v) for v in error.validator_value))
        else:
            said = template.format(error.validator_value)
        problems.append((path, said))
    return sorted(problems)


def check_edit(args: Any, schema: dict[str, Any] | None) -> dict[str, Any]:
    """Validate edited arguments against the review config's `args_schema` (a JSON Schema).

    Unknown keys are refused, numbers must be plain decimals (`_number`), then the schema is
    applied by `jsonschema` and every problem is named at once. A plain `number` field comes
    back as text in cents (`"49.90"`); other numbers as written (`"0.5"`), integers as `int`.
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
    normalised = {
        key: _normalised(f"edited_action.args.{key}", value, properties[key])
        for key, value in args.items()
    }
    problems = _problems(normalised, schema)
    if problems:
        raise BadInput(
            "; ".join(f"{field}: {said}" for field, said in problems), field=problems[0][0]
        )
    return {
        key: str(value.quantize(Decimal("0.01")))
        if _number_kind(properties[key]) == "money"
        else str(value)
        if isinstance(value, Decimal)
        else value
        for key, value in normalised.items()
    }


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
                "HITLRequest", {**request, "action_requests": [cast("ActionRequest", action)]}
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
