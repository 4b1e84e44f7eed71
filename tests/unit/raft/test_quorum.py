"""Majority arithmetic: commit index over match indexes, and election tallies."""

import pytest

from kubemu.cluster.raft.quorum import VoteResult, committed_index, has_quorum, vote_result


@pytest.mark.parametrize("matches, expected", [
    pytest.param([7], 7, id="one-voter"),
    pytest.param([5, 3, 9], 5, id="three-voters-median"),
    pytest.param([5, 0, 0], 0, id="three-voters-only-self"),
    pytest.param([4, 4, 1, 1], 1, id="four-voters-needs-three"),
    pytest.param([10, 8, 6, 2, 0], 6, id="five-voters-third-largest"),
    pytest.param([], 0, id="no-voters"),
])
def test_committed_index_is_the_largest_index_a_majority_holds(matches, expected):
    assert committed_index(matches) == expected


@pytest.mark.parametrize("votes, voters, expected", [
    pytest.param({1: True}, (1,), VoteResult.WON, id="single-self-vote-wins"),
    pytest.param({1: True}, (1, 2, 3), VoteResult.PENDING, id="three-one-grant-pending"),
    pytest.param({1: True, 2: True}, (1, 2, 3), VoteResult.WON, id="three-two-grants-win"),
    pytest.param({1: True, 2: False, 3: False}, (1, 2, 3), VoteResult.LOST, id="three-two-rejects"),
    pytest.param({1: True, 2: False, 3: False}, (1, 2, 3, 4, 5), VoteResult.PENDING,
                 id="five-two-rejects-still-open"),
    pytest.param({1: True, 2: False, 3: False, 4: False}, (1, 2, 3, 4, 5), VoteResult.LOST,
                 id="five-three-rejects-lost"),
    pytest.param({1: True, 9: True}, (1, 2, 3), VoteResult.PENDING, id="non-voter-ignored"),
])
def test_vote_result_tallies_grants_and_rejections(votes, voters, expected):
    assert vote_result(votes, voters) is expected


@pytest.mark.parametrize("ids, voters, expected", [
    pytest.param([1, 2], (1, 2, 3), True, id="two-of-three"),
    pytest.param([1], (1, 2, 3), False, id="one-of-three"),
    pytest.param([1, 1, 1], (1, 2, 3), False, id="duplicates-count-once"),
    pytest.param([1, 2, 3], (1, 2, 3, 4, 5), True, id="three-of-five"),
])
def test_has_quorum_counts_distinct_voters(ids, voters, expected):
    assert has_quorum(ids, voters) is expected
