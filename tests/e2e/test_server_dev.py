"""`langgraph dev` (the server Studio connects to), driven by the official `langgraph_sdk` client.

One real server for the module, started as a subprocess on a free loopback port, offline, with
no LangSmith key; threads live in its memory, side effects go to an SQLite file.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import server_flows as flows
from tests.e2e.servers import Server, User, Users, start_langgraph_dev, status_code
from tests.helpers import query, reset_demo_crm

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def users() -> Users:
    # Names of their own, though each server starts in a folder of its own (its `.langgraph_api/`
    # is never reloaded by another session's server: the last test checks it).
    suffix = secrets.token_hex(3)
    return Users(
        alice=User(f"alice-{suffix}", secrets.token_urlsafe(24)),
        bob=User(f"bob-{suffix}", secrets.token_urlsafe(24)),
        carol=User(f"carol-{suffix}", secrets.token_urlsafe(24)),
    )


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('dev-db') / 'waypoint.sqlite'}"


@pytest.fixture(scope="module")
def server(users: Users, db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs: Path = tmp_path_factory.mktemp("dev-logs")
    dev = start_langgraph_dev(
        env={
            "WAYPOINT_API_KEYS": users.api_keys,
            "WAYPOINT_ROLES": users.roles,
            "WAYPOINT_DB_URL": db_url,
            "WAYPOINT_RESEARCH_CORPUS_DIR": str(tmp_path_factory.mktemp("dev-corpus")),
        },
        log_dir=logs,
    )
    yield dev
    dev.stop()


@pytest.fixture(autouse=True)
def _server_alive(server: Server, db_url: str) -> Iterator[None]:
    reset_demo_crm(db_url)  # each test refunds O-2 afresh
    yield
    flows.fail_if_dead(server)


def test_lists_assistants(server: Server, users: Users) -> None:
    flows.lists_assistants(server, users)


def test_runs_to_the_approval_interrupt(server: Server, users: Users, db_url: str) -> None:
    flows.runs_to_the_approval_interrupt(server, users, db_url)


@pytest.mark.parametrize("decision", list(flows.DECISIONS))
def test_resumes_with_each_decision(
    decision: str, server: Server, users: Users, db_url: str
) -> None:
    flows.resumes_with(decision, server, users, db_url)


def test_reads_history_and_forks(server: Server, users: Users, db_url: str) -> None:
    flows.reads_history_and_forks(server, users, db_url)


def test_streams_a_run(server: Server, users: Users) -> None:
    flows.streams_a_run(server, users)


def test_second_user_cannot_touch_the_thread(server: Server, users: Users, db_url: str) -> None:
    flows.second_user_cannot_touch_the_thread(server, users, db_url)


def test_a_reviewer_answers_and_does_nothing_else(
    server: Server, users: Users, db_url: str
) -> None:
    flows.reviewer_answers_and_does_nothing_else(server, users, db_url)


def test_caller_is_never_above_the_policy(server: Server, users: Users, db_url: str) -> None:
    flows.caller_is_never_above_the_policy(server, users, db_url)


def test_no_credentials_is_401(server: Server, users: Users) -> None:
    flows.no_credentials_is_401(server, users)


def test_research_memory_lives_in_the_servers_store_per_caller(
    server: Server, users: Users, db_url: str
) -> None:
    """`langgraph dev` gives runs its own in-memory Store (no TTL of its own: the expiry kept in
    each finding is checked on every read); the caller reads its findings through the Store API."""
    threads = flows.research_memory_is_per_user(server, users)
    alices = ["users", users.alice.name, "research", "findings"]
    items = server.client(users.alice).store.search_items(alices, limit=50)["items"]
    kept = {item["value"]["thread_id"] for item in items}
    assert {threads["first"], threads["later"]} <= kept, kept
    assert threads["other"] not in kept  # Bob's findings are his own
    assert all(item["value"]["expires_at"] > time.time() for item in items)
    # kept by the server, not in Waypoint's database (a `waypoint run` there has its own memory)
    alice_prefix = f"users.{users.alice.name}.%"
    assert query(db_url, "SELECT key FROM store WHERE prefix LIKE ?", (alice_prefix,)) == []


def test_a_new_server_loads_nothing_an_earlier_one_kept(
    users: Users, db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`langgraph dev` reloads the threads and Store it finds in `.langgraph_api/` where it
    starts; each test server starts in a folder of its own (`served_project_config`), so what
    one kept never reaches the next."""
    env = {"WAYPOINT_API_KEYS": users.api_keys, "WAYPOINT_DB_URL": db_url}
    env["WAYPOINT_SERVER_WORKERS"] = ""
    notes = ["users", users.alice.name, "notes"]
    first = start_langgraph_dev(env=env, log_dir=tmp_path_factory.mktemp("dev-first"))
    try:
        alice = first.client(users.alice)
        thread_id = alice.threads.create()["thread_id"]
        alice.store.put_item(notes, "kept", {"by": "the first server"})
        assert alice.store.get_item(notes, "kept")["value"] == {"by": "the first server"}
    finally:
        first.stop()  # it writes what it keeps as it shuts down
    second = start_langgraph_dev(env=env, log_dir=tmp_path_factory.mktemp("dev-second"))
    try:
        alice = second.client(users.alice)
        with pytest.raises(Exception) as missing:  # the SDK raises httpx / langgraph_sdk errors
            alice.threads.get(thread_id)
        assert status_code(missing.value) == 404
        assert alice.store.get_item(notes, "kept") is None
    finally:
        second.stop()
