"""The brief's format: how the offline writer composes it, and how the gate reads it.

```
# <question>
Reused from memory: q1 (thread research-1a2b). <- only when findings were reused

## q1. <sub-question>
- <claim> [<passage id>]
## q2. <sub-question>
Unanswered: <reason>

## Sources
- [<passage id>]
```
"""

from __future__ import annotations

import re
from typing import Any

CITATION = re.compile(r"\[([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\]")
SECTION = re.compile(r"^## (q[1-6])\.", re.MULTILINE)
SOURCES = "## Sources"
NOT_RETRIEVED = "cites passages not retrieved in this thread: "
TOO_LONG = "too long"
REVIEWER = "reviewer: "


def words(text: str) -> int:
    """Word count of a brief."""
    return len(text.split())


def sections(text: str) -> dict[str, list[str]]:
    """Each sub-question section's lines (up to the next section or the sources), by id."""
    body = text.split(SOURCES, 1)[0]
    found: dict[str, list[str]] = {}
    matches = list(SECTION.finditer(body))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(body)
        lines = body[match.end() : end].split("\n")[1:]
        found[match.group(1)] = [line.strip() for line in lines if line.strip()]
    return found


def claim_lines(lines: list[str]) -> list[str]:
    """The claims of a section: its bullet lines."""
    return [line for line in lines if line.startswith("- ")]


def citations(text: str) -> list[str]:
    """Every passage id cited in `text`, in order, once each."""
    return list(dict.fromkeys(CITATION.findall(text)))


def _excluded(feedback: list[str]) -> set[str]:
    ids: set[str] = set()
    for item in feedback:
        if item.startswith(NOT_RETRIEVED):
            ids |= {part.strip() for part in item.removeprefix(NOT_RETRIEVED).split(",")}
    return ids


def _shorten(claim: str, level: int) -> str:
    if level < 2:
        return claim
    text, _, cited = claim.partition(" [")
    kept = text.split()[:8]
    return " ".join(kept) + (" ..." if len(kept) < len(text.split()) else "") + " [" + cited


def compose_brief(facts: dict[str, Any]) -> str:
    """The offline writer: a brief from the facts (see `prompts.writer_prompt`)."""
    feedback: list[str] = list(facts.get("feedback", []))
    level = int(facts.get("attempt", 1)) - 1 if any(TOO_LONG in f for f in feedback) else 0
    excluded = _excluded(feedback)
    findings = {f["sub_question_id"]: f for f in facts.get("findings", [])}
    lines = [f"# {facts['question']}"]
    reused = [f for f in findings.values() if f.get("reused_from")]
    if reused:
        where = ", ".join(f"{f['sub_question_id']} (thread {f['reused_from']})" for f in reused)
        lines.append(f"Reused from memory: {where}.")
    notes = [f.removeprefix(REVIEWER) for f in feedback if f.startswith(REVIEWER)]
    if notes:
        lines.append(f"Revised after review: {'; '.join(notes)}")
    cited: list[str] = []
    for sub in facts.get("sub_questions", []):
        lines.append("")
        lines.append(f"## {sub['id']}. {sub['text']}")
        finding = findings.get(sub["id"])
        claims = []
        if finding is not None and finding["status"] == "answered":
            for claim in finding["claims"]:
                ids = [c for c in claim["citations"] if c not in excluded]
                if ids:
                    claims.append(f"- {claim['text']} " + " ".join(f"[{c}]" for c in ids))
                    cited += ids
        if level >= 1:
            claims = [_shorten(c, level) for c in claims[:1]]
            cited = [c for c in cited if any(f"[{c}]" in line for line in lines + claims)]
        if claims:
            lines += claims
        else:
            reason = (finding or {}).get("reason") or "no cited finding"
            lines.append(f"Unanswered: {reason}")
    lines += ["", SOURCES, *(f"- [{c}]" for c in dict.fromkeys(cited))]
    return "\n".join(lines) + "\n"
