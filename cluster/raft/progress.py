"""Progress: the leader's view of one peer's log, and how fast it may send to it.

As etcd-io/raft's tracker: `match` is the highest index known to be on the peer, `next` the next
index to send. A peer is in one of three states:
- PROBE: we do not know where its log matches ours; send one APPEND at a time (paused until an
  answer or a heartbeat response), backing off with the peer's reject hint.
- REPLICATE: the log matches up to `match`; send optimistically (pipelining), advancing `next`
  on send, bounded by `max_inflight` unacknowledged APPENDs (`Inflights`).
- SNAPSHOT: the entries it needs are compacted; a SNAPSHOT message is on its way. Nothing else
  is sent until the peer answers, or `snapshot_ticks` says the snapshot was probably lost.

Invariants: match < next; match never decreases; inflights hold increasing last indices.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

__all__ = ["Inflights", "Progress", "ProgressState"]


class ProgressState(enum.IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


class Inflights:
    """The last index of each unacknowledged APPEND sent in REPLICATE state, oldest first."""

    __slots__ = ("_q", "capacity")

    def __init__(self, capacity: int) -> None:
        self._q: deque[int] = deque()
        self.capacity = capacity

    def __len__(self) -> int:
        return len(self._q)

    def add(self, last_index: int) -> None:
        self._q.append(last_index)

    def full(self) -> bool:
        return len(self._q) >= self.capacity

    def free_le(self, index: int) -> None:
        """Forget every APPEND whose entries are all at or below the acknowledged `index`."""
        q = self._q
        while q and q[0] <= index:
            q.popleft()

    def free_first_one(self) -> None:
        if self._q:
            self._q.popleft()

    def reset(self) -> None:
        self._q.clear()


@dataclass(slots=True)
class Progress:
    match: int = 0
    next: int = 1
    state: ProgressState = ProgressState.PROBE
    probe_sent: bool = False  # PROBE: an APPEND is out; wait for its answer or a heartbeat resp
    pending_snapshot: int = 0  # SNAPSHOT: the index of the snapshot being sent
    snapshot_ticks: int = 0  # SNAPSHOT: leader ticks since it was sent
    recent_active: bool = False  # heard from since the last check-quorum round
    sent_commit: int = 0  # highest commit index sent in an APPEND
    inflights: Inflights = field(default_factory=lambda: Inflights(64))

    def become_probe(self) -> None:
        if self.state == ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self._reset_state(ProgressState.PROBE)

    def become_replicate(self) -> None:
        self.next = self.match + 1
        self._reset_state(ProgressState.REPLICATE)

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def _reset_state(self, state: ProgressState) -> None:
        self.state = state
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_ticks = 0
        self.inflights.reset()

    def maybe_update(self, index: int) -> bool:
        """An acknowledgement that the peer holds our log up to `index`; False if stale."""
        updated = False
        if self.match < index:
            self.match = index
            self.probe_sent = False
            updated = True
        if self.next < index + 1:
            self.next = index + 1
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """The peer rejected the APPEND after `rejected`; False if that rejection is stale."""
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        state = self.state
        if state == ProgressState.REPLICATE:
            return self.inflights.full()
        if state == ProgressState.PROBE:
            return self.probe_sent
        return True

    def sent_entries(self, last_index: int) -> None:
        """An APPEND carrying entries up to `last_index` went out."""
        if self.state == ProgressState.REPLICATE:
            self.next = last_index + 1
            self.inflights.add(last_index)
        elif self.state == ProgressState.PROBE:
            self.probe_sent = True

    def to_dict(self) -> dict:
        return {
            "match": self.match, "next": self.next, "state": self.state.name,
            "inflight": len(self.inflights), "recent_active": self.recent_active,
            "pending_snapshot": self.pending_snapshot,
        }
