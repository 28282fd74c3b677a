"""`waypoint new NAME`: scaffold a workflow (state, nodes, graph, eval suite, test)."""

from __future__ import annotations

from typing import Annotated

import typer

from waypoint.cli import render
from waypoint.cli.app import _run, app


@app.command("new")
def new_command(
    name: Annotated[str, typer.Argument(help="The workflow's name: a lowercase identifier.")],
) -> None:
    """Write a new workflow that runs, tests and evaluates as it is; add it to langgraph.json."""

    async def go() -> int:
        from waypoint.scaffold import create_workflow
        from waypoint.workflows import PROJECT_ROOT

        created = await create_workflow(PROJECT_ROOT, name)
        for path in created.files:
            render.console.print(f"wrote {path.relative_to(PROJECT_ROOT)}", markup=False)
        render.console.print(
            f'\nNext: waypoint run {name} --input \'{{"request_id": "R-1", "text": "hi"}}\''
            f"\n      waypoint eval evals/{name}\n      make test",
            markup=False,
        )
        return 0

    raise typer.Exit(_run(go()))
