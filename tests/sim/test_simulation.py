"""CI for the deterministic simulation: 1200 seeds across 3 and 5 replicas (about a minute).

Each test runs a block of consecutive seeds in a loop (little pytest overhead per seed) and
fails with one line per failing seed: what broke and the command that reproduces it.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from kubemu.cluster.clock import derive_rng
from kubemu.cluster.raft.messages import (
    Entry, EntryType, HardState, Message, MsgType, Ready, Snapshot, SoftState, StateType,
)

from tests.sim.checkers import EventTruth, RaftChecker, WatchRecord, check_watch
from tests.sim.cluster import SimCluster, SimDisk, SimViolation
from tests.sim.scenario import format_failure, run
from tests.sim.simnet import NetFaults, SimNet

BLOCK = 100
BLOCKS = [
    *(pytest.param(3, start, id=f"3-replicas-seeds-{start}-{start + BLOCK - 1}")
      for start in range(0, 700, BLOCK)),
    *(pytest.param(5, start, id=f"5-replicas-seeds-{start}-{start + BLOCK - 1}")
      for start in range(0, 500, BLOCK)),
]


@pytest.mark.parametrize(("replicas", "start"), BLOCKS)
def test_seeded_runs_keep_raft_safety_linearizability_watches_and_liveness(replicas, start):
    failures = []
    for seed in range(start, start + BLOCK):
        result = run(seed, replicas=replicas)
        if not result.ok:
            failures.append(result)
    if failures:
        print(format_failure(failures[0]))  # the first failure in full (shown by pytest)
        lines = [f"{f.summary()}\n    reproduce: {f.reproduce}" for f in failures]
        pytest.fail(f"{len(failures)} of {BLOCK} seeds failed:\n" + "\n".join(lines),
                    pytrace=False)


def test_a_seed_replays_identically():
    first = run(7, replicas=3)
    again = run(7, replicas=3)
    assert (first.ok, first.failure, first.stats, first.trace) == \
        (again.ok, again.failure, again.stats, again.trace)


# -- the harness itself ---------------------------------------------------------------------------


def _heartbeat(frm: int, to: int, commit: int = 0) -> Message:
    return Message(MsgType.HEARTBEAT, frm, to, term=1, commit=commit, context=b"ctx")


def test_simnet_delivers_a_rebuilt_copy_after_at_least_one_step():
    net = SimNet([1, 2], rng=derive_rng(1, "net"))
    sent = Message(MsgType.APPEND, 1, 2, term=3, log_term=2, index=5,
                   entries=[Entry(3, 6, b"data"), Entry(3, 7, b"", EntryType.EMPTY)], commit=4)
    net.send(sent, step=10)
    assert net.deliver(10) == []
    [got] = net.deliver(11)
    assert got == sent and got is not sent


@pytest.mark.parametrize(("cut", "delivered"), [
    pytest.param(lambda net: net.partition([[1, 3], [2]]), [3], id="partition"),
    pytest.param(lambda net: net.cut(1, 2), [3], id="cut-link"),
    pytest.param(lambda net: net.isolate(1), [], id="isolate"),
    pytest.param(lambda net: None, [2, 3], id="healthy"),
])
def test_simnet_partition_blocks_new_and_in_flight_messages(cut, delivered):
    net = SimNet([1, 2, 3], rng=derive_rng(1, "net"))
    net.send(_heartbeat(1, 2), step=0)  # in flight when the partition starts
    cut(net)
    net.send(_heartbeat(1, 3), step=0)
    assert sorted(m.to for m in net.deliver(5)) == delivered
    net.heal()
    net.send(_heartbeat(1, 2), step=5)
    assert [m.to for m in net.deliver(6)] == [2]


def test_simnet_faults_replay_identically_for_a_seed():
    def trace(seed):
        net = SimNet([1, 2], rng=derive_rng(seed, "net"),
                     faults=NetFaults(drop_rate=0.2, dup_rate=0.2, reorder_rate=0.3, max_delay=3))
        out = []
        for step in range(200):
            net.send(_heartbeat(1, 2, commit=step), step=step)
            out.extend((step, m.commit) for m in net.deliver(step))
        return out, net.stats
    first, stats = trace(5)
    assert first == trace(5)[0]
    assert stats.dropped and stats.duplicated
    assert [c for _, c in first] != sorted(c for _, c in first)  # reordered


def test_disk_crash_loses_the_unsynced_tail_but_keeps_a_torn_prefix():
    disk = SimDisk()
    disk.write_ready(Ready(SoftState(0, StateType.FOLLOWER), hard_state=HardState(1, 1, 0),
                           entries=[Entry(1, 1, b"a")]))
    disk.sync()
    disk.write_ready(Ready(SoftState(0, StateType.FOLLOWER), hard_state=HardState(2, 2, 1),
                           entries=[Entry(2, 2, b"b"), Entry(2, 3, b"c")]))
    disk.sync(keep=1)  # the crash kept only the first unsynced write
    rec = disk.recovered()
    assert [e.data for e in rec.entries] == [b"a", b"b"]
    assert rec.hard_state == HardState(1, 1, 0)


def test_disk_truncates_a_conflicting_suffix_and_compacts_under_a_snapshot():
    disk = SimDisk()
    disk.write_ready(Ready(SoftState(0, StateType.FOLLOWER),
                           entries=[Entry(1, i, b"x") for i in range(1, 6)]))
    disk.sync()
    disk.write_ready(Ready(SoftState(0, StateType.FOLLOWER), entries=[Entry(2, 3, b"y")]))
    disk.sync()
    assert [(e.index, e.term) for e in disk.entries] == [(1, 1), (2, 1), (3, 2)]
    disk.write_snapshot(Snapshot(2, 1, (1, 2, 3), b"img"))
    disk.sync()
    assert [e.index for e in disk.recovered().entries] == [3]
    assert disk.term_at(2) == 1


def test_cluster_elects_a_leader_and_replicates_a_write():
    cluster = SimCluster(replicas=3, seed=1)
    results = {}
    cluster.on_completion = lambda node, rid, res: results.setdefault(rid, res)
    for _ in range(100):
        cluster.step()
        if cluster.leaders():
            break
    [leader] = cluster.leaders()
    cluster.members[leader].submit("w1", {"op": "put", "key": "a", "value": b"1"})
    for _ in range(20):
        cluster.step()
    assert results["w1"]["revision"] == 2
    assert {cluster.members[n].applied_revision for n in cluster.ids} == {2}


# -- the checkers on hand-made observations -------------------------------------------------------


def _disks_with(entries_by_node: dict[int, list[Entry]]) -> dict[int, SimDisk]:
    disks = {}
    for node, entries in entries_by_node.items():
        disk = SimDisk()
        disk.write_ready(Ready(SoftState(0, StateType.FOLLOWER), entries=entries))
        disk.sync()
        disks[node] = disk
    return disks


def _applies(checker: RaftChecker, node: int, entries: list[Entry], *, term: int = 1) -> None:
    member = SimpleNamespace(raft=SimpleNamespace(term=term))
    checker.on_ready(node, Ready(SoftState(0, StateType.FOLLOWER), committed_entries=entries),
                     member)


def test_raft_checker_rejects_one_index_and_term_with_two_payloads():
    disks = _disks_with({1: [], 2: []})
    checker = RaftChecker((1, 2, 3), disks=disks)
    checker.on_disk_write(1, disks[1], [(Entry(1, 1, b"a"), 0)])
    with pytest.raises(SimViolation, match="log matching"):
        checker.on_disk_write(2, disks[2], [(Entry(1, 1, b"b"), 0)])


def test_raft_checker_rejects_applying_an_entry_a_quorum_does_not_hold():
    checker = RaftChecker((1, 2, 3), disks=_disks_with({1: [Entry(1, 1, b"a")], 2: [], 3: []}))
    with pytest.raises(SimViolation, match="durability"):
        _applies(checker, 1, [Entry(1, 1, b"a")])


@pytest.mark.parametrize(("second", "message"), [
    pytest.param([Entry(1, 1, b"b")], "state machine safety", id="different-entry-same-index"),
    pytest.param([Entry(1, 2, b"b")], "not in order", id="skips-an-index"),
])
def test_raft_checker_rejects_diverging_or_gapped_application(second, message):
    held = [Entry(1, 1, b"a"), Entry(1, 2, b"b")]
    checker = RaftChecker((1, 2, 3), disks=_disks_with({1: held, 2: held, 3: []}))
    _applies(checker, 1, [Entry(1, 1, b"a")])
    with pytest.raises(SimViolation, match=message):
        _applies(checker, 2, second)


def _truth(*events: tuple) -> EventTruth:
    truth = EventTruth()
    for ev in events:
        truth.events.setdefault(ev[4], []).append(ev)
    return truth


_A2 = ("PUT", "/k/a", b"1", 2, 2, 1)
_B3 = ("PUT", "/k/b", b"2", 3, 3, 1)
_A4 = ("DELETE", "/k/a", b"", 0, 4, 0)


@pytest.mark.parametrize(("seen", "through", "problem"), [
    pytest.param([_A2, _B3, _A4], 4, None, id="exact"),
    pytest.param([_A2, _B3], 3, None, id="complete-so-far"),
    pytest.param([_A2, _A4], 4, "missing", id="gap"),
    pytest.param([_A2, _B3, _B3, _A4], 4, "saw 4 events", id="duplicate"),
    pytest.param([_B3, _A2, _A4], 4, "after", id="out-of-order"),
])
def test_watch_checker_wants_exactly_the_true_events(seen, through, problem):
    record = WatchRecord(1, "/k/", "/k0", 1, list(seen), through)
    result = check_watch(record, _truth(_A2, _B3, _A4))
    if problem is None:
        assert result is None
    else:
        assert problem in result
