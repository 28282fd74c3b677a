"""Interop on `langgraph dev`: `support` as an A2A agent and as MCP tools, the inbox and /metrics.

One real server for the module (a subprocess on a free loopback port, offline), driven by the
official clients (`a2a-sdk`, `mcp`) through the app `langgraph.json` mounts (`http.app`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import interop_flows as flows
from tests.e2e.server_flows import fail_if_dead
from tests.e2e.servers import Server, Users, start_langgraph_dev
from tests.helpers import reset_demo_crm

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def users() -> Users:
    return Users()


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('interop-db') / 'waypoint.sqlite'}"


@pytest.fixture(scope="module")
def server(users: Users, db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs: Path = tmp_path_factory.mktemp("interop-logs")
    reviewer = flows.REVIEWER
    dev = start_langgraph_dev(
        env={
            "WAYPOINT_API_KEYS": f"{users.api_keys},{reviewer.token}:{reviewer.name}",
            "WAYPOINT_ROLES": f"{reviewer.name}=reviewer:support",
            "WAYPOINT_DB_URL": db_url,
        },
        log_dir=logs,
    )
    yield dev
    dev.stop()


@pytest.fixture(autouse=True)
def _server_alive(server: Server, db_url: str) -> Iterator[None]:
    reset_demo_crm(db_url)  # each test refunds O-2 afresh
    yield
    fail_if_dead(server)


def test_a2a_card(server: Server, users: Users) -> None:
    flows.a2a_card(server, users)


@pytest.mark.parametrize("streaming", [False, True], ids=["send", "stream"])
def test_a2a_runs_to_completion(server: Server, users: Users, streaming: bool) -> None:
    flows.a2a_completes(server, users, streaming=streaming)


def test_a2a_interrupt_answered_on_the_same_task(server: Server, users: Users) -> None:
    flows.a2a_interrupt_answered(server, users)


def test_a2a_cancel_is_a_kill(server: Server, users: Users) -> None:
    flows.a2a_cancel(server, users)


def test_a2a_bad_input_names_the_field(server: Server, users: Users) -> None:
    flows.a2a_bad_input(server, users)


def test_a2a_other_users_task_is_not_found(server: Server, users: Users) -> None:
    flows.a2a_other_users_task_is_not_found(server, users)


def test_a2a_v03_method_names(server: Server, users: Users) -> None:
    flows.a2a_v03_message_send(server, users)


def test_a2a_no_token_is_401(server: Server) -> None:
    flows.a2a_no_token_is_401(server)


def test_mcp_lists_tools_with_derived_hints(server: Server, users: Users) -> None:
    flows.mcp_lists_tools(server, users)


def test_mcp_runs_answers_and_kills(server: Server, users: Users) -> None:
    flows.mcp_runs_answers_and_kills(server, users)


def test_mcp_bad_input_and_other_users_thread(server: Server, users: Users) -> None:
    flows.mcp_bad_input_and_other_user(server, users)


def test_mcp_no_token_is_401(server: Server) -> None:
    flows.mcp_no_token_is_401(server)


def test_inbox_lists_the_callers_questions(server: Server, users: Users) -> None:
    flows.inbox_lists_the_callers_questions(server, users)


def test_a_reviewer_sees_and_answers_but_cannot_kill(server: Server, users: Users) -> None:
    flows.reviewer_sees_and_answers(server, users)


def test_metrics_scraped(server: Server, users: Users, db_url: str) -> None:
    flows.metrics_scraped(server, users, db_url)
