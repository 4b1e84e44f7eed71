"""An in-process network of RaftCores for unit tests: drives Readies, routes and drops messages.

Each member has a `Disk` (what the driver persisted, with WAL truncation semantics) and a state
machine that records applied entries. The network handles every Ready in the contract order
(persist -> send -> apply snapshot and committed entries -> collect read states -> advance) and
delivers messages in FIFO order unless told otherwise: `cut`/`isolate` drop links, `drop_if`
drops by predicate, and a seeded `chaos` mode drops, duplicates and reorders. A global
`applied_at` map checks that no two members ever apply different entries at one index.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import msgpack

from kubemu.cluster.clock import derive_rng
from kubemu.cluster.raft.core import RaftCore
from kubemu.cluster.raft.messages import (
    Entry, HardState, Message, NodeId, ReadState, Snapshot, StateType,
)


class DeadlineError(AssertionError):
    """A condition was not reached in time (a liveness failure, not a safety violation)."""


@dataclass
class Disk:
    hard_state: HardState | None = None
    snapshot: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)

    def save(self, hs: HardState | None, snap: Snapshot | None, entries: list[Entry]) -> None:
        if snap is not None:
            self.install(snap)
        if entries:
            first = entries[0].index
            self.entries = [e for e in self.entries if e.index < first] + list(entries)
        if hs is not None:
            self.hard_state = HardState(hs.term, hs.vote, hs.commit)

    def install(self, snap: Snapshot) -> None:
        if self.snapshot is None or snap.index > self.snapshot.index:
            self.snapshot = snap
            self.entries = [e for e in self.entries if e.index > snap.index]


@dataclass
class Chaos:
    drop: float = 0.0
    dup: float = 0.0
    reorder: bool = False
    interleave: bool = False  # step messages between a Ready and its advance
    wire: bool = False  # send every message through msgpack, as SimNet and Ray do


class Network:
    def __init__(self, n: int = 3, *, seed: int = 0, disks: dict[NodeId, Disk] | None = None,
                 **options) -> None:
        self.ids: tuple[NodeId, ...] = tuple(range(1, n + 1))
        self.seed = seed
        self.options = options
        self.rng = derive_rng(seed, "network")
        self.disks: dict[NodeId, Disk] = {i: Disk() for i in self.ids}
        self.disks.update(disks or {})
        self.incarnation: dict[NodeId, int] = {i: 0 for i in self.ids}
        self.cores: dict[NodeId, RaftCore | None] = {i: self._new_core(i) for i in self.ids}
        self.applied: dict[NodeId, list[tuple[int, int, bytes]]] = {i: [] for i in self.ids}
        self.read_states: dict[NodeId, list[ReadState]] = {i: [] for i in self.ids}
        self.applied_at: dict[int, tuple[int, bytes]] = {}
        self.leaders_by_term: dict[int, NodeId] = {}
        self.queue: list[Message] = []
        self.cut_links: set[tuple[NodeId, NodeId]] = set()
        self.drop_if: Callable[[Message], bool] | None = None
        self.mangle: Callable[[Message], Message] | None = None  # rewrite a message in flight
        self.chaos = Chaos()
        self.delivered: list[Message] = []

    def _new_core(self, i: NodeId) -> RaftCore:
        d = self.disks[i]
        return RaftCore(i, self.ids, rng=derive_rng(self.seed, "core", i, self.incarnation[i]),
                        hard_state=d.hard_state, snapshot=d.snapshot, entries=list(d.entries),
                        **self.options)

    def core(self, i: NodeId) -> RaftCore:
        c = self.cores[i]
        assert c is not None, f"member {i} is down"
        return c

    def live(self) -> list[NodeId]:
        return [i for i in self.ids if self.cores[i] is not None]

    def leaders(self) -> list[NodeId]:
        return [i for i in self.live() if self.core(i).state == StateType.LEADER]

    def leader(self) -> NodeId:
        leaders = self.leaders()
        assert len(leaders) == 1, f"expected one leader, got {leaders}"
        return leaders[0]

    # -- faults -------------------------------------------------------------------------------

    def cut(self, a: NodeId, b: NodeId) -> None:
        self.cut_links |= {(a, b), (b, a)}

    def isolate(self, i: NodeId) -> None:
        for j in self.ids:
            if j != i:
                self.cut(i, j)

    def heal(self) -> None:
        self.cut_links.clear()
        self.drop_if = None
        self.mangle = None

    def crash(self, i: NodeId) -> None:
        self.cores[i] = None
        self.applied[i] = []

    def restart(self, i: NodeId) -> None:
        self.incarnation[i] += 1
        self.cores[i] = core = self._new_core(i)
        snap = self.disks[i].snapshot
        self.applied[i] = [] if snap is None else _decode(snap.data)
        assert core.applied == (0 if snap is None else snap.index)

    # -- driving --------------------------------------------------------------------------------

    def handle_ready(self, i: NodeId) -> bool:
        core = self.cores[i]
        if core is None or not core.has_ready():
            return False
        rd = core.ready()
        term = core.term
        self.disks[i].save(rd.hard_state, rd.snapshot, rd.entries)
        self.queue.extend(rd.messages)
        if self.chaos.interleave and self.rng.random() < 0.5:
            self._deliver_to(i)  # the core keeps stepping while the driver persists/applies
        if rd.snapshot is not None:
            self.applied[i] = _decode(rd.snapshot.data)
            for index, term, data in self.applied[i]:
                self._check_apply(i, index, term, data)
        for e in rd.committed_entries:
            applied = self.applied[i]
            expected = applied[-1][0] + 1 if applied else 1
            assert e.index == expected, f"member {i} applies {e.index}, expected {expected}"
            self._check_apply(i, e.index, e.term, e.data)
            applied.append((e.index, e.term, e.data))
        self.read_states[i].extend(rd.read_states)
        if rd.soft_state.state == StateType.LEADER:
            other = self.leaders_by_term.setdefault(term, i)
            assert other == i, f"two leaders in term {term}: {other} and {i}"
        core.advance(rd)
        return True

    def _check_apply(self, i: NodeId, index: int, term: int, data: bytes) -> None:
        seen = self.applied_at.setdefault(index, (term, data))
        assert seen == (term, data), f"member {i} applied {(term, data)} at {index}, " \
                                     f"another applied {seen}"

    def _deliver_to(self, i: NodeId) -> None:
        mine = [m for m in self.queue if m.to == i]
        self.queue = [m for m in self.queue if m.to != i]
        self._deliver(mine)

    def deliver(self) -> int:
        batch, self.queue = self.queue, []
        return self._deliver(batch)

    def _deliver(self, batch: list[Message]) -> int:
        if self.chaos.reorder:
            self.rng.shuffle(batch)
        n = 0
        for m in batch:
            if (m.frm, m.to) in self.cut_links or (self.drop_if and self.drop_if(m)):
                continue
            if self.chaos.drop and self.rng.random() < self.chaos.drop:
                continue
            if self.mangle is not None:
                m = self.mangle(m)
            if self.chaos.wire:
                m = Message.from_wire(msgpack.unpackb(msgpack.packb(m.to_wire())))
            copies = 2 if self.chaos.dup and self.rng.random() < self.chaos.dup else 1
            core = self.cores.get(m.to)
            if core is None:
                continue
            for _ in range(copies):
                self.delivered.append(m)
                core.step(m)
                n += 1
        return n

    def stabilize(self, max_rounds: int = 1000) -> None:
        """Handle Readies and deliver messages until nothing moves."""
        for _ in range(max_rounds):
            moved = False
            for i in self.ids:
                while self.handle_ready(i):
                    moved = True
            if self.queue:
                self.deliver()
                moved = True
            if not moved:
                return
        raise AssertionError(f"network did not settle in {max_rounds} rounds")

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            for i in self.live():
                self.core(i).tick()
            self.stabilize()

    def tick_until(self, cond: Callable[[], bool], *, max_ticks: int = 500, what: str = "") -> int:
        for t in range(max_ticks + 1):
            if cond():
                return t
            self.tick()
        raise DeadlineError(f"not reached within {max_ticks} ticks: {what or cond}")

    def elect(self, i: NodeId) -> None:
        self.core(i).campaign()
        self.stabilize()
        assert self.core(i).state == StateType.LEADER, f"{i} did not win: {self.core(i).status()}"

    def propose(self, data: bytes, *, at: NodeId | None = None) -> int:
        index = self.core(at or self.leader()).propose(data)
        self.stabilize()
        return index

    def compact(self, i: NodeId, **kw) -> int:
        """Snapshot member i's state machine at its applied index and persist it."""
        core = self.core(i)
        index = self.applied[i][-1][0] if self.applied[i] else core.applied
        core.compact(index, _encode(self.applied[i]), **kw)
        self.disks[i].install(core.snapshot())
        return index

    def data_applied(self, i: NodeId) -> list[bytes]:
        return [d for _, _, d in self.applied[i] if d]


def _encode(applied: list[tuple[int, int, bytes]]) -> bytes:
    return msgpack.packb([list(a) for a in applied])


def _decode(data: bytes) -> list[tuple[int, int, bytes]]:
    return [(a[0], a[1], a[2]) for a in msgpack.unpackb(data)] if data else []


__all__ = ["Chaos", "DeadlineError", "Disk", "Network"]
