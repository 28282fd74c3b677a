"""The served graphs' auth module: keys from configuration, fail closed, owners only."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import Auth

from tests.helpers import PROJECT_ROOT, run
from waypoint.server import auth as server_auth
from waypoint.server.auth import (
    KeyConfigError,
    change_assistant,
    configured_keys,
    own_namespace,
    owner_only,
    parse_keys,
    presented_token,
    read_assistant,
    studio_user,
    user_for_token,
)

ALICE = "alice-token-0123456789"
BOB = "bob-token-0123456789ab"


class _User:
    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.display_name = identity
        self.is_authenticated = True
        self.permissions: list[str] = []

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __contains__(self, key: str) -> bool:
        return hasattr(self, key)

    def __iter__(self) -> Any:
        return iter(["identity"])


def _ctx(resource: Any, action: Any, identity: str = "alice") -> Auth.types.AuthContext:
    return Auth.types.AuthContext(
        user=_User(identity), permissions=[], resource=resource, action=action
    )


def test_parse_keys_reads_entries_comments_and_hashes() -> None:
    digest = hashlib.sha256(BOB.encode()).hexdigest()
    keys = parse_keys(
        f" {ALICE}:alice ,\n# a comment\nsha256:{digest}:bob # inline\n\n", source="x"
    )
    assert [k.user for k in keys] == ["alice", "bob"]
    assert keys[1].sha256 == digest and keys[1].token is None
    assert user_for_token(ALICE, keys) == "alice"
    assert user_for_token(BOB, keys) == "bob"
    assert user_for_token("nope-nope-nope-nope", keys) is None
    assert parse_keys("", source="x") == []


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("just-a-token-with-no-user", "expected TOKEN:USER"),
        (":alice", "expected TOKEN:USER"),
        ("short:alice", "shorter than 16"),
        (f"{ALICE}:al ice", "user must be"),
        (f"{ALICE}:", "user must be"),
    ],
)
def test_parse_keys_refuses_bad_entries(text: str, error: str) -> None:
    with pytest.raises(KeyConfigError, match=error):
        parse_keys(text, source="WAYPOINT_API_KEYS")


def test_keys_come_from_the_environment_and_a_file_that_is_reread(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    file.write_text(f"{BOB}:bob\n")
    env = {"WAYPOINT_API_KEYS": f"{ALICE}:alice", "WAYPOINT_API_KEYS_FILE": str(file)}
    assert [k.user for k in configured_keys(env)] == ["alice", "bob"]
    file.write_text(f"{BOB}:carol\n")
    os.utime(file, (1, 1))  # a new mtime even within the same clock tick
    assert [k.user for k in configured_keys(env)] == ["alice", "carol"]
    with pytest.raises(KeyConfigError, match="cannot read"):
        configured_keys({"WAYPOINT_API_KEYS_FILE": str(tmp_path / "missing")})


def test_the_token_comes_from_bearer_or_x_api_key() -> None:
    assert presented_token({"Authorization": f"Bearer {ALICE}"}) == ALICE
    assert presented_token({b"authorization": f"bearer  {ALICE} ".encode()}) == ALICE
    assert presented_token({b"x-api-key": ALICE.encode()}) == ALICE
    assert presented_token({"authorization": "Basic YTpi"}) is None
    assert presented_token({"authorization": "Bearer "}) is None
    assert presented_token({}) is None


def _status(headers: dict[str, str]) -> int | str:
    try:
        user = run(server_auth.authenticate(headers))
    except Auth.exceptions.HTTPException as exc:
        return exc.status_code
    return user["identity"]


def test_authenticate_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WAYPOINT_API_KEYS_FILE", raising=False)
    monkeypatch.setenv("WAYPOINT_API_KEYS", f"{ALICE}:alice,{BOB}:bob")
    assert _status({"authorization": f"Bearer {ALICE}"}) == "alice"
    assert _status({"x-api-key": BOB}) == "bob"
    assert _status({}) == 401
    assert _status({"authorization": "Bearer wrong-token-00000000"}) == 401
    monkeypatch.setenv("WAYPOINT_API_KEYS", "")
    assert _status({"authorization": f"Bearer {ALICE}"}) == 401  # no keys: nobody gets in
    monkeypatch.setenv("WAYPOINT_API_KEYS", "short:alice")
    assert _status({"authorization": "Bearer short"}) == 401  # misconfigured: nobody gets in


def test_the_service_token_acts_for_the_owner_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from waypoint.server.service import ON_BEHALF_HEADER, SERVICE_ACTOR_FIELD, service_token

    monkeypatch.delenv("WAYPOINT_SERVICE_TOKEN", raising=False)
    monkeypatch.setenv("WAYPOINT_API_KEYS", f"{ALICE}:alice")
    token = service_token()
    assert token == service_token()  # one per process
    headers = {"authorization": f"Bearer {token}", ON_BEHALF_HEADER: "alice"}
    user: Any = run(server_auth.authenticate(headers=headers))
    assert (user["identity"], user[SERVICE_ACTOR_FIELD]) == ("alice", "sweeper")
    assert _status({"authorization": f"Bearer {token}"}) == 401  # it must name the owner
    assert _status({"authorization": f"Bearer {token}", ON_BEHALF_HEADER: "a b"}) == 401
    assert _status({"authorization": f"Bearer {ALICE}", ON_BEHALF_HEADER: "bob"}) == "alice"
    from waypoint.server.service import ACTING_HEADER, ACTING_ROLE_HEADER, SERVICE_ROLE_FIELD

    reviewer: Any = run(server_auth.authenticate(headers={**headers, ACTING_HEADER: "carol"}))
    assert (reviewer["identity"], reviewer[SERVICE_ACTOR_FIELD]) == ("alice", "carol")
    assert reviewer[SERVICE_ROLE_FIELD] == "reviewer" and user[SERVICE_ROLE_FIELD] == "deadline"
    escalated = {**headers, ACTING_HEADER: "bob", ACTING_ROLE_HEADER: "escalation"}
    bob: Any = run(server_auth.authenticate(headers=escalated))
    assert (bob[SERVICE_ACTOR_FIELD], bob[SERVICE_ROLE_FIELD]) == ("bob", "escalation")
    assert _status({**escalated, ACTING_ROLE_HEADER: "owner"}) == 401  # only the two roles
    assert _status({**headers, ACTING_HEADER: "not a name"}) == 401
    monkeypatch.setenv("WAYPOINT_SERVICE_TOKEN", "s" * 40)  # several processes: configured
    assert _status({"authorization": f"Bearer {'s' * 40}", ON_BEHALF_HEADER: "bob"}) == "bob"
    assert _status({"authorization": f"Bearer {token}", ON_BEHALF_HEADER: "bob"}) == 401


def test_the_service_may_read_and_answer_nothing_else() -> None:
    from waypoint.server.auth import create_run, read_thread, search_threads

    service = _User("alice")
    service.waypoint_actor = "sweeper"  # type: ignore[attr-defined]

    def ctx(resource: Any, action: Any) -> Auth.types.AuthContext:
        return Auth.types.AuthContext(
            user=service, permissions=[], resource=resource, action=action
        )

    assert run(read_thread(ctx=ctx("threads", "read"), value={})) == {"owner": "alice"}
    handlers: tuple[tuple[Any, str, str], ...] = (
        (owner_only, "threads", "create"),
        (owner_only, "threads", "update"),
        (search_threads, "threads", "search"),
        (own_namespace, "store", "put"),
    )
    for handler, resource, action in handlers:
        with pytest.raises(Auth.exceptions.HTTPException) as refused:
            run(handler(ctx=ctx(resource, action), value={"namespace": ("alice",)}))
        assert refused.value.status_code == 403
    answer: Any = {
        "thread_id": "t",
        "assistant_id": "support",
        "metadata": {},
        "kwargs": {"command": {"resume": {"i-1": {"decisions": [{"type": "approve"}]}}}},
    }
    assert run(create_run(ctx=ctx("threads", "create_run"), value=answer)) == {"owner": "alice"}
    assert answer["metadata"]["waypoint_role"] == "deadline"
    new_input: Any = {"thread_id": "t", "assistant_id": "support",
                                 "metadata": {}, "kwargs": {"input": {"seconds": 1}}}  # fmt: skip
    with pytest.raises(Auth.exceptions.HTTPException) as refused:
        run(create_run(ctx=ctx("threads", "create_run"), value=new_input))
    assert refused.value.status_code == 403


def test_threads_belong_to_their_creator() -> None:
    value: dict[str, Any] = {"thread_id": "t", "metadata": {"owner": "mallory", "x": 1}}
    assert run(owner_only(ctx=_ctx("threads", "create"), value=value)) == {"owner": "alice"}
    assert value["metadata"] == {"owner": "alice", "x": 1}  # a caller cannot pick the owner
    empty: dict[str, Any] = {"thread_id": "t", "metadata": None}
    run(owner_only(ctx=_ctx("threads", "create"), value=empty))
    assert empty["metadata"] == {"owner": "alice"}
    read: dict[str, Any] = {"thread_id": "t"}
    assert run(owner_only(ctx=_ctx("threads", "read", "bob"), value=read)) == {"owner": "bob"}
    assert read == {"thread_id": "t"}


def test_assistants_are_read_only() -> None:
    assert run(read_assistant(ctx=_ctx("assistants", "read"), value={})) is None
    assert run(change_assistant(ctx=_ctx("assistants", "create"), value={})) is False


MINE, THEIRS = ("users", "alice", "research", "findings"), ("users", "bob", "research", "findings")

# The value each server hands the store handler, per action (langgraph-api 0.16
# `langgraph_api/api/store.py`; Aegra 0.11 `aegra_api/api/store.py`), with `NS` for the
# namespace or prefix the request names. The e2e tests run the same requests on both servers.
STORE_VALUES: dict[str, dict[str, dict[str, Any]]] = {
    "langgraph-api": {
        "put": {"namespace": "NS", "key": "k", "value": {}, "index": None, "ttl": None},
        "get": {"namespace": "NS", "key": "k", "refresh_ttl": None},
        "delete": {"namespace": "NS", "key": "k"},
        "search": {
            "namespace": "NS",
            "filter": None,
            "limit": 10,
            "offset": 0,
            "query": None,
            "refresh_ttl": None,
        },
        "list_namespaces": {
            "namespace": "NS",
            "suffix": None,
            "max_depth": None,
            "limit": 100,
            "offset": 0,
        },
    },
    "aegra": {
        "put": {"namespace": "NS", "key": "k", "value": {}},
        "get": {"key": "k", "namespace": "NS"},
        "delete": {"namespace": "NS", "key": "k"},
        "search": {
            "namespace_prefix": "NS",
            "filter": None,
            "query": None,
            "limit": 10,
            "offset": 0,
        },
        "list_namespaces": {
            "prefix": "NS",
            "suffix": None,
            "max_depth": None,
            "limit": 100,
            "offset": 0,
        },
    },
}


def _store_value(server: str, action: str, namespace: Any) -> dict[str, Any]:
    value = dict(STORE_VALUES[server][action])
    field = next(k for k, v in value.items() if v == "NS")
    value[field] = list(namespace) if server == "aegra" and namespace is not None else namespace
    return value


def _store_status(server: str, action: str, namespace: Any, identity: str = "alice") -> int:
    value = _store_value(server, action, namespace)
    try:
        run(own_namespace(ctx=_ctx("store", action, identity), value=value))
    except Auth.exceptions.HTTPException as refused:
        return refused.status_code
    return 200


@pytest.mark.parametrize("server", sorted(STORE_VALUES))
@pytest.mark.parametrize("action", ["put", "get", "delete", "search", "list_namespaces"])
def test_store_actions_are_checked_on_the_namespace_they_use(server: str, action: str) -> None:
    assert _store_status(server, action, MINE) == 200
    assert _store_status(server, action, MINE[:2]) == 200  # ("users", "alice") itself
    assert _store_status(server, action, THEIRS) == 403
    assert _store_status(server, action, MINE, identity="bob") == 403
    assert _store_status(server, action, ("users",)) == 403  # every user's
    assert _store_status(server, action, ("alice", "notes")) == 403  # the old layout
    assert _store_status(server, action, ("users", "alicex")) == 403
    assert _store_status(server, action, ("research", "findings")) == 403


@pytest.mark.parametrize("server", sorted(STORE_VALUES))
@pytest.mark.parametrize("action", ["search", "list_namespaces"])
@pytest.mark.parametrize("prefix", [None, ()])
def test_a_search_or_listing_without_a_prefix_is_scoped_to_the_caller(
    server: str, action: str, prefix: Any
) -> None:
    if prefix is None and action == "search":
        return  # both servers require a search's prefix (it may be empty)
    value = _store_value(server, action, prefix)
    result = run(own_namespace(ctx=_ctx("store", action), value=value))
    if server == "langgraph-api":  # it reads the value back
        assert result is None and value["namespace"] == ("users", "alice")
    else:  # Aegra reads the returned fields back
        field = "namespace_prefix" if action == "search" else "prefix"
        assert result == {field: ["users", "alice"]}


@pytest.mark.parametrize("action", ["put", "get", "delete"])
def test_an_item_needs_a_namespace(action: str) -> None:
    for server in STORE_VALUES:
        assert _store_status(server, action, ()) == 403


def test_the_service_credential_has_no_store() -> None:
    service = _ctx("store", "search")
    service.user.waypoint_actor = "sweeper"  # type: ignore[attr-defined]  # as _service_user sets
    with pytest.raises(Auth.exceptions.HTTPException) as refused:
        run(own_namespace(ctx=service, value=_store_value("aegra", "search", MINE)))
    assert refused.value.status_code == 403


def test_studio_is_let_in_only_when_opted_in_on_the_local_dev_server() -> None:
    studio = {"x-auth-scheme": "langsmith"}
    dev = {"WAYPOINT_STUDIO_USER": "dev", "LANGSMITH_LANGGRAPH_API_VARIANT": "local_dev"}
    assert studio_user(studio, dev) == "dev"
    assert studio_user({}, dev) is None
    assert studio_user(studio, {"WAYPOINT_STUDIO_USER": "dev"}) is None  # not the dev server
    assert studio_user(studio, {"LANGSMITH_LANGGRAPH_API_VARIANT": "local_dev"}) is None
    assert studio_user(studio, {**dev, "WAYPOINT_STUDIO_USER": "no spaces"}) is None


def test_a_tokenless_studio_request_is_401_unless_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYPOINT_API_KEYS", f"{ALICE}:alice")
    monkeypatch.setenv("LANGSMITH_LANGGRAPH_API_VARIANT", "local_dev")
    monkeypatch.delenv("WAYPOINT_STUDIO_USER", raising=False)
    assert _status({"x-auth-scheme": "langsmith"}) == 401
    monkeypatch.setenv("WAYPOINT_STUDIO_USER", "dev")
    assert _status({"x-auth-scheme": "langsmith"}) == "dev"


def test_langgraph_json_serves_every_graph_with_this_auth() -> None:
    config = json.loads((PROJECT_ROOT / "langgraph.json").read_text())
    assert config["auth"] == {"path": "./waypoint/server/auth.py:auth", "disable_studio_auth": True}
    assert config["python_version"] and config["dependencies"] == ["."]
    assert (PROJECT_ROOT / config["env"]).is_file()
    assert all(graph.get("description") for graph in config["graphs"].values())
    assert "checkpointer" not in config  # each server brings its own saver


def test_the_auth_file_loads_on_its_own() -> None:
    """Aegra imports it by path, before the project is on sys.path, and serves with NO auth if
    that fails: it must need nothing but the standard library and langgraph_sdk."""
    code = (
        "import importlib.util, sys\n"
        "spec = importlib.util.spec_from_file_location('standalone', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules[spec.name] = module  # as Aegra does\n"
        "spec.loader.exec_module(module)\n"
        "from langgraph_sdk import Auth\n"
        "assert isinstance(module.auth, Auth)\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in {'waypoint', 'nodes'}]\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, str(PROJECT_ROOT / "waypoint/server/auth.py")],
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
