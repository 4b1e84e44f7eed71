"""Shared driver for StoreMember tests: an in-process group with hand-routed messages.

`Group` persists each Ready to an in-memory "disk" (so members restart from what they wrote),
routes messages between members (dropping those to or from isolated or crashed members, and a
seeded fraction of all when `drop` is set), applies, and collects completions by request id.
Time moves only with `tick()` (ManualClock, 0.1 s per tick).
"""

from __future__ import annotations

import itertools

import pytest

from kubemu.cluster.clock import ManualClock, derive_rng
from kubemu.cluster.raft.messages import StateType
from kubemu.cluster.raft.storage import Recovered
from kubemu.cluster.store.member import StoreMember

TICK = 0.1


class Disk:
    def __init__(self) -> None:
        self.rec = Recovered()

    def save(self, rd, snapshot=None) -> None:
        rec = self.rec
        if rd is not None and rd.hard_state is not None:
            rec.hard_state = rd.hard_state
        for snap in (rd.snapshot if rd is not None else None, snapshot):
            if snap is not None and (rec.snapshot is None or snap.index > rec.snapshot.index):
                rec.snapshot = snap
                rec.entries = [e for e in rec.entries if e.index > snap.index]
        if rd is not None and rd.entries:
            first = rd.entries[0].index
            if rec.entries and rec.entries[-1].index >= first:
                rec.entries = [e for e in rec.entries if e.index < first]
            rec.entries.extend(rd.entries)


class Group:
    def __init__(self, n: int, *, seed: int = 1, drop: float = 0.0, **options) -> None:
        self.drop = drop
        self.net_rng = derive_rng(seed, "net")
        self.ids = list(range(1, n + 1))
        self.clock = ManualClock()
        self.seed = seed
        self.options = options
        self.disks = {i: Disk() for i in self.ids}
        self.members = {i: self._new_member(i) for i in self.ids}
        self.results: dict[str, dict] = {}
        self.isolated: set[int] = set()
        self.down: set[int] = set()
        self.queue: list = []
        self._ids = itertools.count()

    def _new_member(self, i: int) -> StoreMember:
        return StoreMember(i, self.ids, clock=self.clock, rng=derive_rng(self.seed, i),
                           recovered=self.disks[i].rec, **self.options)

    # ---- driving -----------------------------------------------------------------------------

    def pump(self) -> None:
        for _ in range(10_000):
            busy = False
            for i, m in self.members.items():
                if i in self.down:
                    continue
                rd = m.ready()
                if rd is None:
                    continue
                busy = True
                self.disks[i].save(rd)
                self.queue.extend(rd.messages)
                for rid, result in m.advance(rd):
                    self.results[rid] = result
                self.disks[i].save(None, m.pop_snapshot())
            queue, self.queue = self.queue, []
            for msg in queue:
                if {msg.frm, msg.to} & (self.isolated | self.down):
                    continue
                if self.drop and self.net_rng.random() < self.drop:
                    continue
                self.members[msg.to].step(msg)
                busy = True
            if not busy:
                return
        raise AssertionError("group never went quiet")

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.clock.advance(TICK)
            for i, m in self.members.items():
                if i not in self.down:
                    m.tick()
            self.pump()

    def wait(self, cond, *, ticks: int = 300, what: str = "condition") -> None:
        for _ in range(ticks):
            self.pump()
            if cond():
                return
            self.tick()
        raise AssertionError(f"{what} not reached within {ticks} ticks")

    def leader(self) -> int:
        def one_leader():
            ls = [i for i, m in self.members.items()
                  if i not in self.down | self.isolated and m.raft.state == StateType.LEADER]
            return len(ls) == 1
        self.wait(one_leader, what="a leader")
        return next(i for i, m in self.members.items() if i not in self.down | self.isolated
                    and m.raft.state == StateType.LEADER)

    def submit(self, member: int, command: dict, rid: str | None = None) -> str:
        rid = rid or f"req-{next(self._ids)}"
        self.results.pop(rid, None)
        self.members[member].submit(rid, command)
        return rid

    def call(self, member: int, command: dict, rid: str | None = None) -> dict:
        rid = self.submit(member, command, rid)
        self.wait(lambda: rid in self.results, what=f"result of {command}")
        return self.results[rid]

    def restart(self, i: int) -> None:
        self.members[i] = self._new_member(i)
        self.down.discard(i)


@pytest.fixture
def make_group():
    return Group
