"""MVCCStore: etcd's revision rules, ranges at revisions, txn visibility, compaction, snapshots."""

from __future__ import annotations

import msgpack
import pytest

from kubemu.cluster.store.errors import CompactedError, FutureRevisionError, ValueTooLargeError
from kubemu.cluster.store.mvcc import (
    MAX_VALUE_BYTES, KeyValue, MVCCStore, event_to_dict, kv_to_dict, prefix_end,
)


def keys(result) -> list[str]:
    return [kv.key for kv in result.kvs]


@pytest.fixture
def store() -> MVCCStore:
    s = MVCCStore()
    for k in ("a", "b", "c", "d"):
        s.put(k, k.encode())
    return s  # revision 5


def test_empty_store_starts_at_revision_one():
    s = MVCCStore()
    assert s.revision == 1
    assert s.range("a", "\0").kvs == []


def test_put_creates_then_updates_key_metadata():
    s = MVCCStore()
    prev, ev = s.put("k", b"1")
    assert prev is None and ev.type == "PUT"
    assert s.get("k") == KeyValue("k", b"1", 2, 2, 1)
    s.put("other", b"x")
    prev, ev = s.put("k", b"2", lease=7)
    assert prev == KeyValue("k", b"1", 2, 2, 1)
    assert s.get("k") == KeyValue("k", b"2", 2, 4, 2, 7)
    assert ev.prev_kv == prev and s.revision == 4


def test_delete_then_recreate_starts_a_new_generation():
    s = MVCCStore()
    s.put("k", b"1")
    s.put("k", b"2")
    events = s.delete_range("k")
    assert [e.type for e in events] == ["DELETE"]
    assert events[0].kv.mod_revision == 4 and events[0].prev_kv.version == 2
    s.put("k", b"3")
    assert s.get("k") == KeyValue("k", b"3", 5, 5, 1)


def test_delete_of_nothing_does_not_increment_revision(store):
    assert store.delete_range("zz") == []
    assert store.delete_range("x", "y") == []
    assert store.revision == 5


def test_delete_range_deletes_all_keys_in_one_revision(store):
    events = store.delete_range("b", "d")
    assert [e.kv.key for e in events] == ["b", "c"]
    assert {e.kv.mod_revision for e in events} == {6}
    assert store.revision == 6
    assert keys(store.range("a", "\0")) == ["a", "d"]


@pytest.mark.parametrize(
    "key,range_end,want",
    [
        pytest.param("b", "", ["b"], id="single-key"),
        pytest.param("zz", "", [], id="single-missing-key"),
        pytest.param("b", "d", ["b", "c"], id="half-open-interval"),
        pytest.param("b", "\0", ["b", "c", "d"], id="all-from-key"),
        pytest.param("\0", "\0", ["a", "b", "c", "d"], id="every-key"),
        pytest.param("c", "b", [], id="end-before-start"),
        pytest.param("a", prefix_end("a"), ["a"], id="prefix"),
    ],
)
def test_range_selects_keys_by_etcd_range_end_rules(store, key, range_end, want):
    assert keys(store.range(key, range_end)) == want


def test_range_limit_reports_total_count_and_more(store):
    r = store.range("a", "\0", limit=2)
    assert keys(r) == ["a", "b"] and r.count == 4 and r.more
    r = store.range("a", "\0", limit=4)
    assert r.count == 4 and not r.more
    r = store.range("a", "\0", count_only=True)
    assert r.kvs == [] and r.count == 4
    r = store.range("a", "\0", keys_only=True)
    assert [kv.value for kv in r.kvs] == [b""] * 4 and r.kvs[0].version == 1


def test_range_at_old_revision_sees_the_past(store):
    store.put("b", b"b2")
    store.delete_range("c")
    store.put("e", b"e")
    assert keys(store.range("a", "\0", revision=5)) == ["a", "b", "c", "d"]
    assert store.range("b", revision=5).kvs[0].value == b"b"
    assert store.range("b", revision=6).kvs[0].value == b"b2"
    assert keys(store.range("a", "\0", revision=7)) == ["a", "b", "d"]
    assert keys(store.range("a", "\0", revision=2)) == ["a"]
    r = store.range("a", "\0", revision=7, limit=1)
    assert keys(r) == ["a"] and r.count == 3 and r.more


@pytest.mark.parametrize(
    "revision,error",
    [
        pytest.param(6, FutureRevisionError, id="future"),
        pytest.param(2, CompactedError, id="below-compaction"),
    ],
)
def test_range_rejects_unservable_revisions(store, revision, error):
    store.compact(3)
    with pytest.raises(error):
        store.range("a", "\0", revision=revision)


def test_compact_keeps_the_state_at_the_compact_revision(store):
    store.put("a", b"a2")  # 6
    store.delete_range("b")  # 7
    store.put("a", b"a3")  # 8
    store.compact(7)
    assert keys(store.range("a", "\0", revision=7)) == ["a", "c", "d"]
    assert store.range("a", revision=7).kvs[0].value == b"a2"
    assert store.range("a", revision=8).kvs[0].value == b"a3"
    with pytest.raises(CompactedError, match="required revision 6 has been compacted"):
        store.range("a", revision=6)
    with pytest.raises(CompactedError):
        store.compact(7)
    with pytest.raises(FutureRevisionError):
        store.compact(9)


def test_compact_forgets_deleted_keys_entirely():
    s = MVCCStore()
    s.put("gone", b"x")
    s.delete_range("gone")
    s.put("kept", b"y")
    s.compact(s.revision)
    assert s.snapshot_obj()[3] == [("kept", [(4, b"y", 4, 1, 0)])]


def test_compact_twice_only_revisits_keys_written_since():
    s = MVCCStore()
    s.put("a", b"1")
    s.put("a", b"2")
    s.compact(3)
    s.put("b", b"1")
    s.put("a", b"3")
    s.compact(5)
    assert s.range("a", revision=5).kvs[0].value == b"3"
    assert s.range("b", revision=5).kvs[0].value == b"1"
    assert s.snapshot_obj()[3] == [("a", [(5, b"3", 2, 3, 0)]), ("b", [(4, b"1", 4, 1, 0)])]


def test_value_over_limit_is_rejected():
    s = MVCCStore()
    with pytest.raises(ValueTooLargeError):
        s.put("k", b"x" * (MAX_VALUE_BYTES + 1))
    s.put("k", b"x" * MAX_VALUE_BYTES)
    assert s.revision == 2


def test_write_txn_shares_one_revision_and_reads_its_own_writes(store):
    w = store.txn()
    w.put("a", b"new")
    w.delete_range("b")
    assert w.range("a").kvs[0].value == b"new"  # revision 0: sees the txn's writes
    assert w.range("a", revision=5).kvs[0].value == b"a"  # explicit: the store before
    assert keys(w.range("a", "\0")) == ["a", "c", "d"]
    events = w.end()
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [
        ("PUT", "a", 6), ("DELETE", "b", 6)]
    assert store.revision == 6


def test_snapshot_restores_an_equal_store_deterministically(store):
    store.put("a", b"a2", lease=3)
    store.delete_range("c")
    store.compact(6)
    data = store.snapshot()
    again = MVCCStore.restore(data)
    assert again.snapshot() == data
    assert again.revision == store.revision and again.compact_revision == 6
    assert list(again.iter_live()) == list(store.iter_live())
    assert keys(again.range("a", "\0", revision=6)) == ["a", "b", "c", "d"]
    again.put("z", b"z")
    assert again.revision == store.revision + 1


def test_history_events_rebuilds_events_with_prev_kv(store):
    store.put("a", b"a2")
    store.delete_range("a")
    events = store.history_events(after=5)
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [
        ("PUT", "a", 6), ("DELETE", "a", 7)]
    assert events[0].prev_kv.value == b"a" and events[1].prev_kv.value == b"a2"


@pytest.mark.parametrize(
    "prefix,want",
    [
        pytest.param("/registry/pods/", "/registry/pods0", id="slash"),
        pytest.param("a", "b", id="letter"),
        pytest.param("a\U0010ffff", "b", id="max-codepoint-carries"),
        pytest.param("\U0010ffff", "\0", id="all-max-means-no-end"),
        pytest.param("", "\0", id="empty-prefix-is-everything"),
    ],
)
def test_prefix_end(prefix, want):
    assert prefix_end(prefix) == want


def test_kv_and_event_dicts_match_the_contract(store):
    prev, ev = store.put("a", b"v")
    assert kv_to_dict(prev) == {"key": "a", "value": b"a", "create_revision": 2,
                                "mod_revision": 2, "version": 1, "lease": 0}
    d = event_to_dict(ev)
    assert d["type"] == "PUT" and d["kv"]["version"] == 2 and d["prev_kv"]["value"] == b"a"
    assert kv_to_dict(None) is None


def test_image_stays_frozen_while_the_store_moves_on(store):
    store.put("a", b"a2")
    before = store.snapshot()
    image = store.image()
    store.put("a", b"a3")  # an existing key: its history is copied, not changed in place
    store.put("new", b"n")
    store.delete_range("b")
    store.compact(store.revision)  # drops history the image still holds
    packer = msgpack.Packer(use_bin_type=True, autoreset=True)
    out: list[bytes] = []
    image.pack(packer, out)
    assert b"".join(out) == before
    assert msgpack.packb(image.obj(), use_bin_type=True) == before
    assert MVCCStore.restore(before).get("a").value == b"a2"
    assert store.get("a").value == b"a3" and keys(store.range("a", "\0")) == ["a", "c", "d", "new"]
