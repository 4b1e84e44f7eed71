"""ReadIndex: linearizable reads confirmed by a heartbeat quorum, on leaders and followers."""

import random

import pytest

from kubemu.cluster.raft.core import NotLeaderError, RaftCore
from kubemu.cluster.raft.messages import MsgType, ReadState

from .network import Network


@pytest.mark.parametrize("reader", [pytest.param(1, id="on-leader"),
                                    pytest.param(2, id="on-follower")])
def test_read_index_returns_a_read_state_at_or_after_the_last_write(reader):
    net = Network(3, seed=2)
    net.elect(1)
    written = [net.propose(b"w%d" % k) for k in range(5)][-1]
    net.core(reader).read_index(b"ctx")
    net.stabilize()
    [rs] = net.read_states[reader]
    assert rs.context == b"ctx" and rs.index >= written
    assert net.core(reader).applied >= rs.index  # the harness applied up to it meanwhile


def test_read_index_is_not_answered_without_a_heartbeat_quorum():
    net = Network(3, seed=2)
    net.elect(1)
    net.isolate(1)
    net.core(1).read_index(b"ctx")
    net.tick(5)
    assert net.read_states[1] == []


def test_reads_complete_in_order_once_one_heartbeat_round_confirms_them():
    net = Network(3, seed=2)
    net.elect(1)
    net.drop_if = lambda m: m.type == MsgType.HEARTBEAT_RESP
    for ctx in (b"a", b"b", b"c"):
        net.core(1).read_index(ctx)
    net.stabilize()
    assert net.read_states[1] == []
    net.drop_if = None
    net.tick(1)  # the periodic heartbeat carries the newest pending read
    assert [rs.context for rs in net.read_states[1]] == [b"a", b"b", b"c"]


def test_new_leader_answers_reads_only_after_committing_an_entry_of_its_term():
    net = Network(3, seed=2)
    net.drop_if = lambda m: m.type == MsgType.APPEND_RESP
    net.elect(1)
    assert net.core(1).commit == 0
    net.core(1).read_index(b"early")
    net.stabilize()
    assert net.read_states[1] == []
    net.drop_if = None
    net.tick(1)
    [rs] = net.read_states[1]
    assert rs.context == b"early" and rs.index >= 1


def test_single_member_answers_reads_at_once():
    net = Network(1)
    net.tick_until(lambda: net.leaders() == [1] and net.core(1).commit >= 1, max_ticks=25)
    index = net.core(1).propose(b"x")
    net.stabilize()
    net.core(1).read_index(b"r")
    rd = net.core(1).ready()
    assert rd.read_states == [ReadState(index, b"r")] and rd.messages == []


def test_read_index_without_a_known_leader_raises_not_leader():
    core = RaftCore(2, (1, 2, 3), rng=random.Random(0))
    with pytest.raises(NotLeaderError) as err:
        core.read_index(b"ctx")
    assert err.value.leader == 0


def test_proposal_on_a_follower_raises_not_leader_with_a_hint():
    net = Network(3, seed=2)
    net.elect(1)
    with pytest.raises(NotLeaderError) as err:
        net.core(3).propose(b"x")
    assert err.value.leader == 1


def test_duplicated_read_responses_yield_one_read_state():
    net = Network(3, seed=2)
    net.elect(1)
    net.chaos.dup = 1.0
    net.core(2).read_index(b"once")
    net.stabilize()
    assert [rs.context for rs in net.read_states[2]] == [b"once"]
