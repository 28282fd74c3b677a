"""The checkpoint fence (waypoint.server.fencing) on real Postgres with real LangGraph runs.

Two writers are two savers on two connection pools, as two server instances would be. A run
that loaded the thread, then lost the race, must not write a second child of the same
checkpoint; deliberate branches (update_state forks, replays from a past checkpoint) still work,
and the command line's own runs, forks and replays are unaffected. Each test module database is
its own, so the fence never touches the databases other tests share.
"""

from __future__ import annotations

import asyncio
import operator
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Durability
from typing_extensions import TypedDict

from tests.conftest import scratch_database
from tests.e2e.servers import branches, checkpoint_tree
from tests.helpers import count, demo_input, run
from waypoint.persistence.stores import open_stores
from waypoint.runner import resume_thread, start_run
from waypoint.server import fencing
from waypoint.timetravel import fork_thread, replay_thread, thread_history

pytestmark = pytest.mark.postgres


def is_fence_error(exc: BaseException) -> bool:
    """Whether an exception (or its cause) is a refusal by the fence."""
    current: BaseException | None = exc
    while current is not None:
        if fencing.FENCE_MESSAGE in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False


class Steps(TypedDict):
    """State of the two-step test graph: the names of the steps that ran."""

    steps: Annotated[list[str], operator.add]


@pytest.fixture(scope="module")
def databases() -> Iterator[tuple[str, str]]:
    """(a database with the fence, a database without it), dropped at the end."""
    with (
        scratch_database("waypoint_fence") as fenced,
        scratch_database("waypoint_fence") as unfenced,
    ):
        run(fencing.install(fenced))
        run(_tables_only(unfenced))
        yield fenced, unfenced


async def _tables_only(url: str) -> None:
    async with open_stores(url):
        pass


@pytest.fixture
def fenced(databases: tuple[str, str]) -> str:
    return databases[0]


@pytest.fixture
def unfenced(databases: tuple[str, str]) -> str:
    return databases[1]


def _two_step_graph() -> StateGraph[Steps, None, Steps, Steps]:
    """`first` waits on the run's `gate` (an asyncio.Event in its config), then `second`."""

    async def first(state: Steps, config: RunnableConfig) -> dict[str, Any]:
        configurable = config.get("configurable", {})
        if (entered := configurable.get("entered")) is not None:
            entered.set()
        if (gate := configurable.get("gate")) is not None:
            await gate.wait()
        return {"steps": [f"first:{configurable.get('who')}"]}

    async def second(state: Steps, config: RunnableConfig) -> dict[str, Any]:
        return {"steps": [f"second:{config.get('configurable', {}).get('who')}"]}

    builder = StateGraph(Steps)
    builder.add_node("first", first)
    builder.add_node("second", second)
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    return builder


@asynccontextmanager
async def _writer(url: str) -> AsyncIterator[CompiledStateGraph[Steps, None, Steps, Steps]]:
    """The test graph on its own saver and connection pool: one 'server instance'."""
    async with open_stores(url) as stores:
        yield _two_step_graph().compile(checkpointer=stores.checkpointer)


async def _race(url: str, thread_id: str) -> tuple[BaseException | None, dict[str, Any]]:
    """A starts and stops inside `first`; B runs the same thread to the end; then A goes on.

    Returns A's error (None if it finished) and B's final state.
    """
    async with _writer(url) as graph_a, _writer(url) as graph_b:
        entered, gate = asyncio.Event(), asyncio.Event()
        config_a: RunnableConfig = {
            "configurable": {"thread_id": thread_id, "who": "a", "entered": entered, "gate": gate}
        }
        config_b: RunnableConfig = {"configurable": {"thread_id": thread_id, "who": "b"}}
        task_a = asyncio.create_task(
            graph_a.ainvoke({"steps": ["start:a"]}, config_a, durability="sync")
        )
        await asyncio.wait_for(entered.wait(), 30)  # A saved its input and is inside `first`
        finished_b = await graph_b.ainvoke({"steps": ["start:b"]}, config_b, durability="sync")
        gate.set()
        try:
            await task_a
        except Exception as exc:
            return exc, finished_b
        return None, finished_b


def test_a_run_that_lost_the_race_cannot_write(fenced: str) -> None:
    thread_id = f"race-{uuid.uuid4().hex[:8]}"
    error, finished_b = run(_race(fenced, thread_id))
    assert error is not None and is_fence_error(error), error
    assert f"thread {thread_id} moved on" in str(error)
    assert finished_b["steps"][-1] == "second:b"
    assert branches(fenced, thread_id) == {}
    tree = checkpoint_tree(fenced, thread_id)
    assert [row["parent_checkpoint_id"] for row in tree[1:]] == [
        row["checkpoint_id"] for row in tree[:-1]
    ]


def test_without_the_fence_the_same_race_forks_the_history(unfenced: str) -> None:
    """The control: what Aegra does to a thread when nothing guards it."""
    thread_id = f"race-{uuid.uuid4().hex[:8]}"
    error, _ = run(_race(unfenced, thread_id))
    assert error is None
    assert branches(unfenced, thread_id) != {}


def test_two_new_threads_with_the_same_id_cannot_both_start(fenced: str) -> None:
    """Two first runs on an empty thread: only one root checkpoint may exist."""

    async def both() -> list[BaseException | None]:
        thread_id = f"twins-{uuid.uuid4().hex[:8]}"
        results: list[BaseException | None] = []
        async with _writer(fenced) as graph_a, _writer(fenced) as graph_b:
            outcomes = await asyncio.gather(
                *(
                    graph.ainvoke(
                        {"steps": [f"start:{who}"]},
                        {"configurable": {"thread_id": thread_id, "who": who}},
                        durability="sync",
                    )
                    for graph, who in ((graph_a, "a"), (graph_b, "b"))
                ),
                return_exceptions=True,
            )
        for outcome in outcomes:
            results.append(outcome if isinstance(outcome, BaseException) else None)
        assert branches(fenced, thread_id) == {}
        return results

    for _ in range(3):
        results = run(both())
        assert any(r is None for r in results)
        assert all(r is None or is_fence_error(r) for r in results), results


def test_deliberate_branches_are_allowed(fenced: str) -> None:
    """update_state on a past checkpoint and a replay from one both start a branch."""

    async def scenario() -> tuple[dict[str | None, int], list[str], list[str]]:
        thread_id = f"branch-{uuid.uuid4().hex[:8]}"
        config: RunnableConfig = {"configurable": {"thread_id": thread_id, "who": "x"}}
        async with _writer(fenced) as graph:
            await graph.ainvoke({"steps": ["start"]}, config, durability="sync")
            history = [s async for s in graph.aget_state_history(config)]
            before_second = next(s for s in history if s.next == ("second",))
            # fork: update_state on the past checkpoint, then continue the branch
            forked = await graph.aupdate_state(
                before_second.config, {"steps": ["edited"]}, as_node="first"
            )
            continued = await graph.ainvoke(None, forked, durability="sync")
            # replay: run again from a past checkpoint (LangGraph saves a `fork` checkpoint)
            replayed = await graph.ainvoke(None, before_second.config, durability="sync")
        return branches(fenced, thread_id), continued["steps"], replayed["steps"]

    split, continued, replayed = run(scenario())
    assert sum(split.values()) >= 3  # the checkpoint before `second` has several children
    assert continued[-2] == "edited" and continued[-1].startswith("second:")
    assert replayed[-1].startswith("second:")


def test_the_command_line_runs_forks_and_replays_on_a_fenced_database(fenced: str) -> None:
    ticket = demo_input("approval needed")
    thread_id = f"cli-{uuid.uuid4().hex[:8]}"
    waiting = run(start_run("support", ticket, thread_id=thread_id, db_url=fenced))
    assert waiting.status == "waiting"
    done = run(resume_thread(thread_id, {"decisions": [{"type": "approve"}]}, db_url=fenced))
    assert done.status == "completed"
    history = run(thread_history(thread_id, db_url=fenced))
    before_lookup = next(row for row in history.rows if row.next == ["lookup"])
    run(
        fork_thread(
            thread_id,
            before_lookup.checkpoint_id,
            {"order_id": "O-1"},
            db_url=fenced,
            allow_effects=True,
        )
    )
    assert run(resume_thread(thread_id, db_url=fenced)).status == "waiting"
    approval = next(row for row in history.rows if row.next == ["approval"])
    run(replay_thread(thread_id, approval.checkpoint_id, db_url=fenced, allow_effects=True))
    assert count(fenced, "support_payments", thread_id) == 1


def test_install_is_idempotent_and_can_be_checked_and_removed(fenced: str) -> None:
    async def twice_at_once() -> None:
        await asyncio.gather(fencing.install(fenced), fencing.install(fenced))

    run(twice_at_once())
    assert run(fencing.installed(fenced)) is True
    run(fencing.uninstall(fenced))
    assert run(fencing.installed(fenced)) is False
    assert fencing.main(["check", "--db", fenced]) == 1
    assert fencing.main(["install", "--db", fenced]) == 0
    assert run(fencing.installed(fenced)) is True


def test_sqlite_needs_no_fence(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="needs Postgres"):
        run(fencing.install(f"sqlite:///{tmp_path / 'x.sqlite'}"))


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_runs_one_after_another_pass_with_every_durability(
    fenced: str, durability: Durability
) -> None:
    async def twice() -> None:
        thread_id = f"durable-{durability}-{uuid.uuid4().hex[:8]}"
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        async with _writer(fenced) as graph:
            for step in ("one", "two"):
                await graph.ainvoke({"steps": [step]}, config, durability=durability)
        assert branches(fenced, thread_id) == {}

    run(twice())
