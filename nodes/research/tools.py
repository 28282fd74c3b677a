"""The research tasks' tools, served by capabilities (so routing, fallback and the ledger apply).

Each returns its text for the model and, as the tool message's artifact, the passage ids it
returned: those are the passages "retrieved in this thread" that citations must point at.
"""

from __future__ import annotations

from langchain_core.tools import BaseTool, tool

from nodes.research.capabilities import READ, SEARCH, ReadRequest, SearchRequest


@tool(response_format="content_and_artifact")
async def search_docs(query: str) -> tuple[str, list[str]]:
    """Search the Python standard library's documentation; lines of '[id] title: snippet'."""
    result = await SEARCH.call(SearchRequest(query=query[:500] or "python", k=5))
    lines = [f"[{hit.id}] {hit.title}: {hit.snippet}" for hit in result.hits]
    return ("\n".join(lines) or "no passages matched"), [hit.id for hit in result.hits]


@tool(response_format="content_and_artifact")
async def read_passage(passage_id: str) -> tuple[str, list[str]]:
    """Read one documentation passage in full, by the id search_docs gave."""
    passage = await READ.call(ReadRequest(passage_id=passage_id[:200] or "?"))
    if not passage.found:
        return f"no passage {passage_id!r}; use an id from search_docs", []
    return f"[{passage.id}] {passage.title}\n{passage.text}", [passage.id]


TOOLS: list[BaseTool] = [search_docs, read_passage]
"""What the research tasks' chat model may call."""
