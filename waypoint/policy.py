"""Policy: the limits a run works under, set on the server; a caller may tighten, never loosen.

A workflow marks the policy fields of its context schema:

```python
approval_threshold: Decimal = Field(
    default=Decimal("100.00"), json_schema_extra={"policy": "at_most"}
)
```

- `at_most`: the configured value is the most a run may use; a run's context may lower it.
  `None` configured means no limit; `None` asked for means "no limit" and is refused when
  the policy has one.
- `at_least`: the least a run may use; a run's context may raise it.
- `subset`: a list a run may narrow (`None` means "everything").

A field holding a model (such as `budgets`) is checked field by field. The configured values are
`[policy.<workflow>]` in `waypoint.toml` (nested tables for nested models); what is not
configured is the schema's default. `admit_context` turns what a caller asked for into the
context the run gets: the policy, tightened where the caller asked, everything else as asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from waypoint.config import load_config
from waypoint.errors import BadInput, PolicyRefused

Rule = Literal["at_most", "at_least", "subset"]

AT_MOST: dict[str, Any] = {"policy": "at_most"}
"""`json_schema_extra` of a limit a run's context may only lower (a threshold, a budget)."""
AT_LEAST: dict[str, Any] = {"policy": "at_least"}
"""`json_schema_extra` of a floor a run's context may only raise (a confidence threshold)."""
SUBSET: dict[str, Any] = {"policy": "subset"}
"""`json_schema_extra` of a list a run's context may only narrow (allowed side effects)."""


def _rule(model: type[BaseModel], name: str) -> Rule | None:
    extra = model.model_fields[name].json_schema_extra
    rule = extra.get("policy") if isinstance(extra, dict) else None
    return rule if rule in ("at_most", "at_least", "subset") else None  # type: ignore[return-value]


def _nested(model: type[BaseModel], name: str) -> type[BaseModel] | None:
    """The model a field holds when that model has policy fields of its own."""
    annotation = model.model_fields[name].annotation
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return None
    marked = any(_rule(annotation, f) or _nested(annotation, f) for f in annotation.model_fields)
    return annotation if marked else None


def policy_fields(model: type[BaseModel], prefix: str = "") -> dict[str, Rule]:
    """Every policy field of a context schema, by dotted path, with its rule."""
    found: dict[str, Rule] = {}
    for name in model.model_fields:
        if (rule := _rule(model, name)) is not None:
            found[f"{prefix}{name}"] = rule
        elif (inner := _nested(model, name)) is not None:
            found.update(policy_fields(inner, f"{prefix}{name}."))
    return found


def configured_policy(workflow: str, context_schema: type[BaseModel]) -> BaseModel:
    """The workflow's policy: the context schema's defaults, with `[policy.<workflow>]` applied.

    Raises:
        BadInput: the configured policy does not fit the context schema (a config error).
    """
    operator = (_operator.get() or {}).get(workflow, {})
    configured = _merged(load_config().policy.get(workflow, {}), operator)
    unknown = sorted(set(configured) - set(policy_fields_top(context_schema)))
    if unknown:
        raise BadInput(
            f"config: policy.{workflow}.{unknown[0]}: not a policy field of "
            f"{context_schema.__name__}; expected one of "
            f"{', '.join(policy_fields_top(context_schema))}",
            field=f"policy.{workflow}.{unknown[0]}",
        )
    defaults = context_schema().model_dump(mode="json")
    try:
        return context_schema.model_validate(_merged(defaults, configured))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadInput(
            f"config: policy.{workflow}.{where}: {first['msg']}", field=f"policy.{workflow}"
        ) from exc


_operator: ContextVar[Mapping[str, Mapping[str, Any]] | None] = ContextVar(
    "waypoint_operator_policy", default=None
)


@contextmanager
def operator_policy(workflow: str, values: Mapping[str, Any]) -> Iterator[None]:
    """Runs in this block work under `values` as if `[policy.<workflow>]` configured them.

    For operators' own code (the eval harness replays a case recorded under another policy);
    no request or context can reach it.
    """
    current = dict(_operator.get() or {})
    current[workflow] = _merged(dict(current.get(workflow, {})), values)
    token = _operator.set(current)
    try:
        yield
    finally:
        _operator.reset(token)


def policy_fields_top(model: type[BaseModel]) -> list[str]:
    """The top-level fields of a context schema that are policy or hold policy fields."""
    return [name for name in model.model_fields if _rule(model, name) or _nested(model, name)]


def _merged(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _looser(rule: Rule, asked: Any, allowed: Any) -> bool:
    """Whether `asked` gives a run more room than `allowed` under `rule`."""
    if allowed is None:
        return False  # no limit configured: anything is within it
    if asked is None:
        return True  # "no limit" asked, where there is one
    if rule == "at_most":
        return bool(asked > allowed)
    if rule == "at_least":
        return bool(asked < allowed)
    return not set(asked) <= set(allowed)


_WORDS: dict[Rule, str] = {
    "at_most": "at most",
    "at_least": "at least",
    "subset": "within",
}


def _tightened(
    schema: type[BaseModel], asked: BaseModel, allowed: BaseModel, where: str, clamp: bool
) -> dict[str, Any]:
    """`allowed` as JSON with the fields the caller set applied, each checked against its rule.

    With `clamp`, a looser value gives way to the policy's instead of being refused.

    Raises:
        PolicyRefused: a field asks for more room than the policy allows (without `clamp`).
    """
    result = allowed.model_dump(mode="json")
    for name in asked.model_fields_set:
        value = getattr(asked, name)
        limit = getattr(allowed, name)
        path = f"{where}.{name}"
        if (rule := _rule(schema, name)) is not None:
            if _looser(rule, value, limit):
                if clamp:
                    continue  # the policy's value stays
                shown = "no limit" if value is None else value
                raise PolicyRefused(
                    f"{path}: may only tighten the policy ({_WORDS[rule]} {limit}); got {shown}",
                    field=path.removeprefix("context."),
                )
            result[name] = asked.model_dump(mode="json", include={name})[name]
        elif (inner := _nested(schema, name)) is not None and isinstance(value, BaseModel):
            assert isinstance(limit, BaseModel)
            result[name] = _tightened(inner, value, limit, path, clamp)
        else:
            result[name] = asked.model_dump(mode="json", include={name})[name]
    return result


def admit_context(
    workflow: str,
    context_schema: type[BaseModel],
    asked: Mapping[str, Any] | BaseModel | None,
    *,
    clamp: bool = False,
) -> BaseModel:
    """The context a run gets: the workflow's policy, tightened where `asked` tightens it.

    `clamp` is for a context admitted earlier (a thread's stored context, on resume): where the
    policy has since become tighter, the policy wins instead of the run being refused.

    Raises:
        BadInput: `asked` does not fit the context schema (naming every field).
        PolicyRefused: `asked` loosens a policy field.
    """
    from waypoint.runner import validate  # the runner's messages name every field

    if isinstance(asked, context_schema):
        requested: BaseModel = asked
    else:
        data = asked.model_dump(exclude_unset=True) if isinstance(asked, BaseModel) else asked
        requested = validate(context_schema, dict(data or {}), what="context")
    allowed = configured_policy(workflow, context_schema)
    return context_schema.model_validate(
        _tightened(context_schema, requested, allowed, "context", clamp)
    )
