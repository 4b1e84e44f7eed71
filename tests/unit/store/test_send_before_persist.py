"""The replica's rule for sending a Ready before persisting it: leaders only, and only when the
Ready promises nothing that needs this member's disk (Raft thesis 10.2.1)."""

from __future__ import annotations

import pytest

from kubemu.actors.store_replica import may_send_before_persisting
from kubemu.cluster.raft.messages import Entry, HardState, Ready, Snapshot, SoftState, StateType

DURABLE = HardState(term=4, vote=1, commit=10)
LEADER, FOLLOWER = SoftState(1, StateType.LEADER), SoftState(1, StateType.FOLLOWER)
ENTRIES = [Entry(4, 11, b"x")]


@pytest.mark.parametrize(
    ("rd", "pending_fsync", "send_first"),
    [
        pytest.param(Ready(LEADER, entries=ENTRIES), False, True, id="leader-appends"),
        pytest.param(Ready(LEADER, HardState(4, 1, 11), ENTRIES), False, True,
                     id="leader-appends-and-moves-commit"),
        pytest.param(Ready(LEADER, HardState(5, 1, 10), ENTRIES), False, False,
                     id="leader-ready-with-a-new-term"),
        pytest.param(Ready(LEADER, HardState(4, 2, 10)), False, False,
                     id="leader-ready-with-a-new-vote"),
        pytest.param(Ready(LEADER, snapshot=Snapshot(9, 4, (1, 2, 3), b"")), False, False,
                     id="leader-ready-installing-a-snapshot"),
        pytest.param(Ready(LEADER, entries=ENTRIES), True, False,
                     id="leader-with-an-unsynced-term-on-disk"),
        pytest.param(Ready(FOLLOWER, entries=ENTRIES), False, False, id="follower-acks"),
        pytest.param(Ready(SoftState(0, StateType.CANDIDATE), HardState(5, 1, 10)), False,
                     False, id="candidate-asks-for-votes"),
        pytest.param(Ready(SoftState(0, StateType.PRE_CANDIDATE)), False, False,
                     id="pre-candidate"),
    ],
)
def test_only_a_leader_ready_without_term_vote_or_snapshot_is_sent_first(
        rd: Ready, pending_fsync: bool, send_first: bool) -> None:
    assert may_send_before_persisting(rd, DURABLE, pending_fsync=pending_fsync) is send_first
