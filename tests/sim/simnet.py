"""SimNet: the seeded, lossy network between simulated Raft members.

Every message crosses as bytes: `Message.to_wire()` packed with msgpack, unpacked and rebuilt
with `Message.from_wire` at delivery, so an encoding bug shows up here and not first on Ray.
All randomness comes from one `random.Random` derived from the run's seed, so a seed replays
the same drops, delays, duplicates and reorderings. Faults:

- drop: a message is lost with probability `drop_rate`;
- delay: each copy is delivered `1..max_delay` steps after it was sent (so messages reorder);
- reorder: with probability `reorder_rate` a copy gets an extra, longer delay;
- duplicate: with probability `dup_rate` a second, independently delayed copy is sent;
- partitions: nodes in different groups cannot talk (checked when sent and when delivered, so
  a partition also eats messages in flight); `cut` breaks single links (a non-transitive
  partition: a and b cannot talk but both reach c); `heal` reconnects everyone;
- down nodes: a message to a node that is down when it arrives is lost.

Invariant: a message is delivered at most once per copy, never before the step after it was
sent, and never across a partition that is in force at delivery time.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable
from dataclasses import dataclass

import msgpack

from kubemu.cluster.raft.messages import Message, NodeId


@dataclass(slots=True)
class NetFaults:
    """Per-message fault probabilities and the delay range, in steps."""

    drop_rate: float = 0.0
    dup_rate: float = 0.0
    reorder_rate: float = 0.0
    max_delay: int = 1
    reorder_delay: int = 8


@dataclass(slots=True)
class NetStats:
    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    duplicated: int = 0
    partitioned: int = 0


class SimNet:
    """Queues packed messages by delivery step; `deliver(step)` returns those that are due."""

    def __init__(self, nodes: Iterable[NodeId], *, rng: random.Random,
                 faults: NetFaults | None = None) -> None:
        self.nodes = tuple(nodes)
        self.faults = faults or NetFaults()
        self.stats = NetStats()
        self._rng = rng
        self._group: dict[NodeId, int] = {n: 0 for n in self.nodes}
        self._down: set[NodeId] = set()
        self._cuts: set[frozenset[NodeId]] = set()
        self._queue: list[tuple[int, int, NodeId, NodeId, bytes]] = []
        self._seq = 0

    # -- topology -------------------------------------------------------------------------------

    def partition(self, groups: Iterable[Iterable[NodeId]]) -> None:
        """Split the nodes into groups; a node not named forms a group of its own."""
        self._group = {}
        for i, group in enumerate(groups):
            for node in group:
                self._group[node] = i
        nxt = len(self._group) + 1000
        for node in self.nodes:
            if node not in self._group:
                self._group[node] = nxt
                nxt += 1

    def isolate(self, node: NodeId) -> None:
        self.partition([[n for n in self.nodes if n != node]])

    def cut(self, a: NodeId, b: NodeId) -> None:
        """Break the link between `a` and `b` (both ways), leaving other links alone."""
        self._cuts.add(frozenset((a, b)))

    def heal(self) -> None:
        self._group = {n: 0 for n in self.nodes}
        self._cuts.clear()

    def groups(self) -> list[list[NodeId]]:
        by_group: dict[int, list[NodeId]] = {}
        for node in self.nodes:
            by_group.setdefault(self._group[node], []).append(node)
        return sorted(by_group.values())

    def connected(self, a: NodeId, b: NodeId) -> bool:
        return self._group[a] == self._group[b] and (
            not self._cuts or frozenset((a, b)) not in self._cuts)

    def set_down(self, node: NodeId, down: bool) -> None:
        if down:
            self._down.add(node)
        else:
            self._down.discard(node)

    def cuts(self) -> list[tuple[NodeId, NodeId]]:
        return sorted(tuple(sorted(c)) for c in self._cuts)

    @property
    def healed(self) -> bool:
        return len(set(self._group.values())) == 1 and not self._cuts

    # -- traffic --------------------------------------------------------------------------------

    def send(self, msg: Message, *, step: int) -> None:
        self.stats.sent += 1
        if msg.to not in self._group or msg.frm not in self._group:
            raise ValueError(f"message between unknown nodes: {msg.frm} -> {msg.to}")
        if not self.connected(msg.frm, msg.to):
            self.stats.partitioned += 1
            return
        f = self.faults
        rng = self._rng
        if f.drop_rate and rng.random() < f.drop_rate:
            self.stats.dropped += 1
            return
        packed = msgpack.packb(msg.to_wire(), use_bin_type=True)
        copies = 1
        if f.dup_rate and rng.random() < f.dup_rate:
            copies = 2
            self.stats.duplicated += 1
        for _ in range(copies):
            delay = rng.randint(1, max(1, f.max_delay))
            if f.reorder_rate and rng.random() < f.reorder_rate:
                delay += rng.randint(1, max(1, f.reorder_delay))
            self._seq += 1
            heapq.heappush(self._queue, (step + delay, self._seq, msg.frm, msg.to, packed))

    def deliver(self, step: int) -> list[Message]:
        """Messages due at or before `step`, in arrival order, rebuilt from their wire form."""
        out: list[Message] = []
        queue = self._queue
        while queue and queue[0][0] <= step:
            _, _, frm, to, packed = heapq.heappop(queue)
            if to in self._down:
                self.stats.dropped += 1
                continue
            if not self.connected(frm, to):
                self.stats.partitioned += 1
                continue
            self.stats.delivered += 1
            out.append(Message.from_wire(msgpack.unpackb(packed, raw=False)))
        return out

    def in_flight(self) -> int:
        return len(self._queue)
