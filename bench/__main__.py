"""`python -m bench`: run the benchmark suite (`--quick` for the development mode)."""

from __future__ import annotations

import os
import sys


def _main() -> int:
    # Same serializer setting as a deployment (`.env.example`); read when LangGraph is imported.
    os.environ.setdefault("LANGGRAPH_STRICT_MSGPACK", "true")
    from bench.runner import main

    return main()


if __name__ == "__main__":
    sys.exit(_main())
