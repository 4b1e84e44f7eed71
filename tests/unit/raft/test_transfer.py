"""Leadership transfer: TIMEOUT_NOW once the target caught up; proposals wait meanwhile."""

import pytest

from kubemu.cluster.raft.core import NotLeaderError
from kubemu.cluster.raft.messages import MsgType, StateType

from .network import Network


def test_leadership_moves_to_an_up_to_date_target():
    net = Network(3, seed=6)
    net.elect(1)
    net.propose(b"a")
    term = net.core(1).term
    net.core(1).transfer_leadership(3)
    net.stabilize()
    assert net.leader() == 3 and net.core(3).term == term + 1
    assert any(m.type == MsgType.TIMEOUT_NOW and m.to == 3 for m in net.delivered)
    net.propose(b"b")
    assert all(net.data_applied(i) == [b"a", b"b"] for i in net.ids)


def test_transfer_to_a_lagging_target_catches_it_up_first():
    net = Network(3, seed=6)
    net.elect(1)
    net.cut(1, 3)
    for k in range(5):
        net.propose(b"%d" % k)
    net.heal()
    net.core(1).transfer_leadership(3)
    with pytest.raises(NotLeaderError) as err:
        net.core(1).propose(b"refused")  # no new writes while handing over
    assert err.value.leader == 3
    net.stabilize()
    assert net.leader() == 3
    assert net.data_applied(3) == [b"%d" % k for k in range(5)]


def test_transfer_that_cannot_finish_is_abandoned_after_an_election_timeout():
    net = Network(3, seed=6, election_tick=10)
    net.elect(1)
    net.isolate(3)
    net.core(1).transfer_leadership(3)
    net.tick(10)
    leader = net.core(1)
    assert leader.state == StateType.LEADER and leader.lead_transferee == 0
    leader.propose(b"accepted again")


def test_transfer_on_a_follower_raises_not_leader():
    net = Network(3, seed=6)
    net.elect(1)
    with pytest.raises(NotLeaderError):
        net.core(2).transfer_leadership(3)
