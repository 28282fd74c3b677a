"""One research task (a subgraph per sub-question): recall, an agent loop, its finding.

`recall` reuses a finding kept in the Store (re-reading the passages it cites, so they count as
retrieved in this thread); otherwise `agent` and LangGraph's `ToolNode` loop over `messages`
until the model answers or the tool-call budget in state runs out; `write_findings` turns the
answer into a typed `Finding`; `remember` keeps an answered one in the Store.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.prebuilt import tools_condition
from langgraph.runtime import Runtime

from nodes.research import memory
from nodes.research.brief import citations
from nodes.research.capabilities import READ, RECALL, ReadRequest, RecallRequest
from nodes.research.chat_model import chat_model
from nodes.research.prompts import researcher_prompt
from nodes.research.tools import TOOLS
from state.research import Claim, Finding, ResearchContext, TaskState
from waypoint import acting_user, update


def _thread(config: RunnableConfig) -> str:
    return str(config.get("configurable", {}).get("thread_id", ""))


async def recall(state: TaskState, runtime: Runtime[ResearchContext]) -> dict[str, Any]:
    """Reuse this user's kept finding for the same sub-question, if memory is on and it is."""
    if not state.use_memory or runtime.store is None:
        return {}
    kept = await RECALL.call(RecallRequest(question=state.sub_question.text))
    if not kept.found or kept.finding is None:
        return {}
    finding = kept.finding
    cited = sorted({c for claim in finding.claims for c in claim.citations})
    for passage_id in cited:  # still in the corpus, and retrieved in this thread
        passage = await READ.call(ReadRequest(passage_id=passage_id))
        if not passage.found:
            return {}
    reused = finding.model_copy(
        update={
            "sub_question_id": state.sub_question.id,
            "tool_calls": 0,
            "reused_from": kept.thread_id,
        }
    )
    note = AIMessage(content=f"Reused the finding of thread {kept.thread_id} from memory.")
    return {**update(findings=[reused], retrieved=cited), "messages": [note]}


def route_after_recall(state: TaskState) -> Literal["agent", "__end__"]:
    """A reused finding ends the task; otherwise research it."""
    return "__end__" if state.findings else "agent"


async def agent(state: TaskState, runtime: Runtime[ResearchContext]) -> dict[str, Any]:
    """One model turn: a tool call (within the budget) or the answer."""
    opening = (
        []
        if state.messages
        else researcher_prompt(state.sub_question.text, state.depth, state.tool_call_budget)
    )
    model = chat_model(runtime.context.model).bind_tools(TOOLS)
    answer = await model.ainvoke([*state.messages, *opening])
    calls = len(getattr(answer, "tool_calls", []) or [])
    if calls and state.tool_calls_used + calls > state.tool_call_budget:
        # the model wants more than the budget leaves: the call is not made, the loop stops
        return {"messages": opening, "budget_exhausted": True}
    return {"messages": [*opening, answer], "tool_calls_used": state.tool_calls_used + calls}


def route_after_agent(state: TaskState) -> Literal["tools", "write_findings"]:
    """Tool calls → the tools (LangGraph's `tools_condition`); an answer → `write_findings`.

    An exhausted budget goes to `write_findings` too: the over-budget call is never made.
    """
    if state.budget_exhausted or not state.messages:
        return "write_findings"
    return "tools" if tools_condition(state) == "tools" else "write_findings"


_CLAIM = re.compile(r"^\s*[-*]\s+(.+)$")


def parse_claims(text: str) -> list[Claim]:
    """The bullet lines of an answer, each with the passage ids it cites."""
    claims: list[Claim] = []
    for line in text.splitlines():
        match = _CLAIM.match(line)
        if match:
            body = match.group(1).strip()
            cited = citations(body)
            plain = re.sub(r"\s*\[[^\]]*\]", "", body).strip()
            if plain:
                claims.append(Claim(text=plain, citations=cited))
    return claims


def _retrieved(state: TaskState) -> list[str]:
    found: set[str] = set()
    for message in state.messages:
        if isinstance(message, ToolMessage) and isinstance(message.artifact, list):
            found |= {str(pid) for pid in message.artifact}
    return sorted(found)


async def write_findings(state: TaskState) -> dict[str, Any]:
    """The task's finding: the answer's cited claims, or why it is unanswered."""
    sub = state.sub_question
    last = state.messages[-1] if state.messages else None
    text = str(last.content) if isinstance(last, AIMessage) and not last.tool_calls else ""
    claims = [] if text.startswith("UNANSWERED") else parse_claims(text)
    if claims:
        finding = Finding(
            sub_question_id=sub.id,
            question=sub.text,
            status="answered",
            claims=claims,
            tool_calls=state.tool_calls_used,
        )
    else:
        if state.budget_exhausted:
            reason = f"tool-call budget of {state.tool_call_budget} exhausted"
        elif text.startswith("UNANSWERED"):
            reason = text.removeprefix("UNANSWERED:").strip() or "the model found nothing"
        else:
            reason = "the answer cited no passage"
        finding = Finding(
            sub_question_id=sub.id,
            question=sub.text,
            status="unanswered",
            reason=reason,
            tool_calls=state.tool_calls_used,
        )
    return update(findings=[finding], retrieved=_retrieved(state))


async def remember(
    state: TaskState, config: RunnableConfig, runtime: Runtime[ResearchContext]
) -> dict[str, Any]:
    """Keep an answered finding in the Store for this user's later threads."""
    if runtime.store is None or not state.findings:
        return {}
    finding = state.findings[0]
    if finding.status == "answered" and finding.reused_from is None:
        await memory.remember(
            runtime.store,
            acting_user(config),
            finding,
            _thread(config),
            runtime.context.memory_ttl_minutes,
        )
    return {}


def unanswered(state: Any, failure: dict[str, str]) -> dict[str, Any]:
    """A failed task's finding (the `degrade` rung): its sub-question, marked unanswered."""
    values = state if isinstance(state, dict) else state.model_dump()
    sub = values["sub_question"]
    sub = sub if isinstance(sub, dict) else sub.model_dump()
    reason = f"{failure['node']} failed: {failure['error_type']}: {failure['message']}"[:300]
    finding = Finding(
        sub_question_id=sub["id"],
        question=sub["text"],
        status="unanswered",
        reason=reason,
        tool_calls=int(values.get("tool_calls_used", 0)),
    )
    return update(findings=[finding])
