"""Two Aegra instances apply passed deadlines themselves (`sweep` worker), once between them;
a reviewer answers another user's question through the served app (`POST /inbox/answer`).

Both instances run the sweep worker on one Postgres database (Aegra's threads, the checkpoints
and Waypoint's tables) and one Redis; a cron `waypoint sweep` runs beside them. The flows are
in `tests.e2e.server_sweeps` and `tests.e2e.reviewer_flows`. Under CI=true a missing Python
3.12, Redis or Postgres fails it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import missing, scratch_database
from tests.e2e.reviewer_flows import (
    escalated_user_answers_through_the_app,
    reviewer_answers_through_the_app,
)
from tests.e2e.server_sweeps import (
    REDIS_URL,
    aegra_sweep_env,
    ask_deadline,
    sweep_through_the_server,
)
from tests.e2e.servers import (
    Server,
    Users,
    aegra_python,
    aegra_setup,
    launch_aegra,
    redis_forget,
    redis_reachable,
    status_code,
    wait_ready,
)

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group(name="aegra")]


@pytest.fixture(scope="module")
def users() -> Users:
    return Users()


@pytest.fixture(scope="module")
def db_url() -> Iterator[str]:
    with scratch_database("waypoint_sweep_aegra") as url:
        yield url


@pytest.fixture(scope="module")
def servers(
    users: Users, db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[Server]]:
    if not redis_reachable(REDIS_URL):
        missing(f"Redis unreachable at {REDIS_URL} (set WAYPOINT_TEST_REDIS)")
    python = aegra_python()
    folder = tmp_path_factory.mktemp("sweep-aegra")
    prefix = f"waypoint-sweep-{uuid.uuid4().hex[:8]}"
    env = aegra_sweep_env(users, db_url, folder, prefix)
    aegra_setup(env, folder)
    # one after the other: each registers the graphs' assistants at startup
    started = [wait_ready(launch_aegra("aegra-a", env=env, log_dir=folder))]
    try:
        started.append(wait_ready(launch_aegra("aegra-b", env=env, log_dir=folder)))
        yield started
    finally:
        for server in started:
            server.stop()
        redis_forget(python, REDIS_URL, prefix)


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
