"""Log replication: commit rules, batching, pipelining, backtracking, conflict truncation."""

import random

from kubemu.cluster.raft.core import RaftCore
from kubemu.cluster.raft.messages import (
    Entry, HardState, Message, MsgType, StateType,
)

from .network import Disk, Network


def elected(n: int = 3, leader: int = 1, **options) -> Network:
    net = Network(n, seed=11, **options)
    net.elect(leader)
    return net


def appends(msgs: list[Message], to: int | None = None) -> list[Message]:
    return [m for m in msgs if m.type == MsgType.APPEND and (to is None or m.to == to)]


def test_proposals_commit_on_a_majority_and_apply_everywhere_in_order():
    net = elected(3)
    net.cut(1, 3)
    indexes = [net.propose(b"v%d" % k) for k in range(20)]
    assert net.core(1).commit == indexes[-1]  # leader + member 2 are a majority
    assert net.data_applied(3) == []
    net.heal()
    net.tick(2)
    for i in net.ids:
        assert net.data_applied(i) == [b"v%d" % k for k in range(20)]


def test_appends_are_batched_by_entry_count_and_bytes():
    net = elected(3, max_entries_per_msg=8, max_bytes_per_msg=100)
    leader = net.core(1)
    for k in range(40):
        leader.propose(b"x" * 30 if k % 2 else b"y")
    net.delivered.clear()
    net.stabilize()
    batches = [m.entries for m in appends(net.delivered) if m.entries]
    assert all(len(b) <= 8 for b in batches)
    assert all(sum(len(e.data) for e in b) <= 100 for b in batches)
    assert sum(len(b) for b in batches) == 2 * 40  # each entry sent once per follower
    assert net.data_applied(2)[-1] == b"x" * 30


def test_replicating_follower_is_sent_a_pipeline_bounded_by_max_inflight():
    net = elected(3, max_entries_per_msg=1, max_inflight=4)
    leader = net.core(1)
    for k in range(10):
        leader.propose(b"%d" % k)
    rd = leader.ready()
    assert len(appends(rd.messages, to=2)) == 4  # sent without waiting for any ack
    leader.advance(rd)
    assert appends(leader.ready().messages, to=2) == []


def test_probing_follower_gets_one_append_at_a_time():
    net = Network(3, seed=11)
    net.cut(1, 3)
    net.elect(1)  # the first probe to 3 is lost: 3 stays in PROBE, paused
    net.tick(1)  # and no heartbeat response comes back to unpause it
    leader = net.core(1)
    leader.propose(b"a")
    leader.propose(b"b")
    assert appends(leader.ready().messages, to=3) == []


def test_heartbeat_carries_commit_capped_at_the_followers_match():
    net = elected(3)
    net.cut(1, 3)
    index = net.propose(b"a")
    leader = net.core(1)
    leader.tick()
    beats = {m.to: m.commit for m in leader.ready().messages if m.type == MsgType.HEARTBEAT}
    assert beats[2] == index and beats[3] == 1 < index  # 3 only holds the EMPTY entry


def test_leader_counts_its_own_entry_only_after_advance_reports_it_persisted():
    net = elected(3)
    leader = net.core(1)
    index = leader.propose(b"a")
    rd = leader.ready()
    leader.step(Message(MsgType.APPEND_RESP, 2, 1, term=leader.term, index=index))
    assert leader.commit < index  # 2 holds it, the leader has not persisted it yet
    leader.advance(rd)
    assert leader.commit == index


def test_follower_conflicting_uncommitted_suffix_is_truncated_and_replaced():
    net = elected(3)
    net.isolate(1)
    stale = [net.core(1).propose(b"stale%d" % k) for k in range(5)]
    net.stabilize()
    net.tick_until(lambda: any(net.core(i).state == StateType.LEADER for i in (2, 3)))
    new_leader = next(i for i in (2, 3) if net.core(i).state == StateType.LEADER)
    fresh = [net.propose(b"fresh%d" % k, at=new_leader) for k in range(3)]
    net.heal()
    net.tick_until(lambda: net.core(1).leader == new_leader and net.core(1).commit == fresh[-1])
    log = net.core(1).log
    assert [log.term(i) for i in stale] == [net.core(new_leader).log.term(i) for i in stale]
    assert net.data_applied(1) == [b"fresh0", b"fresh1", b"fresh2"]


def test_old_term_entry_is_not_committed_by_counting_replicas():
    entries = [Entry(1, 1), Entry(2, 2), Entry(2, 3)]
    core = RaftCore(1, (1, 2, 3), rng=random.Random(0), entries=entries,
                    hard_state=HardState(term=2, commit=1))
    core.campaign(force=True)
    core.step(Message(MsgType.VOTE_RESP, 2, 1, term=3))
    assert core.state == StateType.LEADER and core.last_index == 4  # its EMPTY entry
    rd = core.ready()
    core.step(Message(MsgType.APPEND_RESP, 2, 1, term=3, index=3))
    core.advance(rd)
    assert core.commit == 1  # entry 3 (term 2) is on a majority, but that is not enough
    core.step(Message(MsgType.APPEND_RESP, 2, 1, term=3, index=4))
    assert core.commit == 4  # a current-term entry commits, and everything before it


def test_figure_8_old_term_entry_on_a_majority_is_overwritten_not_committed():
    net = Network(5, seed=8, pre_vote=False, check_quorum=False)
    net.elect(1)
    net.propose(b"a")  # index 2, committed everywhere
    net.drop_if = lambda m: m.frm == 1 and m.to in (3, 4, 5)
    old = net.propose(b"old", at=1)  # index 3, term 1: only on 1 and 2
    net.heal()
    net.isolate(1)
    net.drop_if = lambda m: m.frm == 5 and m.type == MsgType.APPEND
    net.elect(5)  # votes from 3 and 4; its EMPTY entry (index 3, term 2) stays local
    net.isolate(5)
    net.crash(1)
    net.restart(1)
    net.heal()
    net.isolate(5)

    def strip_current(m: Message) -> Message:  # replicate index 3 but never index 4
        if m.type == MsgType.APPEND:
            m = Message(m.type, m.frm, m.to, m.term, m.log_term, m.index,
                        [e for e in m.entries if e.index < 4], m.commit)
        return m

    net.mangle = strip_current
    for _ in range(2):  # term 2 is taken by 5's votes; win term 3
        net.core(1).campaign()
        net.stabilize()
    leader = net.core(1)
    assert leader.state == StateType.LEADER and leader.last_index == 4
    assert [net.core(i).log.term(old) for i in (1, 2, 3, 4)] == [1, 1, 1, 1]
    assert leader.commit == 2  # on 4 of 5 members, still not committed (§5.4.2)
    net.crash(1)
    net.crash(5)
    net.restart(5)
    net.heal()
    for _ in range(2):  # term 3 is taken by 1's votes; win term 4
        net.core(5).campaign()
        net.stabilize()
    assert net.core(5).state == StateType.LEADER  # the safe outcome: 5's entry wins
    net.propose(b"after", at=5)
    for i in (2, 3, 4, 5):
        assert net.core(i).log.term(old) == 2
        assert b"old" not in net.data_applied(i)


def test_fast_backtracking_skips_a_divergent_term_in_few_round_trips():
    common = [Entry(1, i) for i in range(1, 6)]
    disks = {
        1: Disk(HardState(term=3), None, common + [Entry(3, i) for i in range(6, 56)]),
        2: Disk(HardState(term=2), None, common + [Entry(2, i) for i in range(6, 106)]),
        3: Disk(HardState(term=1), None, list(common)),
    }
    net = Network(3, seed=1, disks=disks)
    net.elect(1)
    net.tick(1)
    rejects = [m for m in net.delivered if m.type == MsgType.APPEND_RESP and m.reject
               and m.frm == 2]
    assert 1 <= len(rejects) <= 2
    net.propose(b"z")
    log1, log2 = net.core(1).log, net.core(2).log
    assert [log2.term(i) for i in range(1, log1.last_index + 1)] == \
        [log1.term(i) for i in range(1, log1.last_index + 1)]
    assert log2.last_index == log1.last_index


def test_duplicated_and_reordered_messages_do_not_break_replication():
    net = elected(3)
    net.chaos.dup = 0.5
    net.chaos.reorder = True
    for k in range(30):
        net.core(1).propose(b"%d" % k)
        net.stabilize()
    net.chaos.dup, net.chaos.reorder = 0.0, False
    net.tick(3)
    for i in net.ids:
        assert net.data_applied(i) == [b"%d" % k for k in range(30)]
