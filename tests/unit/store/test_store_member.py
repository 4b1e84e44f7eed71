"""StoreMember driven in-process: single- and three-member groups (harness in conftest.py)."""

from __future__ import annotations

import msgpack
import pytest

from kubemu.cluster.store.errors import CompactedError

def put(key: str, value: bytes, **kw) -> dict:
    return {"op": "put", "key": key, "value": value, **kw}


def get(key: str, **kw) -> dict:
    return {"op": "range", "key": key, **kw}


def code(result: dict) -> str | None:
    return result.get("error", {}).get("code")


# ---- one member ------------------------------------------------------------------------------


def test_single_member_serves_writes_and_linearizable_reads(make_group):
    g = make_group(1)
    leader = g.leader()
    assert g.call(leader, put("a", b"1"))["revision"] == 2
    assert g.call(leader, put("a", b"2"))["revision"] == 3
    r = g.call(leader, get("a"))
    assert r["kvs"][0]["value"] == b"2" and r["kvs"][0]["version"] == 2
    assert g.members[leader].applied_revision == 3


@pytest.mark.parametrize(
    "command,want",
    [
        pytest.param({"op": "nope"}, "unknown_op", id="unknown-op"),
        pytest.param(put("", b"x"), "bad_request", id="empty-key"),
        pytest.param(put("k", b"x" * 1_572_865), "value_too_large", id="value-too-large"),
        pytest.param({"op": "lease_keepalive", "id": 5}, "lease_not_found",
                     id="keepalive-unknown-lease"),
        pytest.param(get("k", revision=99), "future_revision", id="future-read"),
    ],
)
def test_bad_requests_complete_with_errors(make_group, command, want):
    g = make_group(1)
    leader = g.leader()
    assert code(g.call(leader, command)) == want
    assert g.members[leader].applied_revision == 1


def test_retried_request_id_applies_once_and_returns_the_first_result(make_group):
    g = make_group(1)
    leader = g.leader()
    first = g.call(leader, put("a", b"1"), rid="same")
    again = g.call(leader, put("a", b"other"), rid="same")
    assert again == first
    assert g.call(leader, get("a"))["kvs"][0]["value"] == b"1"
    assert g.members[leader].applied_revision == 2


def test_duplicate_submit_while_pending_is_proposed_once(make_group):
    g = make_group(1)
    leader = g.leader()
    m = g.members[leader]
    m.submit("dup", put("a", b"1"))
    m.submit("dup", put("a", b"1"))
    g.pump()
    assert g.results["dup"]["revision"] == 2 and m.applied_revision == 2


def test_restart_recovers_state_and_dedup_table_from_disk(make_group):
    g = make_group(1, snapshot_every=3)
    leader = g.leader()
    for i in range(7):
        g.call(leader, put(f"k{i}", b"v"), rid=f"w{i}")
    assert g.disks[leader].rec.snapshot is not None
    g.restart(leader)
    leader = g.leader()
    assert g.call(leader, get("k", range_end="l"))["count"] == 7
    assert g.call(leader, put("k0", b"again"), rid="w0")["revision"] == 2  # deduplicated
    assert g.members[leader].applied_revision == 8


# ---- three members ---------------------------------------------------------------------------


@pytest.fixture
def trio(make_group):
    g = make_group(3)
    g.leader()
    return g


def test_writes_replicate_and_followers_read_linearizably(trio):
    leader = trio.leader()
    follower = next(i for i in trio.ids if i != leader)
    trio.call(leader, put("a", b"1"))
    r = trio.call(follower, get("a"))  # served after the follower applied the read index
    assert r["kvs"][0]["value"] == b"1" and r["revision"] == 2
    assert {m.applied_revision for m in trio.members.values()} == {2}


def test_read_only_txn_on_a_follower_needs_no_raft_write(trio):
    leader = trio.leader()
    follower = next(i for i in trio.ids if i != leader)
    trio.call(leader, put("a", b"1"))
    commit = trio.members[leader].raft.commit
    r = trio.call(follower, {"op": "txn", "compares": [], "success": [get("a")]})
    assert r["responses"][0]["kvs"][0]["value"] == b"1"
    assert trio.members[leader].raft.commit == commit


def test_write_on_a_follower_is_refused_with_a_leader_hint(trio):
    leader = trio.leader()
    follower = next(i for i in trio.ids if i != leader)
    r = trio.call(follower, put("a", b"1"))
    assert r["error"]["code"] == "not_leader" and r["error"]["leader"] == leader


def test_isolated_leader_fails_pending_writes_and_retry_applies_once(trio):
    old = trio.leader()
    trio.isolated.add(old)
    rid = trio.submit(old, put("a", b"lost?"))
    new = trio.leader()  # the majority elects a new leader
    trio.wait(lambda: rid in trio.results, what="old leader steps down")
    assert code(trio.results[rid]) == "not_leader"
    assert code(trio.call(new, put("a", b"1"), rid=rid)) is None  # the client's retry
    trio.isolated.clear()
    trio.wait(lambda: trio.members[old].applied_revision == 2, what="old leader catches up")
    assert trio.call(old, get("a"))["kvs"][0]["value"] == b"1"
    assert {m.applied_revision for m in trio.members.values()} == {2}


def test_retry_of_a_committed_write_on_a_new_leader_returns_the_first_result(trio):
    old = trio.leader()
    first = trio.call(old, put("a", b"1"), rid="w")
    trio.wait(lambda: all(m.applied_revision == 2 for m in trio.members.values()),
              what="replication")
    trio.down.add(old)
    new = trio.leader()
    assert trio.call(new, put("a", b"1"), rid="w") == first
    assert trio.members[new].applied_revision == 2


def test_watch_events_follow_applied_writes_on_every_member(trio):
    leader = trio.leader()
    trio.call(leader, put("/p/a", b"1"))
    trio.call(leader, put("/p/b", b"1"))
    trio.call(leader, {"op": "delete_range", "key": "/p/", "range_end": "/p0"})
    trio.wait(lambda: all(m.applied_revision == 4 for m in trio.members.values()))
    for m in trio.members.values():
        events, revision = m.watch_events("/p/", "/p0", 3)
        assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [
            ("PUT", "/p/b", 3), ("DELETE", "/p/a", 4), ("DELETE", "/p/b", 4)]
        assert revision == 4


def test_lease_expiry_on_the_leader_deletes_attached_keys_everywhere(trio):
    leader = trio.leader()
    lease = trio.call(leader, {"op": "lease_grant", "ttl": 2})["id"]
    trio.call(leader, put("held", b"x", lease=lease))
    trio.call(leader, put("free", b"x"))
    trio.tick(10)  # 1 s: not yet
    assert trio.call(leader, get("held"))["count"] == 1
    trio.wait(lambda: all(m.sm.mvcc.get("held") is None for m in trio.members.values()),
              ticks=30, what="lease expiry")
    assert trio.clock.now() >= 2.0
    assert trio.call(leader, {"op": "lease_timetolive", "id": lease})["ttl"] == -1
    events, _ = trio.members[leader].watch_events("held", "", 1)
    assert [e.type for e in events] == ["PUT", "DELETE"]


def test_keepalive_keeps_a_lease_alive(trio):
    leader = trio.leader()
    lease = trio.call(leader, {"op": "lease_grant", "ttl": 2})["id"]
    trio.call(leader, put("held", b"x", lease=lease))
    for _ in range(6):
        trio.tick(10)
        assert trio.call(leader, {"op": "lease_keepalive", "id": lease}) == {"id": lease,
                                                                             "ttl": 2}
    assert trio.call(leader, get("held"))["count"] == 1
    ttl = trio.call(leader, {"op": "lease_timetolive", "id": lease})
    assert ttl["keys"] == ["held"] and 1 <= ttl["ttl"] <= 2


def test_keepalive_on_a_follower_is_refused(trio):
    leader = trio.leader()
    follower = next(i for i in trio.ids if i != leader)
    lease = trio.call(leader, {"op": "lease_grant", "id": 9, "ttl": 5})["id"]
    assert code(trio.call(follower, {"op": "lease_keepalive", "id": lease})) == "not_leader"


def test_new_leader_restarts_lease_deadlines(trio):
    old = trio.leader()
    lease = trio.call(old, {"op": "lease_grant", "ttl": 3})["id"]
    trio.call(old, put("held", b"x", lease=lease))
    trio.wait(lambda: all(m.sm.mvcc.get("held") for m in trio.members.values()))
    trio.tick(20)  # 2 s of the 3 s TTL gone on the old leader
    trio.down.add(old)
    new = trio.leader()
    elected_at = trio.clock.now()
    trio.wait(lambda: trio.members[new].sm.mvcc.get("held") is None, ticks=60,
              what="expiry on the new leader")
    assert trio.clock.now() >= elected_at + 3.0


def test_lagging_follower_catches_up_from_a_snapshot(make_group):
    g = make_group(3, snapshot_every=5, snapshot_keep_entries=0)
    leader = g.leader()
    lagger = next(i for i in g.ids if i != leader)
    g.down.add(lagger)
    for i in range(20):
        g.call(leader, put(f"k{i:02}", bytes([i])))
    g.call(leader, {"op": "compact", "revision": 15})
    assert g.members[leader].raft.first_index > 2  # the log was compacted
    g.restart(lagger)
    g.wait(lambda: g.members[lagger].applied_revision == 21, what="snapshot catch-up")
    m = g.members[lagger]
    assert m.sm.mvcc.snapshot() == g.members[leader].sm.mvcc.snapshot()
    assert g.call(lagger, get("k", range_end="l"))["count"] == 20
    with pytest.raises(CompactedError):
        m.watch_events("k", "l", 14)
    events, _ = m.watch_events("k", "l", 18)
    assert [e.kv.key for e in events] == ["k16", "k17", "k18", "k19"]  # k00 is revision 2
    assert g.disks[lagger].rec.snapshot is not None


def test_reads_without_a_known_leader_fail_fast(make_group):
    g = make_group(3)
    r = g.call(1, get("a"))  # nobody has been elected yet
    assert code(r) == "not_leader"


def test_lost_read_index_times_out(make_group):
    g = make_group(3, read_timeout_ticks=5)
    leader = g.leader()
    follower = next(i for i in g.ids if i != leader)
    g.isolated.add(follower)  # its READ_INDEX never reaches the leader
    rid = g.submit(follower, get("a"))
    g.wait(lambda: rid in g.results, ticks=10, what="read timeout")
    assert code(g.results[rid]) == "timeout"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\xc1garbage", id="not-msgpack"),
        pytest.param(msgpack.packb({"id": [1], "cmd": {}}), id="unhashable-id"),
        pytest.param(msgpack.packb({"id": "x", "cmd": ["put"]}), id="command-not-a-dict"),
        pytest.param(msgpack.packb([1, 2]), id="not-a-map"),
    ],
)
def test_corrupt_entries_apply_as_errors_without_crashing(make_group, data):
    g = make_group(1)
    leader = g.leader()
    m = g.members[leader]
    m.raft.propose(data)
    g.pump()
    assert m.applied_index == m.raft.commit and m.applied_revision == 1
    assert g.call(leader, put("a", b"1"))["revision"] == 2


# ---- snapshots built off the driver's loop ---------------------------------------------------


def test_background_snapshot_is_the_image_at_begin_while_writes_go_on(make_group):
    g = make_group(1, snapshot_every=5, snapshot_keep_entries=0, background_snapshots=True)
    leader = g.leader()
    m = g.members[leader]
    for i in range(6):
        g.call(leader, put(f"k{i}", b"v%d" % i))
    assert m.pop_snapshot() is None and m.raft.first_index == 1  # the driver's job now
    job = m.begin_snapshot()
    assert job is not None and job.index == m.applied_index
    assert m.begin_snapshot() is None  # one at a time
    expected = msgpack.packb([1, m.sm.snapshot_obj(), list(m._results.items())],
                             use_bin_type=True)
    for i in range(4):  # the member keeps serving while the image is packed
        g.call(leader, put(f"k{i}", b"new"))
    data = job.build()
    assert data == expected
    snap = m.finish_snapshot(job, data)
    assert snap is not None and snap.index == job.index and snap.data == data
    assert m.raft.first_index == job.index + 1 and m.snapshot_index == job.index
    g.disks[leader].save(None, snap)
    g.call(leader, put("after", b"x"))
    g.restart(leader)  # recovery: that snapshot plus the entries after it
    g.leader()
    assert g.call(leader, get("k", range_end="l"))["count"] == 6
    assert g.call(leader, get("k0"))["kvs"][0]["value"] == b"new"


def test_background_snapshot_overtaken_by_a_leaders_snapshot_is_dropped(make_group):
    g = make_group(3, snapshot_every=3, snapshot_keep_entries=0, background_snapshots=True)
    leader = g.leader()
    lagger = next(i for i in g.ids if i != leader)
    for i in range(4):
        g.call(leader, put(f"a{i}", b"1"))
    g.wait(lambda: g.members[lagger].applied_index == g.members[leader].applied_index)
    job = g.members[lagger].begin_snapshot()
    assert job is not None
    g.isolated.add(lagger)
    for i in range(10):
        g.call(leader, put(f"b{i}", b"2"))
    lead = g.members[leader]
    g.disks[leader].save(None, lead.finish_snapshot(ljob := lead.begin_snapshot(), ljob.build()))
    g.isolated.discard(lagger)
    m = g.members[lagger]
    g.wait(lambda: m.snapshot_index == ljob.index, what="the leader's snapshot installed")
    assert m.finish_snapshot(job, job.build()) is None
    assert m.raft.snapshot().index == ljob.index and m.begin_snapshot() is None


def test_snapshot_offset_delays_only_the_first_snapshot(make_group):
    g = make_group(1, snapshot_every=4, snapshot_offset=3)
    leader = g.leader()
    m = g.members[leader]
    taken = []
    for i in range(12):
        g.call(leader, put(f"k{i % 2}", b"v"))  # fewer keys than snapshot_every
        taken.append(m.snapshot_index)
    first = next(x for x in taken if x)
    assert first >= 7 and sorted(set(taken) - {0}) == [first, first + 4]


def test_a_store_with_more_keys_than_snapshot_every_snapshots_once_per_key_count(make_group):
    """Packing a snapshot costs in proportion to the keys: a store of 20 keys with
    snapshot_every=4 takes one every 20 entries, not every 4."""
    g = make_group(1, snapshot_every=4)
    leader = g.leader()
    m = g.members[leader]
    for i in range(20):
        g.call(leader, put(f"k{i}", b"v"))
    taken = []
    for i in range(80):
        g.call(leader, put(f"k{i % 20}", b"again"))
        taken.append(m.snapshot_index)
    indexes = sorted(set(taken))
    gaps = [b - a for a, b in zip(indexes, indexes[1:])]
    assert len(gaps) >= 2 and all(gap >= 20 for gap in gaps)
