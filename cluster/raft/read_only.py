"""ReadIndex bookkeeping on a leader: pending linearizable reads awaiting a heartbeat quorum.

Each request (from this member or forwarded by a follower) records the commit index at arrival
and gets a sequence number; heartbeats carry the latest pending sequence number as their
context and followers echo it. An echo of `seq` from a peer proves it still followed us after
every request numbered <= seq arrived, so once a majority (ourselves included) echoed a number
>= seq, all requests up to seq are confirmed and released in arrival order.

Sequence numbers are the wire context, so callers' contexts may repeat or collide freely.
Invariant: released requests leave in arrival order; nothing is released without a quorum.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from kubemu.cluster.raft.messages import NodeId
from kubemu.cluster.raft.quorum import committed_index

__all__ = ["ReadOnly", "ReadRequest"]


@dataclass(slots=True)
class ReadRequest:
    seq: int
    index: int  # the leader's commit index when the request arrived
    context: bytes  # the requester's context, returned with the ReadState
    requester: NodeId


class ReadOnly:
    __slots__ = ("_queue", "_acked", "_next_seq")

    def __init__(self) -> None:
        self._queue: deque[ReadRequest] = deque()
        self._acked: dict[NodeId, int] = {}
        self._next_seq = 1

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, index: int, context: bytes, requester: NodeId) -> bytes:
        """Queue a request; returns the heartbeat context that confirms it."""
        seq = self._next_seq
        self._next_seq += 1
        self._queue.append(ReadRequest(seq, index, context, requester))
        return _encode(seq)

    def last_context(self) -> bytes:
        """The context for a periodic heartbeat: the newest pending request, or nothing."""
        return _encode(self._queue[-1].seq) if self._queue else b""

    def ack(self, peer: NodeId, context: bytes, voters: tuple[NodeId, ...],
            self_id: NodeId) -> list[ReadRequest]:
        """A peer echoed `context`; returns the requests a majority has now confirmed."""
        if not self._queue or len(context) != 8:
            return []
        seq = int.from_bytes(context, "big")
        if seq > self._acked.get(peer, 0):
            self._acked[peer] = seq
        newest = self._queue[-1].seq
        confirmed = committed_index(
            newest if v == self_id else self._acked.get(v, 0) for v in voters)
        released: list[ReadRequest] = []
        q = self._queue
        while q and q[0].seq <= confirmed:
            released.append(q.popleft())
        return released

    def reset(self) -> None:
        self._queue.clear()
        self._acked.clear()


def _encode(seq: int) -> bytes:
    return seq.to_bytes(8, "big")
