"""Every entry point turns LangGraph's strict msgpack mode on before LangGraph is imported.

LangGraph reads `LANGGRAPH_STRICT_MSGPACK` once, at import; serializers it builds itself (a
server's saver) are permissive without it. Waypoint's own savers are strict regardless
(`tests/e2e/test_cli_tampered_checkpoint.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dotenv.main import DotEnv

from tests.helpers import PROJECT_ROOT

PROBE = """
import sys
import waypoint  # what `waypoint` and `python -m waypoint` import first
import ormsgpack
from langgraph.checkpoint.serde.jsonplus import EXT_CONSTRUCTOR_POS_ARGS, JsonPlusSerializer
payload = ormsgpack.Ext(EXT_CONSTRUCTOR_POS_ARGS, ormsgpack.packb(("os", "system", [sys.argv[1]])))
JsonPlusSerializer().loads_typed(("msgpack", ormsgpack.packb({"x": payload})))
"""


def test_importing_waypoint_first_makes_langgraphs_default_serializer_strict(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "pwned"
    env = {k: v for k, v in os.environ.items() if k != "LANGGRAPH_STRICT_MSGPACK"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, f"touch {marker}"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not marker.exists()

    done = subprocess.run(  # the probe can fail: with the variable off, the call is made
        [sys.executable, "-c", PROBE, f"touch {marker}"],
        env={**env, "LANGGRAPH_STRICT_MSGPACK": "false"},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert marker.exists()


def test_langgraph_dev_reads_strict_mode_from_the_env_file() -> None:
    config = json.loads((PROJECT_ROOT / "langgraph.json").read_text())
    settings = DotEnv(dotenv_path=PROJECT_ROOT / config["env"]).dict()
    assert settings.get("LANGGRAPH_STRICT_MSGPACK") == "true"


def test_the_aegra_script_exports_strict_mode_before_starting_aegra() -> None:
    script = (PROJECT_ROOT / "scripts" / "aegra-serve.sh").read_text()
    export = script.index('export LANGGRAPH_STRICT_MSGPACK="${LANGGRAPH_STRICT_MSGPACK:-true}"')
    assert export < script.index("aegra_api.main:app")
