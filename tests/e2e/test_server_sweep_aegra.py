"""Two Aegra instances apply passed deadlines themselves (`sweep` worker), once between them;
a reviewer answers another user's question through the served app (`POST /inbox/answer`).

Both instances run the sweep worker on one Postgres database (Aegra's threads, the checkpoints
and Waypoint's tables) and one Redis; a cron `waypoint sweep` runs beside them. The flows are
in `tests.e2e.server_sweeps` and `tests.e2e.reviewer_flows`. Under CI=true a missing Python
3.12, Redis or Postgres fails it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.reviewer_flows import (
    escalated_user_answers_through_the_app,
    reviewer_answers_through_the_app,
)
from tests.e2e.server_sweeps import aegra_sweep_cluster, ask_deadline, sweep_through_the_server
from tests.e2e.servers import AegraCluster, Server, Users, status_code

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group(name="aegra")]


@pytest.fixture(scope="module")
def users() -> Users:
    return Users()


@pytest.fixture(scope="module")
def cluster(users: Users, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AegraCluster]:
    logs = tmp_path_factory.mktemp("sweep-aegra")
    with aegra_sweep_cluster("waypoint_sweep_aegra", logs, users, instances=2) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def db_url(cluster: AegraCluster) -> str:
    return cluster.db_url


@pytest.fixture(scope="module")
def servers(cluster: AegraCluster) -> list[Server]:
    return cluster.servers


def test_two_instances_apply_a_passed_deadline_once(
    servers: list[Server], users: Users, db_url: str
) -> None:
    sweep_through_the_server(servers, users, db_url)


def test_a_reviewer_answers_another_users_question_through_the_app(
    servers: list[Server], users: Users, db_url: str
) -> None:
    # the LangGraph API keeps Aegra's scoping: Carol cannot read Alice's threads there
    thread = ask_deadline(servers[1], users, on_timeout="reject", seconds=3600)
    with pytest.raises(Exception) as hidden:
        servers[1].client(users.carol).threads.get_state(thread)
    assert status_code(hidden.value) == 404
    reviewer_answers_through_the_app(servers[1], users, db_url)


def test_the_user_a_question_was_escalated_to_answers_it_through_the_app(
    servers: list[Server], users: Users, db_url: str
) -> None:
    escalated_user_answers_through_the_app(servers[0], users, db_url)
