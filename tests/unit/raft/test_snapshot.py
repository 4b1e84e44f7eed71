"""Snapshots and restarts: compaction, InstallSnapshot for laggards, recovery from disk."""

import random

import pytest

from kubemu.cluster.raft.core import RaftCore
from kubemu.cluster.raft.messages import Entry, HardState, Message, MsgType, Snapshot

from .network import Network


def lagging_network(**options) -> Network:
    """Leader 1 wrote 30 entries while 3 was cut off, then compacted its log."""
    net = Network(3, seed=21, **options)
    net.elect(1)
    net.isolate(3)
    for k in range(30):
        net.propose(b"w%d" % k)
    net.compact(1)
    net.compact(2)
    return net


def snapshots_to(net: Network, member: int) -> list[Message]:
    return [m for m in net.delivered if m.type == MsgType.SNAPSHOT and m.to == member]


def test_lagging_follower_catches_up_via_snapshot_after_compaction():
    net = lagging_network()
    assert net.core(1).first_index > 2
    net.heal()
    net.tick_until(lambda: net.core(3).commit == net.core(1).commit, max_ticks=30)
    assert len(snapshots_to(net, 3)) == 1
    assert net.data_applied(3) == [b"w%d" % k for k in range(30)]
    net.propose(b"after")
    assert net.data_applied(3)[-1] == b"after"
    assert net.disks[3].snapshot is not None  # the driver persisted the installed snapshot


class OnDisk:
    """A driver's stand-in for a snapshot image it keeps on disk: counts the reads."""

    def __init__(self, data: bytes) -> None:
        self.data, self.reads = data, 0

    def __bytes__(self) -> bytes:
        self.reads += 1
        return self.data


def test_leader_holding_its_snapshot_on_disk_reads_it_back_to_catch_a_follower_up():
    net = lagging_network()
    leader = net.core(1)
    snap = leader.snapshot()
    image = OnDisk(bytes(snap.data))
    assert leader.offload_snapshot(snap.index, image)
    assert leader.snapshot().data is image and image.reads == 0
    assert not leader.offload_snapshot(snap.index - 1, OnDisk(b"older"))  # not the latest
    net.heal()
    net.mangle = lambda m: Message.from_wire(m.to_wire())  # what a driver sends
    net.tick_until(lambda: net.core(3).commit == net.core(1).commit, max_ticks=30)
    assert image.reads == len(snapshots_to(net, 3)) == 1
    assert net.data_applied(3) == [b"w%d" % k for k in range(30)]


def test_compaction_keeping_recent_entries_spares_a_slightly_lagging_follower_a_snapshot():
    net = Network(3, seed=21)
    net.elect(1)
    net.isolate(3)
    for k in range(5):
        net.propose(b"w%d" % k)
    net.compact(1, keep_entries=10)
    net.heal()
    net.tick_until(lambda: net.core(3).commit == net.core(1).commit, max_ticks=30)
    assert snapshots_to(net, 3) == []


def test_lost_snapshot_is_sent_again_after_the_snapshot_timeout():
    net = lagging_network(snapshot_timeout_tick=15)
    net.heal()
    net.drop_if = lambda m: m.type == MsgType.SNAPSHOT
    net.tick(3)
    net.drop_if = None
    assert net.core(3).commit < net.core(1).commit
    net.tick_until(lambda: net.core(3).commit == net.core(1).commit, max_ticks=40)
    assert len(snapshots_to(net, 3)) == 1


@pytest.mark.parametrize("snap_index, snap_term, expect_install, expect_commit", [
    pytest.param(3, 1, False, 5, id="already-committed-ignored"),
    pytest.param(6, 1, False, 6, id="held-entry-fast-forwards-commit"),
    pytest.param(6, 2, True, 6, id="conflicting-entry-installs"),
    pytest.param(20, 2, True, 20, id="beyond-the-log-installs"),
])
def test_follower_installs_a_snapshot_only_when_it_is_news(snap_index, snap_term, expect_install,
                                                          expect_commit):
    core = RaftCore(2, (1, 2, 3), rng=random.Random(0),
                    entries=[Entry(1, i) for i in range(1, 9)],
                    hard_state=HardState(term=2, commit=5))
    snap = Snapshot(snap_index, snap_term, (1, 2, 3), b"image")
    core.step(Message(MsgType.SNAPSHOT, 1, 2, term=2, snapshot=snap))
    rd = core.ready()
    assert (rd.snapshot is not None) is expect_install
    [resp] = rd.messages
    assert resp.type == MsgType.APPEND_RESP and resp.index == expect_commit
    core.advance(rd)
    assert core.commit == expect_commit
    if expect_install:
        assert core.applied == snap_index and core.first_index == snap_index + 1


def test_restart_from_persisted_state_keeps_term_vote_and_log():
    net = Network(3, seed=4)
    net.elect(1)
    for k in range(10):
        net.propose(b"v%d" % k)
    before = net.core(2)
    term, vote, last, commit = before.term, before.vote, before.last_index, before.commit
    net.crash(2)
    net.restart(2)
    after = net.core(2)
    assert (after.term, after.vote, after.last_index) == (term, vote, last)
    assert after.commit == commit and after.applied == 0  # re-applies from the log
    net.stabilize()
    assert net.data_applied(2) == [b"v%d" % k for k in range(10)]


def test_restart_from_snapshot_and_entries_resumes_after_the_snapshot():
    net = Network(3, seed=4)
    net.elect(1)
    for k in range(5):
        net.propose(b"a%d" % k)
    snap_index = net.compact(2)
    for k in range(5):
        net.propose(b"b%d" % k)
    net.crash(2)
    net.restart(2)
    core = net.core(2)
    assert core.first_index == snap_index + 1 and core.applied == snap_index
    net.stabilize()
    assert net.data_applied(2) == [b"a%d" % k for k in range(5)] + [b"b%d" % k for k in range(5)]


def test_compacting_beyond_the_commit_index_is_refused():
    net = Network(1)
    net.tick_until(lambda: net.leaders() == [1], max_ticks=25)
    core = net.core(1)
    with pytest.raises(ValueError, match="committed"):
        core.compact(core.commit + 1, b"")
