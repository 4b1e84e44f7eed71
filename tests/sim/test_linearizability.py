"""The linearizability checker on hand-written single-key histories (and its revision checks)."""

from __future__ import annotations

import random

import pytest

from tests.sim.linearizability import (
    HistoryOp,
    check_history,
    check_key,
    check_revisions,
)


def put(value: bytes, call: int, ret: int | None, *, client: int = 1, key: str = "k",
        rev: int = 0) -> HistoryOp:
    return HistoryOp(client, "put", key, call, ret, value=value, revision=rev,
                     request_id=f"{client}-{call}", call_step=call, ret_step=ret)


def get(seen: tuple | None, call: int, ret: int | None, *, client: int = 2, key: str = "k",
        rev: int = 0) -> HistoryOp:
    return HistoryOp(client, "get", key, call, ret, output=seen, revision=rev,
                     request_id=f"{client}-{call}", call_step=call, ret_step=ret)


def txn(compare: tuple, value: bytes, succeeded: bool | None, call: int, ret: int | None, *,
        client: int = 3, key: str = "k", rev: int = 0) -> HistoryOp:
    return HistoryOp(client, "txn", key, call, ret, value=value, compare=compare,
                     output=succeeded, revision=rev, request_id=f"{client}-{call}",
                     call_step=call, ret_step=ret)


def delete(deleted: int | None, call: int, ret: int | None, *, client: int = 4,
           key: str = "k", rev: int = 0) -> HistoryOp:
    return HistoryOp(client, "delete", key, call, ret, output=deleted, revision=rev,
                     request_id=f"{client}-{call}", call_step=call, ret_step=ret)


LINEARIZABLE = [
    pytest.param([put(b"a", 1, 2), get((b"a", 1), 3, 4)], id="read-after-write"),
    pytest.param([get(None, 1, 2), put(b"a", 3, 4)], id="read-of-absent-key-before-write"),
    pytest.param([put(b"a", 1, 10), get(None, 2, 3), get((b"a", 1), 4, 5)],
                 id="concurrent-write-seen-midway"),
    pytest.param([put(b"a", 1, 4), put(b"b", 2, 5, client=5), get((b"a", 2), 6, 7)],
                 id="concurrent-writes-either-order"),
    pytest.param([put(b"a", 1, None), get(None, 2, 3)], id="indeterminate-write-never-happened"),
    pytest.param([put(b"a", 1, None), get(None, 2, 3), get((b"a", 1), 8, 9)],
                 id="indeterminate-write-happened-late"),
    pytest.param([put(b"a", 1, 2), txn(("value", b"a"), b"b", True, 3, 4),
                  txn(("value", b"a"), b"c", False, 5, 6), get((b"b", 2), 7, 8)],
                 id="txn-compare-value"),
    pytest.param([txn(("version", 0), b"a", True, 1, 2), get((b"a", 1), 3, 4)],
                 id="txn-create-if-absent"),
    pytest.param([put(b"a", 1, 2), txn(("mod", 5, b"a"), b"b", True, 3, 4),
                  get((b"b", 2), 5, 6)], id="txn-compare-mod-revision"),
    pytest.param([put(b"a", 1, 2), delete(1, 3, 4), get(None, 5, 6), put(b"b", 7, 8),
                  get((b"b", 1), 9, 10)], id="delete-resets-version"),
    pytest.param([put(b"a", 1, 2), txn(("value", b"a"), b"b", None, 3, None),
                  get((b"b", 2), 5, 6)], id="indeterminate-txn-took-effect"),
    pytest.param([put(b"a", 1, 3), get((b"a", 1), 2, 4)],
                 id="read-concurrent-with-its-write"),
]

NOT_LINEARIZABLE = [
    pytest.param([put(b"a", 1, 2), put(b"b", 3, 4), get((b"a", 1), 5, 6)], id="stale-read"),
    pytest.param([put(b"a", 1, 2), get(None, 3, 4)], id="lost-write"),
    pytest.param([put(b"a", 1, 2), put(b"b", 3, 20, client=5), get((b"b", 2), 5, 6),
                  get((b"a", 1), 7, 8)], id="write-seen-then-unseen"),
    pytest.param([put(b"a", 1, 2), get((b"a", 2), 3, 4)], id="write-applied-twice"),
    pytest.param([get((b"a", 1), 1, 2), put(b"a", 3, None)], id="read-before-the-write-began"),
    pytest.param([get((b"z", 1), 1, 2)], id="read-of-value-never-written"),
    pytest.param([put(b"a", 1, 2), txn(("value", b"x"), b"b", True, 3, 4)],
                 id="txn-succeeded-on-false-compare"),
    pytest.param([put(b"a", 1, 2), txn(("value", b"a"), b"b", False, 3, 4)],
                 id="txn-failed-on-true-compare"),
    pytest.param([put(b"a", 1, 2), delete(0, 3, 4)], id="delete-missed-existing-key"),
    pytest.param([put(b"a", 1, 2), txn(("value", b"a"), b"b", None, 3, None),
                  get((b"b", 2), 5, 6), get((b"a", 1), 7, 8)],
                 id="indeterminate-txn-seen-then-unseen"),
]


@pytest.mark.parametrize("history", LINEARIZABLE)
def test_checker_accepts_linearizable_history(history):
    result = check_history(history)
    assert result.ok, result.report


@pytest.mark.parametrize("history", NOT_LINEARIZABLE)
def test_checker_rejects_non_linearizable_history(history):
    result = check_history(history)
    assert not result.ok
    assert "not linearizable" in result.report


def test_keys_are_checked_independently():
    history = [put(b"a", 1, 2, key="x"), get(None, 3, 4, key="y"), get((b"a", 1), 5, 6, key="x")]
    assert check_history(history).ok
    history.append(get(None, 7, 8, key="x"))
    result = check_history(history)
    assert not result.ok and result.key == "x"


def test_failure_report_keeps_only_the_contradicting_ops():
    noise = [get((b"a", 1), 10 + 2 * i, 11 + 2 * i, client=7) for i in range(10)]
    history = [put(b"a", 1, 2), *noise, put(b"b", 40, 41), get((b"a", 1), 42, 43, client=9)]
    result = check_history(history)
    assert not result.ok
    essential = [line for line in result.report.splitlines() if line.startswith("  *")]
    assert len(essential) == 2, result.report  # the write of b, then the stale read of a
    assert "client 9" in essential[-1]
    assert "put(b'b')" in essential[0]


def test_many_concurrent_indeterminate_writes_stay_tractable():
    rng = random.Random(7)
    history = []
    t = 0
    for i in range(60):
        t += 1
        history.append(put(f"v{i}".encode(), t, None if rng.random() < 0.3 else t + 5, client=i))
    history.append(get((b"v59", 60), t + 10, t + 11))
    ok, explored = check_key(history)
    assert ok is False or ok is True
    assert explored < 2_000_000


REVISION_VIOLATIONS = [
    pytest.param([put(b"a", 1, 2, rev=5), put(b"b", 3, 4, rev=5, key="j")],
                 "names two writes", id="one-revision-two-writes"),
    pytest.param([put(b"a", 1, 2, rev=5), get((b"a", 1, 6), 3, 4, rev=6)],
                 "seen with mod_revision", id="value-with-two-mod-revisions"),
    pytest.param([put(b"a", 1, 2, rev=5), get(None, 3, 4, key="j", rev=4)],
                 "went back", id="read-revision-behind-completed-write"),
    pytest.param([put(b"a", 1, 2, rev=5), put(b"b", 3, 4, rev=3, key="j")],
                 "went back", id="later-write-lower-revision"),
]


@pytest.mark.parametrize(("history", "message"), REVISION_VIOLATIONS)
def test_revision_checks_catch_cross_key_anomalies(history, message):
    errors = check_revisions(history)
    assert any(message in e for e in errors), errors


def test_revision_checks_accept_consistent_history():
    history = [put(b"a", 1, 2, rev=2), put(b"b", 3, 4, rev=3, key="j"),
               get((b"a", 1, 2), 5, 6, rev=3), delete(1, 7, 8, key="j", rev=4),
               get(None, 9, 10, key="j", rev=4)]
    assert check_revisions(history) == []
