"""`langgraph dev` applies passed deadlines itself (`sweep` worker), once, beside a cron sweep;
a reviewer answers another user's question through the served app (`POST /inbox/answer`).

A real `langgraph dev` process serving the kit's `deadlines` graph behind Waypoint's auth and
app, with Waypoint's tables in an SQLite file or a Postgres database of its own (the threads
are in the server's memory); the flows are in `tests.e2e.server_sweeps` and
`tests.e2e.reviewer_flows`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import scratch_database
from tests.e2e.reviewer_flows import (
    escalated_user_answers_through_the_app,
    escalated_user_sees_only_the_question_handed_to_them,
    reviewer_answers_through_the_app,
    reviewer_roles,
)
from tests.e2e.server_sweeps import KIT_ENV, SWEEP_SECONDS, sweep_through_the_server
from tests.e2e.servers import (
    Server,
    Users,
    served_kit_config,
    start_langgraph_dev,
)

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def users() -> Users:
    return Users()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sweep-dev-db') / 'waypoint.sqlite'}"
        return
    with scratch_database("waypoint_sweep_dev") as url:
        yield url


@pytest.fixture(scope="module")
def server(users: Users, db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("sweep-dev")
    env = {
        **KIT_ENV,
        "WAYPOINT_API_KEYS": users.api_keys,
        "WAYPOINT_ROLES": reviewer_roles(users),
        "WAYPOINT_DB_URL": db_url,
        "WAYPOINT_SWEEP_SECONDS": SWEEP_SECONDS,
    }
    config = served_kit_config(folder, ("deadlines", "two_questions"))
    dev = start_langgraph_dev(env=env, log_dir=folder, config=config)
    yield dev
    dev.stop()


def test_the_server_applies_a_passed_deadline_once(
    server: Server, users: Users, db_url: str
) -> None:
    sweep_through_the_server([server], users, db_url)


def test_a_reviewer_answers_another_users_question_through_the_app(
    server: Server, users: Users, db_url: str
) -> None:
    reviewer_answers_through_the_app(server, users, db_url)


def test_the_user_a_question_was_escalated_to_answers_it_through_the_app(
    server: Server, users: Users, db_url: str
) -> None:
    escalated_user_answers_through_the_app(server, users, db_url)


def test_an_escalated_user_sees_and_answers_only_the_question_handed_to_them(
    server: Server, users: Users, db_url: str
) -> None:
    escalated_user_sees_only_the_question_handed_to_them(server, users, db_url)
