"""Prompts of the research tasks' chat model and of the writer (`synthesise`).

The first line of each system prompt names the role; the offline model reads it
(`nodes/research/chat_model.py`), a real model reads the instructions after it.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

RESEARCHER = "ROLE: researcher"
WRITER = "ROLE: writer"


def researcher_prompt(sub_question: str, depth: int, budget: int) -> list[BaseMessage]:
    """The first messages of a research task's agent loop."""
    return [
        SystemMessage(
            f"{RESEARCHER}\nYou answer one sub-question about Python's standard library from "
            "its documentation, using only the tools. Call search_docs first, then read_passage "
            f"for the most relevant passage ids (at most {depth}). You may make {budget} tool "
            "calls in all. Then answer with the line FINDINGS followed by one line per claim, "
            "'- <claim> [<passage id>]', citing only passages you read. If nothing relevant "
            "was found, answer 'UNANSWERED: <why>'."
        ),
        HumanMessage(f"Sub-question: {sub_question}\nRead at most {depth} passages."),
    ]


def writer_prompt(facts: dict[str, Any]) -> list[BaseMessage]:
    """The writer's prompt: instructions, then the facts as JSON on the line after `FACTS`."""
    return [
        SystemMessage(
            f"{WRITER}\nWrite a research brief in markdown from the findings in FACTS. Start "
            "with '# ' and the question. For each sub-question, in order, a section "
            "'## <id>. <sub-question>' holding its claims as lines '- <claim> [<passage id>]' "
            "(every claim cites at least one passage from the findings; cite nothing else), or "
            "the line 'Unanswered: <reason>' for an unanswered one. If any finding has "
            "'reused_from', say under the title which sub-questions were reused from memory "
            "and from which thread, with the words 'from memory'. End with '## Sources', one "
            "line '- [<passage id>]' per passage cited. Stay under max_words words. Fix every "
            "item of 'feedback'."
        ),
        HumanMessage("FACTS\n" + json.dumps(facts, sort_keys=True)),
    ]
