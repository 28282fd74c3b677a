"""Interop on Aegra (Postgres + Redis): `support` as an A2A agent and as MCP tools, inbox, /metrics.

The same flows as on `langgraph dev` (`tests/e2e/interop_flows.py`), through one Aegra instance
started by `scripts/aegra-serve.sh` on a database of the module's own; Aegra mounts the app that
`langgraph.json` names (`http.app`) and builds its API on it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e import interop_flows as flows
from tests.e2e.server_flows import fail_if_dead
from tests.e2e.servers import AegraCluster, Server, Users, aegra_cluster
from tests.helpers import reset_demo_crm

pytestmark = [pytest.mark.timeout(180), pytest.mark.xdist_group(name="aegra")]


@pytest.fixture(scope="module")
def users() -> Users:
    return Users()


@pytest.fixture(scope="module")
def cluster(users: Users, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AegraCluster]:
    extra = {"WORKER_COUNT": "1", "N_JOBS_PER_WORKER": "4"}
    logs = tmp_path_factory.mktemp("interop-aegra")
    with aegra_cluster("waypoint_interop", logs, users=users, extra=extra) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def db_url(cluster: AegraCluster) -> str:
    return cluster.db_url


@pytest.fixture(scope="module")
def server(cluster: AegraCluster) -> Server:
    return cluster.servers[0]


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


def test_metrics_scraped(server: Server, users: Users, db_url: str) -> None:
    flows.metrics_scraped(server, users, db_url)
