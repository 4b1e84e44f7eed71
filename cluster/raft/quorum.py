"""Majority quorum arithmetic: the commit index a majority holds, and election tallies.

One voter set (no joint consensus: kubemu's groups have fixed membership). A majority of n
voters is n // 2 + 1; the committed index is the largest index at least a majority have, i.e.
the majority-th largest match.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping

from kubemu.cluster.raft.messages import NodeId

__all__ = ["VoteResult", "committed_index", "has_quorum", "majority", "vote_result"]


class VoteResult(enum.Enum):
    PENDING = 0
    WON = 1
    LOST = 2


def majority(n: int) -> int:
    return n // 2 + 1


def committed_index(matches: Iterable[int]) -> int:
    """The largest index held by a majority of the voters whose match indexes are given."""
    ordered = sorted(matches, reverse=True)
    if not ordered:
        return 0
    return ordered[len(ordered) // 2]


def vote_result(votes: Mapping[NodeId, bool], voters: Collection[NodeId]) -> VoteResult:
    """WON once a majority granted, LOST once a majority can no longer grant."""
    granted = rejected = 0
    for v in voters:
        answer = votes.get(v)
        if answer is True:
            granted += 1
        elif answer is False:
            rejected += 1
    q = majority(len(voters))
    if granted >= q:
        return VoteResult.WON
    if len(voters) - rejected < q:
        return VoteResult.LOST
    return VoteResult.PENDING


def has_quorum(ids: Iterable[NodeId], voters: Collection[NodeId]) -> bool:
    """Whether `ids` include a majority of `voters`."""
    members = set(voters)
    return sum(1 for i in set(ids) if i in members) >= majority(len(members))
