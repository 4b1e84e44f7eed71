"""Leader election: randomised timeouts, pre-vote, check-quorum, leader stickiness, votes."""

import random

import pytest

from kubemu.cluster.raft.core import RaftCore
from kubemu.cluster.raft.messages import Entry, HardState, Message, MsgType, StateType

from .network import Network


def drain(core: RaftCore) -> list[Message]:
    rd = core.ready()
    core.advance(rd)
    return rd.messages


@pytest.mark.parametrize("members", [pytest.param(3, id="three"), pytest.param(5, id="five")])
@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in range(4)])
def test_elects_exactly_one_leader_that_stays(members, seed):
    net = Network(members, seed=seed)
    net.tick_until(lambda: len(net.leaders()) == 1, max_ticks=100, what="a leader")
    leader, term = net.leader(), net.core(net.leader()).term
    net.tick(50)
    assert net.leaders() == [leader]
    assert {net.core(i).term for i in net.ids} == {term}
    assert {net.core(i).leader for i in net.ids} == {leader}


def test_election_timeout_is_randomised_between_one_and_two_election_ticks():
    waits = set()
    for seed in range(40):
        core = RaftCore(1, (1, 2, 3), rng=random.Random(seed), election_tick=10)
        ticks = 0
        while core.state == StateType.FOLLOWER:
            core.tick()
            ticks += 1
        assert core.state == StateType.PRE_CANDIDATE
        waits.add(ticks)
    assert min(waits) >= 10 and max(waits) < 20 and len(waits) > 3


@pytest.mark.parametrize("pre_vote, term_moves", [
    pytest.param(True, False, id="pre-vote-keeps-the-term"),
    pytest.param(False, True, id="without-pre-vote-the-term-is-disrupted"),
])
def test_partitioned_node_rejoining_disrupts_the_term_only_without_pre_vote(pre_vote, term_moves):
    net = Network(3, seed=7, pre_vote=pre_vote)
    net.tick_until(lambda: len(net.leaders()) == 1)
    leader = net.leader()
    term = net.core(leader).term
    lonely = next(i for i in net.ids if i != leader)
    net.isolate(lonely)
    net.tick(100)
    assert (net.core(lonely).term > term) is term_moves
    net.heal()
    net.tick_until(lambda: len(net.leaders()) == 1 and
                   all(net.core(i).leader == net.leaders()[0] for i in net.ids))
    assert (net.core(net.leader()).term > term) is term_moves
    if not term_moves:
        assert net.leader() == leader


@pytest.mark.parametrize("check_quorum, steps_down", [
    pytest.param(True, True, id="check-quorum-steps-down"),
    pytest.param(False, False, id="no-check-quorum-stays"),
])
def test_leader_cut_off_from_the_quorum_steps_down_with_check_quorum(check_quorum, steps_down):
    net = Network(3, seed=3, check_quorum=check_quorum)
    net.tick_until(lambda: len(net.leaders()) == 1)
    leader = net.leader()
    net.isolate(leader)
    net.tick(2 * 10)
    assert (net.core(leader).state != StateType.LEADER) is steps_down


def test_followers_hearing_from_a_leader_ignore_a_disruptive_campaign():
    net = Network(3, seed=5)
    net.tick_until(lambda: len(net.leaders()) == 1)
    leader = net.leader()
    term = net.core(leader).term
    other = next(i for i in net.ids if i != leader)
    net.core(other).campaign()
    net.stabilize()
    net.tick(3)
    assert net.leader() == leader and net.core(leader).term == term


def test_forced_campaign_overrides_leader_stickiness():
    net = Network(3, seed=5)
    net.tick_until(lambda: len(net.leaders()) == 1)
    leader = net.leader()
    other = next(i for i in net.ids if i != leader)
    net.core(other).campaign(force=True)
    net.stabilize()
    assert net.leader() == other


@pytest.mark.parametrize("voter_log, cand_index, cand_term, granted", [
    pytest.param([1, 1], 2, 1, True, id="equal-logs"),
    pytest.param([1, 1], 5, 1, True, id="longer-same-term"),
    pytest.param([1, 2], 9, 1, False, id="longer-but-older-term"),
    pytest.param([1, 2], 1, 3, True, id="shorter-but-newer-term"),
    pytest.param([1, 1, 1], 2, 1, False, id="shorter-same-term"),
])
def test_vote_is_granted_only_to_an_up_to_date_log(voter_log, cand_index, cand_term, granted):
    entries = [Entry(t, i + 1) for i, t in enumerate(voter_log)]
    core = RaftCore(1, (1, 2, 3), rng=random.Random(0), entries=entries,
                    hard_state=HardState(term=3))
    core.step(Message(MsgType.VOTE, 2, 1, term=4, index=cand_index, log_term=cand_term))
    [resp] = drain(core)
    assert resp.type == MsgType.VOTE_RESP and resp.reject is (not granted)
    assert core.vote == (2 if granted else 0)


def test_vote_survives_a_restart_and_is_not_given_twice_in_a_term():
    core = RaftCore(1, (1, 2, 3), rng=random.Random(0))
    core.step(Message(MsgType.VOTE, 2, 1, term=5))
    rd = core.ready()
    assert rd.hard_state == HardState(term=5, vote=2, commit=0)
    assert not rd.messages[0].reject
    restarted = RaftCore(1, (1, 2, 3), rng=random.Random(1), hard_state=rd.hard_state)
    restarted.step(Message(MsgType.VOTE, 3, 1, term=5))
    [resp] = drain(restarted)
    assert resp.reject and restarted.vote == 2
    restarted.step(Message(MsgType.VOTE, 2, 1, term=5))  # a retry from the same candidate
    [resp] = drain(restarted)
    assert not resp.reject


def test_pre_vote_does_not_change_term_or_vote():
    core = RaftCore(1, (1, 2, 3), rng=random.Random(0), hard_state=HardState(term=2))
    core.step(Message(MsgType.PRE_VOTE, 2, 1, term=3))
    [resp] = drain(core)
    assert resp.type == MsgType.PRE_VOTE_RESP and not resp.reject and resp.term == 3
    assert (core.term, core.vote) == (2, 0)


def test_single_member_group_elects_itself_and_commits_after_its_own_persist():
    core = RaftCore(1, (1,), rng=random.Random(0))
    core.campaign()
    assert core.state == StateType.LEADER and core.term == 1
    index = core.propose(b"x")
    rd = core.ready()
    assert [e.index for e in rd.entries] == [1, index] and rd.committed_entries == []
    assert rd.messages == []
    core.advance(rd)
    rd = core.ready()
    assert [e.data for e in rd.committed_entries] == [b"", b"x"]
    core.advance(rd)
    assert core.applied == index and not core.has_ready()


def test_single_member_elects_itself_by_ticking():
    net = Network(1, seed=0)
    net.tick_until(lambda: net.leaders() == [1], max_ticks=25)
    net.propose(b"a")
    assert net.data_applied(1) == [b"a"]
