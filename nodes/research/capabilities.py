"""Capabilities of the `research` workflow: contracts, offline providers and the planner prompt.

- `plan_research`: the question → 2 to 6 typed sub-questions. Offline: a deterministic planner
  that looks for standard-library names in the question (documented as offline, no model); with
  a `model` setting, that chat model with `plan_prompt`.
- `search_docs`: two providers over the offline corpus (`nodes/research/corpus.py`), so routing
  and fallback are real: `stdlib-fts5` (SQLite FTS5, BM25) first, `stdlib-scan` (a keyword scan
  that needs no FTS index) next; `waypoint.toml` orders them.
- `read_passage`: the full text of one passage (`stdlib-passages`).
- `recall_finding`: a finding kept in the Store by this user's earlier thread (a capability, so
  the ledger shows it).

All three are `replayed`: eval replay serves their recorded answers (and failures), so a replay
does not depend on this Python's docstrings, the Store's contents or a test provider's route.

The corpus is an SQLite file (built on first use): its providers run in a worker thread
(`off_loop`), so a served run never blocks the server's event loop on it (`langgraph dev`
refuses blocking calls, and on any server they stall every other run).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from nodes.research import corpus, memory
from state.research import Finding, Plan, SubQuestion, SubQuestionKind
from waypoint import Capability, OfflineProvider, registry

InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)


def off_loop(fn: Callable[[InT], OutT]) -> Callable[[InT], Awaitable[OutT]]:
    """`fn` (blocking file or SQLite work) as an async provider that runs it in a worker thread."""

    async def in_thread(request: InT) -> OutT:
        return await asyncio.to_thread(fn, request)

    in_thread.__name__ = in_thread.__qualname__ = fn.__name__
    in_thread.__doc__ = fn.__doc__
    return in_thread


class PlanRequest(BaseModel):
    """Input of `plan_research`."""

    question: str
    max_sub_questions: int = Field(ge=2, le=6)


class SearchRequest(BaseModel):
    """Input of `search_docs`."""

    query: str = Field(min_length=1, max_length=500)
    k: int = Field(default=5, ge=1, le=10)


class Hit(BaseModel):
    """One search result: a passage id, its title and the start of its text."""

    id: str
    title: str
    snippet: str


class SearchResult(BaseModel):
    """Output of `search_docs`, best first."""

    hits: list[Hit] = Field(default_factory=list)


class RecallRequest(BaseModel):
    """Input of `recall_finding`: the sub-question (the user is the run's acting user)."""

    question: str = Field(min_length=1, max_length=500)


class Recalled(BaseModel):
    """Output of `recall_finding`: a kept finding of this user for the same sub-question."""

    found: bool
    finding: Finding | None = None
    thread_id: str | None = None


class ReadRequest(BaseModel):
    """Input of `read_passage`."""

    passage_id: str = Field(min_length=1, max_length=200)


class PassageText(BaseModel):
    """Output of `read_passage`; `found` is false for an id the corpus does not have."""

    id: str
    found: bool
    title: str = ""
    text: str = ""


PLAN = Capability(
    name="plan_research",
    description="2 to 6 typed sub-questions that together answer a standard-library question.",
    input_model=PlanRequest,
    output_model=Plan,
)
SEARCH = Capability(
    name="search_docs",
    description="Passages of the standard library's documentation matching a query.",
    input_model=SearchRequest,
    output_model=SearchResult,
    replayed=True,
)
RECALL = Capability(
    name="recall_finding",
    description="A finding this user's earlier thread kept in the Store for the same question.",
    input_model=RecallRequest,
    output_model=Recalled,
    replayed=True,
)
READ = Capability(
    name="read_passage",
    description="The full text of one documentation passage, by id.",
    input_model=ReadRequest,
    output_model=PassageText,
    replayed=True,
)

# --- planning ------------------------------------------------------------------------------


def _sub(index: int, text: str, kind: SubQuestionKind, target: str | None) -> SubQuestion:
    return SubQuestion(id=f"q{index}", text=text, kind=kind, target=target)


def plan_offline(request: PlanRequest) -> Plan:
    """Deterministic planner (offline stand-in for a model): sub-questions per name mentioned.

    Two or more standard-library names: what each does, then how they differ. One name: what it
    does, how it is used, what it warns about. None: one topic question per keyword.
    """
    limit = request.max_sub_questions
    names = [n for n in corpus.named_in(request.question) if "." in n or n in corpus.MODULES]
    texts: list[tuple[str, SubQuestionKind, str | None]] = []
    if len(names) >= 2:
        for name in names[: limit - 1]:
            texts.append((f"What does {name} do?", "definition", name))
        pair = names[:2]
        texts.append((f"How do {pair[0]} and {pair[1]} differ?", "comparison", None))
    elif len(names) == 1:
        name = names[0]
        texts += [
            (f"What does {name} do?", "definition", name),
            (f"How is {name} used?", "usage", name),
            (f"What errors or caveats does {name} document?", "caveat", name),
        ]
    else:
        words = corpus.terms(request.question) or ["python"]
        for word in words[:limit]:
            texts.append((f"What does the standard library document about {word}?", "topic", None))
        if len(texts) < 2:
            texts.append((f"Which functions mention {words[0]}?", "topic", None))
    return Plan(sub_questions=[_sub(i, *t) for i, t in enumerate(texts[:limit], start=1)])


def plan_prompt(request: PlanRequest) -> list[BaseMessage]:
    """Prompt for a chat model serving `plan_research`."""
    return [
        SystemMessage(
            "You plan research about Python's standard library. Call the Plan tool with "
            f"2 to {request.max_sub_questions} sub_questions that together answer the question. "
            "Each has id q1, q2, ... in order; text, one self-contained question that names the "
            "module or function it is about (e.g. 'What does json.dumps do?'); kind, one of "
            "definition, usage, caveat, comparison, topic; target, the dotted name or null."
        ),
        HumanMessage(f"Question: {request.question}"),
    ]


# --- search and read -----------------------------------------------------------------------


def _hits(passages: list[corpus.Passage]) -> SearchResult:
    return SearchResult(
        hits=[Hit(id=p.id, title=p.title, snippet=p.text.split("\n\n")[0][:200]) for p in passages]
    )


def search_fts(request: SearchRequest) -> SearchResult:
    """BM25 over the FTS5 index of the offline corpus."""
    return _hits(corpus.search_bm25(request.query, request.k))


def search_scan(request: SearchRequest) -> SearchResult:
    """A keyword scan of the offline corpus (no FTS index needed): the fallback."""
    return _hits(corpus.search_scan(request.query, request.k))


def read_offline(request: ReadRequest) -> PassageText:
    """A passage of the offline corpus, by id."""
    passage = corpus.read(request.passage_id)
    if passage is None:
        return PassageText(id=request.passage_id, found=False)
    return PassageText(id=passage.id, found=True, title=passage.title, text=passage.text)


registry.register(
    PLAN,
    OfflineProvider(
        name="offline-name-planner",
        version="1",
        description="Deterministic planner over the names a question mentions; no model.",
        fn=off_loop(plan_offline),
    ),
    prompt=plan_prompt,
)
registry.register(
    SEARCH,
    OfflineProvider(
        name="stdlib-fts5",
        version="1",
        description="SQLite FTS5 (BM25) over the installed Python's stdlib docstrings; offline.",
        fn=off_loop(search_fts),
    ),
)
registry.add_provider(
    "search_docs",
    OfflineProvider(
        name="stdlib-scan",
        version="1",
        description="Keyword scan of the same passages without the FTS index; offline fallback.",
        fn=off_loop(search_scan),
    ),
)


async def recall_store(request: RecallRequest) -> Recalled:
    """This user's kept finding, from the run's LangGraph Store (none without a Store)."""
    kept = await memory.recall_current(request.question)
    if kept is None:
        return Recalled(found=False)
    return Recalled(
        found=True,
        finding=Finding.model_validate(kept["finding"]),
        thread_id=str(kept["thread_id"]),
    )


registry.register(
    RECALL,
    OfflineProvider(
        name="langgraph-store",
        version="1",
        description="Reads the run's LangGraph Store (namespace users/<user>/research/findings).",
        fn=recall_store,
    ),
)
registry.register(
    READ,
    OfflineProvider(
        name="stdlib-passages",
        version="1",
        description="Reads one passage of the offline stdlib corpus by id.",
        fn=off_loop(read_offline),
    ),
)
