"""Write a report as JSON, JUnit XML (for CI test tabs) and a Markdown page."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from waypoint.evals.report import Report

MARKS = {True: "✓", False: "✗", None: "skip"}


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def junit_xml(report: Report) -> str:
    """One test case per case by evaluator; an errored case is one `<error>` test case."""
    run = report.run
    name = f"{run.suite.name} ({run.mode})"
    root = ET.Element("testsuites", name="waypoint-eval")
    suite = ET.SubElement(root, "testsuite", name=name, time=f"{run.seconds:.3f}")
    tests = failures = errors = skipped = 0
    for result in report.results:
        classname = f"{run.suite.name}.{result.case_id}"
        if result.errored:
            tests += 1
            errors += 1
            case = ET.SubElement(suite, "testcase", classname=classname, name="run")
            ET.SubElement(case, "error", message=result.error or "errored").text = result.cluster
        for outcome in result.outcomes:
            tests += 1
            case = ET.SubElement(suite, "testcase", classname=classname, name=outcome.key)
            if outcome.passed is None:
                skipped += 1
                ET.SubElement(case, "skipped", message=outcome.comment)
            elif not outcome.passed:
                failures += 1
                ET.SubElement(case, "failure", message=outcome.comment or "failed")
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def markdown(report: Report) -> str:
    """A page for people: verdict, pass rates, clusters, the case by evaluator table, nodes."""
    run = report.run
    lines = [f"# Eval: {run.suite.name} ({run.mode} mode)", ""]
    verdict = "PASSED" if report.exit_code == 0 else "FAILED"
    total = len(report.results)
    passed = sum(r.passed for r in report.results)
    lines.append(f"**{verdict}**: {passed}/{total} cases passed in {run.seconds:.2f}s.")
    lines.append(f"Judge model: {run.judge_model or 'none (LLM judges skipped)'}.")
    if report.baseline:
        lines.append(f"Baseline: `{report.baseline}`.")
    lines.append("")
    for problem in report.problems:
        lines.append(f"- {problem}")
    lines += [
        "",
        "## Pass rate per evaluator",
        "",
        "| evaluator | source | passed | failed | skipped | pass rate | threshold |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in report.evaluators:
        lines.append(
            f"| {e.key} | {e.source} | {e.passed} | {e.failed} | {e.skipped} | "
            f"{_rate(e.pass_rate)} | {e.threshold:.0%} |"
        )
    lines += ["", "## Pass rate per tag", "", "| tag | cases | pass rate |", "|---|---|---|"]
    lines += [f"| {t.name} | {len(t.cases)} | {_rate(t.pass_rate)} |" for t in report.tags]
    if report.clusters:
        lines += ["", "## Failures by where they start", ""]
        lines += [f"- **{c.name}**: {', '.join(c.cases)}" for c in report.clusters]
    keys = [e.key for e in report.evaluators]
    lines += ["", "## Cases", "", "| case | " + " | ".join(keys) + " | notes |"]
    lines.append("|---" * (len(keys) + 2) + "|")
    for result in report.results:
        cells = []
        for key in keys:
            outcome = result.outcome(key)
            cells.append("" if outcome is None else MARKS[outcome.passed])
        notes = result.error or "; ".join(o.comment for o in result.outcomes if o.passed is False)
        lines.append(f"| {result.case_id} | " + " | ".join(cells) + f" | {notes} |")
    lines += [
        "",
        "## Time and cost per node",
        "",
        "| node | cases | mean time | cost (USD) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {n.node} | {n.cases} | {n.mean_seconds * 1000:.1f} ms | {n.cost} |"
        for n in report.nodes
    ]
    return "\n".join(lines) + "\n"


def write_report(report: Report, directory: Path) -> list[Path]:
    """Write `eval-report.json`, `eval-report.xml` and `eval-report.md` into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "eval-report.json": json.dumps(report.as_json(), indent=2, default=str) + "\n",
        "eval-report.xml": junit_xml(report),
        "eval-report.md": markdown(report),
    }
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def write_baseline(report: Report, path: Path) -> Path:
    """Write the baseline file (which cases pass now) for later `--baseline` runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.baseline_json(), indent=2, sort_keys=True) + "\n")
    return path
