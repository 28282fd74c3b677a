"""LLM-as-judge evaluators (openevals `create_llm_as_judge`), only with a judge model.

With no judge model configured (offline, the default) a judge is reported as skipped, never as
passed. The judge model is the suite's `judge_model`, `WAYPOINT_JUDGE_MODEL`, or `--judge`; it is
reached through the capability registry's chat model factory (`init_chat_model`).
"""

from __future__ import annotations

from typing import Any

import openevals.prompts
from openevals.llm import create_llm_as_judge

from waypoint.evals.evaluators.base import Outcome, ScoringContext, lookup
from waypoint.evals.suite import Case, JudgeSpec
from waypoint.evals.trace_view import TraceView


def judge_prompt(name_or_text: str) -> str:
    """An openevals prompt by name (`correctness` → CORRECTNESS_PROMPT), else the text itself."""
    found = getattr(openevals.prompts, f"{name_or_text.upper()}_PROMPT", None)
    return found if isinstance(found, str) else name_or_text


class LLMJudge:
    """One judge from the suite's `judges` list."""

    source = "openevals-judge"

    def __init__(self, spec: JudgeSpec) -> None:
        """Judge the case's `spec.outputs` given its `spec.inputs`."""
        self.spec = spec
        self.key = spec.name

    def applies(self, case: Case, context: ScoringContext) -> bool:
        """Cases with one of the judge's tags (all cases when it has none)."""
        return not self.spec.tags or bool(set(self.spec.tags) & set(case.tags))

    def evaluate(self, case: Case, view: TraceView, context: ScoringContext) -> Outcome:
        """Ask the judge model; skipped when none is configured or nothing is there to judge."""
        if not context.judge_model:
            return Outcome(
                self.key,
                None,
                comment="skipped: no judge model (judge_model, WAYPOINT_JUDGE_MODEL or --judge)",
            )
        data: dict[str, Any] = {
            "input": view.header.input or {},
            "output": view.final_output,
            "expect": case.expect.model_dump(mode="json", exclude_none=True),
        }
        answer = lookup(data, self.spec.outputs)
        if answer in (None, ""):
            return Outcome(self.key, None, comment=f"skipped: no {self.spec.outputs} to judge")
        from waypoint.capabilities import registry

        evaluator = create_llm_as_judge(
            prompt=judge_prompt(self.spec.prompt),
            feedback_key=self.key,
            judge=registry.chat_model_factory(context.judge_model),
        )
        reference = lookup(data, self.spec.reference) if self.spec.reference else ""
        result = evaluator(
            inputs=lookup(data, self.spec.inputs), outputs=answer, reference_outputs=reference
        )
        item = result[0] if isinstance(result, list) else result
        score = float(item["score"])
        return Outcome(
            self.key, score >= self.spec.min_score, score, str(item.get("comment") or "")
        )
