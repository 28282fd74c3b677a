"""The container build serves every graph of `langgraph.json`, as `langgraph dockerfile` writes it.

`serve/container/Dockerfile` is committed (users build it with Docker; CI here has no Docker
image registry). Its server settings must be what the LangGraph CLI writes for today's
`langgraph.json`: a workflow added to `langgraph.json` but not to the container would be
silently missing from a deployment.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tests.integration.test_new_workflows import tool

SETTINGS = ("LANGSERVE_GRAPHS", "LANGGRAPH_AUTH", "LANGGRAPH_HTTP")


def _settings(dockerfile: str) -> dict[str, object]:
    found = {}
    for name in SETTINGS:
        match = re.search(rf"^ENV {name}='(.*)'$", dockerfile, flags=re.M)
        assert match, f"{name} missing"
        # the CLI names the image's copy of the project after its folder (`/deps/main/`)
        found[name] = json.loads(re.sub(r"/deps/[^/\"]+/", "/deps/PROJECT/", match.group(1)))
    return found


def test_the_committed_dockerfile_serves_every_graph_as_the_cli_writes_it(tmp_path: Path) -> None:
    generated = tmp_path / "Dockerfile"
    done = subprocess.run(
        [tool("langgraph"), "dockerfile", "--api-version", "0.16.7", str(generated)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    committed = _settings((PROJECT_ROOT / "serve/container/Dockerfile").read_text())
    assert committed == _settings(generated.read_text()), (
        "regenerate: langgraph dockerfile --api-version 0.16.7 serve/container/Dockerfile"
    )
    graphs = json.loads((PROJECT_ROOT / "langgraph.json").read_text())["graphs"]
    served = committed["LANGSERVE_GRAPHS"]
    assert isinstance(served, dict) and set(served) == set(graphs)
