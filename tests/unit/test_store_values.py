"""`without_nul`: every text a Store value holds loses its NUL characters, nothing else changes."""

from __future__ import annotations

from langgraph.store.base import GetOp, PutOp

from waypoint.persistence.store_values import holdable, without_nul


def test_nul_is_replaced_in_nested_texts_and_keys_and_nothing_else_changes() -> None:
    value = {"a\x00": ["x\x00y", ("t\x00",), 3, None, 1.5, True], "plain": {"deep": "\x00"}}
    assert without_nul(value) == {
        "a\ufffd": ["x\ufffdy", ("t\ufffd",), 3, None, 1.5, True],
        "plain": {"deep": "\ufffd"},
    }
    clean = {"text": "no nul here"}
    assert without_nul(clean) == clean


def test_only_the_values_of_puts_change() -> None:
    put = PutOp(("users", "a\x00"), "k\x00", {"text": "\x00"})
    get = GetOp(("users", "a"), "k")
    delete = PutOp(("users", "a"), "k", None)
    assert holdable([put, get, delete]) == [
        PutOp(("users", "a\x00"), "k\x00", {"text": "\ufffd"}),
        get,
        delete,
    ]
