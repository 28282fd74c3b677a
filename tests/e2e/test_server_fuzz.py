"""Property tests over the servers' run and resume payloads: a bad one is a 4xx, never harm.

Hypothesis builds run requests that are wrong in one way or several (a protected update, a
`goto`, a null or empty answer, decisions of unknown types, a looser context, a reserved
`configurable` key, junk of any JSON type) around a thread waiting for its approval. Two layers:

- the request check every server calls first (`waypoint.server.run_requests`), in this process,
  in both request shapes (Aegra's flat one, langgraph-api's `kwargs`): 403 or 422 with one line,
  never another exception;
- a bounded sample sent over HTTP to a real `langgraph dev`: every answer is a 4xx (403 or 422
  from Waypoint, 400 when the server refuses first) with a one-line detail, the thread stays at
  its question, nothing is paid, and a valid answer afterwards pays the 480.00 once.

Derandomized and bounded (the HTTP pass is the slow part: one request per example).
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e import server_flows as flows
from tests.e2e.servers import Server, Users, start_langgraph_dev
from tests.helpers import count, rows
from waypoint.server.run_requests import RequestRefused, check_run_request

pytestmark = pytest.mark.timeout(300)

QUICK = settings(max_examples=150, derandomize=True, deadline=None, database=None)
OVER_HTTP = settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
PROTECTED = st.sampled_from(
    ["decision", "human", "resolution", "lookup", "draft", "halt", "review_verdicts"]
)
BAD_RESUMES = st.one_of(
    st.none(),
    st.just({}),
    st.just({"decisions": []}),
    st.builds(lambda kind: {"decisions": [{"type": kind}]}, st.text(max_size=10)).filter(
        lambda r: r["decisions"][0]["type"] not in ("approve", "edit", "reject", "respond")
    ),
    st.builds(lambda junk: {"decisions": junk}, JUNK).filter(
        lambda r: not isinstance(r["decisions"], list) or not r["decisions"]
    ),
)
BAD_COMMANDS = st.one_of(
    st.builds(
        lambda f, v: {"update": {f: v}, "resume": {"decisions": [{"type": "approve"}]}},
        PROTECTED,
        JUNK,
    ),
    st.builds(lambda node: {"goto": node}, st.sampled_from(["execute", "approval", "draft"])),
    st.builds(lambda resume: {"resume": resume}, BAD_RESUMES),
    st.just({}),
    st.builds(lambda key, v: {key: v}, st.text(min_size=1, max_size=8), JUNK).filter(
        lambda c: not set(c) & {"resume", "update", "goto", "graph"}
    ),
    JUNK.filter(lambda j: not isinstance(j, dict) and j is not None),
)
LOOSE_CONTEXTS = st.one_of(
    st.builds(lambda t: {"approval_threshold": t}, st.integers(101, 10**9)),
    st.builds(lambda n: {"budgets": {"steps": n}}, st.integers(61, 10**6)),
    st.just({"budgets": {"steps": None}}),
    st.builds(lambda c: {"classification_threshold": c}, st.floats(0.0, 0.59)),
    st.builds(  # not a number at all
        lambda junk: {"approval_threshold": junk},
        st.none()
        | st.text(alphabet=string.ascii_letters, min_size=1, max_size=8)
        | st.lists(st.integers(), max_size=2),
    ),
)
RESERVED = st.builds(
    lambda key, v: {"configurable": {key: v}},
    st.sampled_from(["waypoint_actor", "waypoint_fence", "waypoint_run"]),
    st.text(min_size=1, max_size=10),
)
APPROVE = {"decisions": [{"type": "approve"}]}


@st.composite
def bad_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A resume request wrong in at least one way (and perhaps more)."""
    body: dict[str, Any] = {"assistant_id": "support"}
    wrong = draw(st.sets(st.sampled_from(["command", "context", "config", "nul"]), min_size=1))
    body["command"] = draw(BAD_COMMANDS) if "command" in wrong else {"resume": APPROVE}
    if "context" in wrong:
        body["context"] = draw(LOOSE_CONTEXTS)
    if "config" in wrong:
        body["config"] = draw(RESERVED)
    if "nul" in wrong:  # Postgres text cannot hold it: it must never reach the thread
        body["command"] = {"resume": {"decisions": [{"type": "respond", "message": "a\x00b"}]}}
    return body


@QUICK
@given(request=bad_requests(), nested=st.booleans())
def test_the_request_check_refuses_with_403_or_422(request: dict[str, Any], nested: bool) -> None:
    value = {"assistant_id": "support", "kwargs": request} if nested else request
    with pytest.raises(RequestRefused) as refused:
        check_run_request(value)
    assert refused.value.status in (403, 422)
    assert refused.value.detail and "\n" not in refused.value.detail


@QUICK
@given(decision=st.sampled_from(["approve", "reject", "respond"]), nested=st.booleans())
def test_the_request_check_lets_good_answers_through(decision: str, nested: bool) -> None:
    answer: dict[str, Any] = {"type": decision}
    if decision == "respond":
        answer["message"] = "Please send a photo."
    request = {"assistant_id": "support", "command": {"resume": {"decisions": [answer]}}}
    value = {"assistant_id": "support", "kwargs": request} if nested else request
    check_run_request(value)  # no refusal


@pytest.fixture(scope="module")
def users() -> Users:
    return Users()


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('fuzz-db') / 'waypoint.sqlite'}"


@pytest.fixture(scope="module")
def server(users: Users, db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs: Path = tmp_path_factory.mktemp("fuzz-logs")
    dev = start_langgraph_dev(
        env={"WAYPOINT_API_KEYS": users.api_keys, "WAYPOINT_DB_URL": db_url}, log_dir=logs
    )
    yield dev
    dev.stop()


@pytest.fixture(scope="module")
def waiting_thread(server: Server, users: Users) -> tuple[str, str]:
    thread_id, state = flows.run_to_approval(server.client(users.alice))
    return thread_id, str(state["checkpoint"]["checkpoint_id"])


@OVER_HTTP
@given(request=bad_requests())
def test_bad_payloads_over_http_are_4xx_and_touch_nothing(
    server: Server,
    users: Users,
    db_url: str,
    waiting_thread: tuple[str, str],
    request: dict[str, Any],
) -> None:
    thread_id, checkpoint_id = waiting_thread
    client = server.client(users.alice)
    try:
        response = client.http.post(f"/threads/{thread_id}/runs", json=request)
    except Exception as exc:  # the SDK raises on 4xx/5xx
        status = getattr(getattr(exc, "response", None), "status_code", None)
        detail = str(getattr(getattr(exc, "response", None), "text", ""))
    else:
        raise AssertionError(f"accepted: {request} -> {response}")
    # 403 / 422 from Waypoint's checks; the server itself may refuse first (400: both
    # `configurable` and `context` given), also before touching the thread
    assert status in (400, 403, 422), (status, detail, request)
    assert "Traceback" not in detail
    state = client.threads.get_state(thread_id)
    assert state["checkpoint"]["checkpoint_id"] == checkpoint_id
    assert count(db_url, "support_payments", thread_id) == 0


def test_after_the_fuzz_a_valid_answer_pays_once(
    server: Server, users: Users, db_url: str, waiting_thread: tuple[str, str]
) -> None:
    thread_id, _ = waiting_thread
    client = server.client(users.alice)
    flows.stream_run(client, thread_id, command=flows.resume_with("approve"))
    assert [str(r["amount"]) for r in rows(db_url, "support_payments", thread_id)] == ["480.00"]
