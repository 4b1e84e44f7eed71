"""Store commands: validation, results of each op, txn atomicity, leases with keys, errors."""

from __future__ import annotations

import msgpack
import pytest

from kubemu.cluster.store.commands import StateMachine, is_read, validate
from kubemu.cluster.store.errors import (
    BadRequestError, StoreError, UnknownOpError, ValueTooLargeError,
)
from kubemu.cluster.store.mvcc import MAX_VALUE_BYTES


@pytest.fixture
def sm() -> StateMachine:
    return StateMachine(history_events=1000)


def apply(sm: StateMachine, index: int = 0, now: float = 0.0, **cmd) -> dict:
    return sm.apply(cmd, index=index, now=now)


def read(sm: StateMachine, now: float = 0.0, **cmd) -> dict:
    return sm.read(cmd, now=now)


def code(result: dict) -> str | None:
    return result.get("error", {}).get("code")


@pytest.mark.parametrize(
    "command,error",
    [
        pytest.param({"op": "frobnicate"}, UnknownOpError, id="unknown-op"),
        pytest.param({"key": "a"}, UnknownOpError, id="missing-op"),
        pytest.param(["put"], BadRequestError, id="not-a-dict"),
        pytest.param({"op": "put", "key": "", "value": b""}, BadRequestError, id="empty-key"),
        pytest.param({"op": "put", "key": 3, "value": b""}, BadRequestError, id="int-key"),
        pytest.param({"op": "put", "key": "a"}, BadRequestError, id="missing-value"),
        pytest.param({"op": "put", "key": "a", "value": "str"}, BadRequestError,
                     id="str-value"),
        pytest.param({"op": "put", "key": "a", "value": b"x" * (MAX_VALUE_BYTES + 1)},
                     ValueTooLargeError, id="value-too-large"),
        pytest.param({"op": "put", "key": "a", "value": b"", "lease": -1}, BadRequestError,
                     id="negative-lease"),
        pytest.param({"op": "put", "key": "a", "value": b"", "leese": 1}, BadRequestError,
                     id="misspelt-argument"),
        pytest.param({"op": "range", "key": "a", "limit": True}, BadRequestError,
                     id="bool-is-not-int"),
        pytest.param({"op": "range", "key": "a", "keys_only": 1}, BadRequestError,
                     id="int-is-not-bool"),
        pytest.param({"op": "compact"}, BadRequestError, id="compact-without-revision"),
        pytest.param({"op": "txn", "success": [{"op": "compact", "revision": 1}]},
                     UnknownOpError, id="compact-inside-txn"),
        pytest.param({"op": "txn", "compares": [{"key": "a", "target": "size", "result": "=",
                                                 "value": 1}]}, BadRequestError,
                     id="bad-compare-target"),
        pytest.param({"op": "txn", "compares": [{"key": "a", "target": "value", "result": "=",
                                                 "value": 1}]}, BadRequestError,
                     id="value-compare-needs-bytes"),
        pytest.param({"op": "txn", "compares": [{"key": "a", "target": "mod", "result": "~",
                                                 "value": 1}]}, BadRequestError,
                     id="bad-compare-result"),
        pytest.param({"op": "lease_grant"}, BadRequestError, id="grant-without-ttl"),
    ],
)
def test_validate_rejects_bad_commands(command, error):
    with pytest.raises(error):
        validate(command)


def test_bad_command_is_an_error_result_never_a_crash(sm):
    assert code(sm.apply({"op": "nope"}, index=1, now=0)) == "unknown_op"
    assert code(sm.apply({"op": "range", "key": "a"}, index=1, now=0)) == "bad_request"
    assert code(sm.read({"op": "put", "key": "a", "value": b""}, now=0)) == "bad_request"
    assert sm.revision == 1


def test_put_and_range_results_match_the_contract(sm):
    assert apply(sm, op="put", key="a", value=b"1") == {"prev_kv": None, "revision": 2}
    r = apply(sm, op="put", key="a", value=b"2", prev_kv=True)
    assert r["revision"] == 3 and r["prev_kv"]["value"] == b"1"
    assert read(sm, op="range", key="a") == {
        "kvs": [{"key": "a", "value": b"2", "create_revision": 2, "mod_revision": 3,
                 "version": 2, "lease": 0}],
        "count": 1, "more": False, "revision": 3}
    assert read(sm, op="range", key="a", revision=2)["kvs"][0]["value"] == b"1"
    msgpack.packb(r)  # results are msgpack-able


def test_delete_range_returns_count_and_prev_kvs(sm):
    for k in ("a", "b", "c"):
        apply(sm, op="put", key=k, value=b"v")
    r = apply(sm, op="delete_range", key="a", range_end="c")
    assert r["revision"] == 5 and r["deleted"] == 2
    assert [kv["key"] for kv in r["prev_kvs"]] == ["a", "b"]
    assert apply(sm, op="delete_range", key="zz") == {"deleted": 0, "prev_kvs": [],
                                                      "revision": 5}


@pytest.mark.parametrize(
    "compare,succeeded",
    [
        pytest.param({"target": "version", "result": "=", "value": 2}, True, id="version-eq"),
        pytest.param({"target": "version", "result": ">", "value": 2}, False, id="version-gt"),
        pytest.param({"target": "mod", "result": "=", "value": 3}, True, id="mod-eq"),
        pytest.param({"target": "create", "result": "<", "value": 3}, True, id="create-lt"),
        pytest.param({"target": "value", "result": "=", "value": b"2"}, True, id="value-eq"),
        pytest.param({"target": "value", "result": "!=", "value": b"2"}, False,
                     id="value-ne"),
        pytest.param({"target": "lease", "result": "=", "value": 0}, True, id="lease-eq"),
        pytest.param({"key": "missing", "target": "version", "result": "=", "value": 0}, True,
                     id="absent-key-has-version-zero"),
        pytest.param({"key": "missing", "target": "value", "result": "!=", "value": b""},
                     False, id="absent-key-value-compare-fails"),
        pytest.param({"key": "a", "range_end": "\0", "target": "version", "result": ">",
                      "value": 0}, True, id="range-compare-all-match"),
    ],
)
def test_txn_compares(sm, compare, succeeded):
    apply(sm, op="put", key="a", value=b"1")
    apply(sm, op="put", key="a", value=b"2")
    compare = {"key": "a", **compare}
    r = apply(sm, op="txn", compares=[compare], success=[{"op": "range", "key": "a"}],
              failure=[])
    assert r["succeeded"] is succeeded
    assert len(r["responses"]) == (1 if succeeded else 0)


def test_txn_writes_share_one_revision_and_reads_see_them(sm):
    apply(sm, op="put", key="old", value=b"x")
    r = apply(sm, op="txn", compares=[], success=[
        {"op": "put", "key": "a", "value": b"1"},
        {"op": "delete_range", "key": "old"},
        {"op": "range", "key": "a"},
    ])
    assert r["succeeded"] and r["revision"] == 3
    assert [resp["revision"] for resp in r["responses"]] == [3, 3, 3]
    assert r["responses"][2]["kvs"][0]["value"] == b"1"
    assert r["responses"][1]["deleted"] == 1


def test_read_only_txn_does_not_increment_revision(sm):
    r = apply(sm, op="txn", compares=[], success=[{"op": "range", "key": "a"}], failure=[])
    assert r["revision"] == 1 and sm.revision == 1


@pytest.mark.parametrize(
    "ops,error",
    [
        pytest.param([{"op": "put", "key": "a", "value": b"1"},
                      {"op": "put", "key": "a", "value": b"2"}], "bad_request",
                     id="duplicate-put"),
        pytest.param([{"op": "put", "key": "a", "value": b"1"},
                      {"op": "delete_range", "key": "a", "range_end": "b"}], "bad_request",
                     id="put-inside-deleted-range"),
        pytest.param([{"op": "put", "key": "a", "value": b"1"},
                      {"op": "put", "key": "b", "value": b"1", "lease": 42}],
                     "lease_not_found", id="unknown-lease"),
        pytest.param([{"op": "put", "key": "a", "value": b"1"},
                      {"op": "range", "key": "a", "revision": 99}], "future_revision",
                     id="future-range"),
    ],
)
def test_failing_txn_changes_nothing(sm, ops, error):
    r = apply(sm, op="txn", compares=[], success=ops)
    assert code(r) == error
    assert sm.revision == 1 and read(sm, op="range", key="a")["count"] == 0


def test_compact_result_and_errors(sm):
    for i in range(3):
        apply(sm, op="put", key="a", value=bytes([i]))
    assert apply(sm, op="compact", revision=3) == {"revision": 4}
    assert code(read(sm, op="range", key="a", revision=2)) == "compacted"
    assert code(apply(sm, op="compact", revision=3)) == "compacted"
    assert code(apply(sm, op="compact", revision=9)) == "future_revision"
    with pytest.raises(StoreError):
        sm.watch.events_since("a", "", 2, current_revision=4)


def test_lease_grant_picks_id_from_the_entry_index(sm):
    assert apply(sm, index=17, op="lease_grant", ttl=10) == {"id": 17, "ttl": 10}
    assert apply(sm, index=18, op="lease_grant", id=17, ttl=10)["error"]["code"] == "bad_request"
    assert apply(sm, index=19, op="lease_grant", id=500, ttl=0) == {"id": 500, "ttl": 1}


def test_revoking_a_lease_deletes_its_keys_in_one_revision(sm):
    apply(sm, index=5, op="lease_grant", ttl=10)
    apply(sm, op="put", key="a", value=b"1", lease=5)
    apply(sm, op="put", key="b", value=b"1", lease=5)
    apply(sm, op="put", key="c", value=b"1", lease=5)
    apply(sm, op="put", key="c", value=b"2")  # detached by a put without the lease
    assert read(sm, op="lease_timetolive", id=5)["keys"] == ["a", "b"]
    assert apply(sm, op="lease_revoke", id=5) == {"revision": 6}
    events, _ = sm.watch.events_since("a", "\0", 6, current_revision=6)
    assert [(e.type, e.kv.key) for e in events] == [("DELETE", "a"), ("DELETE", "b")]
    assert read(sm, op="range", key="a", range_end="\0")["count"] == 1
    assert read(sm, op="lease_timetolive", id=5) == {"id": 5, "ttl": -1, "granted_ttl": 0,
                                                     "keys": []}
    assert code(apply(sm, op="lease_revoke", id=5)) == "lease_not_found"


def test_put_with_unknown_lease_is_rejected(sm):
    assert code(apply(sm, op="put", key="a", value=b"", lease=3)) == "lease_not_found"
    assert sm.revision == 1


def test_keepalive_renews_on_the_leader(sm):
    sm.lessor.promote(now=0.0)
    apply(sm, index=4, now=0.0, op="lease_grant", ttl=10)
    assert sm.keepalive({"op": "lease_keepalive", "id": 4}, now=8.0) == {"id": 4, "ttl": 10}
    assert read(sm, now=9.0, op="lease_timetolive", id=4)["ttl"] == 9
    assert code(sm.keepalive({"op": "lease_keepalive", "id": 5}, now=8.0)) == "lease_not_found"


def test_snapshot_restore_rebuilds_state_leases_and_watch_history(sm):
    apply(sm, index=3, op="lease_grant", ttl=10)
    apply(sm, op="put", key="a", value=b"1", lease=3)
    apply(sm, op="put", key="b", value=b"1")
    apply(sm, op="put", key="b", value=b"2")
    apply(sm, op="compact", revision=3)
    data = sm.snapshot()
    other = StateMachine(history_events=1000)
    other.restore(data, now=0.0)
    assert other.snapshot() == data
    assert read(other, op="range", key="a", range_end="\0") == read(
        sm, op="range", key="a", range_end="\0")
    assert read(other, op="lease_timetolive", id=3)["keys"] == ["a"]
    events, revision = other.watch.events_since("a", "\0", 4, current_revision=other.revision)
    assert [(e.kv.key, e.kv.mod_revision, e.prev_kv.value) for e in events] == [("b", 4, b"1")]
    with pytest.raises(StoreError):
        other.watch.events_since("a", "\0", 3, current_revision=other.revision)


@pytest.mark.parametrize(
    "command,want",
    [
        pytest.param({"op": "range", "key": "a"}, True, id="range"),
        pytest.param({"op": "lease_timetolive", "id": 1}, True, id="timetolive"),
        pytest.param({"op": "txn", "compares": [], "success": [{"op": "range", "key": "a"}],
                      "failure": [{"op": "range", "key": "b"}]}, True, id="txn-of-ranges"),
        pytest.param({"op": "txn", "success": [{"op": "range", "key": "a"}],
                      "failure": [{"op": "delete_range", "key": "b"}]}, False,
                     id="txn-with-a-write"),
        pytest.param({"op": "put", "key": "a", "value": b""}, False, id="put"),
        pytest.param({"op": "lease_keepalive", "id": 1}, False, id="keepalive"),
    ],
)
def test_is_read_classifies_commands(command, want):
    assert is_read(command) is want


def test_read_only_txn_is_served_as_a_read(sm):
    apply(sm, op="put", key="a", value=b"1")
    r = read(sm, op="txn", compares=[{"key": "a", "target": "version", "result": "=",
                                      "value": 1}],
             success=[{"op": "range", "key": "a"}], failure=[])
    assert r["succeeded"] and r["responses"][0]["kvs"][0]["value"] == b"1"
    assert r["revision"] == 2 and sm.revision == 2


@pytest.mark.parametrize(
    "command,valid",
    [
        pytest.param({"op": "put", "key": "a", "value": b"v"}, True, id="plain"),
        pytest.param({"op": "put", "key": "a", "value": b"", "lease": 5, "prev_kv": True}, True,
                     id="all-arguments"),
        pytest.param({"op": "put", "key": "a", "value": bytearray(b"v")}, True,
                     id="bytearray-value-takes-the-full-checks"),
        pytest.param({"op": "put", "key": "a", "value": b"v", "lease": True}, False,
                     id="bool-lease"),
        pytest.param({"op": "put", "key": "a", "value": b"v", "prev_kv": 1}, False,
                     id="int-prev-kv"),
        pytest.param({"op": "put", "key": "a", "value": b"v", "lease": 2 ** 64 - 1}, True,
                     id="largest-uint64-lease"),
        pytest.param({"op": "put", "key": "a", "value": b"v", "lease": 2 ** 64}, False,
                     id="lease-msgpack-cannot-encode"),
        pytest.param({"op": "put", "key": "a", "value": None}, False, id="none-value"),
        pytest.param({"op": "put", "value": b"v"}, False, id="missing-key"),
    ],
)
def test_put_fast_path_accepts_exactly_what_the_full_checks_accept(command, valid):
    def outcome(cmd: dict) -> bool:
        try:
            validate(cmd)
        except StoreError:
            return False
        return True

    class Full(dict):  # not exactly a dict: takes the full checks, never the put fast path
        pass

    assert outcome(command) is valid
    assert outcome(Full(command)) is valid
    assert outcome({"op": "txn", "success": [command]}) is valid


@pytest.mark.parametrize("history", [1000, 3], ids=["history-reaches-back", "history-short"])
def test_pages_at_an_old_revision_count_what_remains_as_it_was(history: int) -> None:
    """A paginated list reads every page at its first page's revision: the count of what
    is left is the state then, whether the watch history still holds every write since
    (counted from the keys alive now) or not (every key looked at)."""
    sm = StateMachine(history_events=history)
    for i in range(6):
        apply(sm, op="put", key=f"/p/{i}", value=b"v")
    then = read(sm, op="range", key="/p/", range_end="/p0", limit=2)
    apply(sm, op="put", key="/p/8", value=b"new")          # created since
    apply(sm, op="put", key="/p/9", value=b"new")
    apply(sm, op="delete_range", key="/p/4")                # gone since
    apply(sm, op="put", key="/p/3", value=b"changed")       # changed since
    page = read(sm, op="range", key="/p/2", range_end="/p0", limit=2,
                revision=then["revision"])
    assert [kv["key"] for kv in page["kvs"]] == ["/p/2", "/p/3"]
    assert page["kvs"][1]["value"] == b"v" and page["count"] == 4 and page["more"]
