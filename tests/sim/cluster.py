"""SimCluster: N real StoreMembers in one process, on a ManualClock, with in-memory disks.

Each replica is the real `StoreMember` (RaftCore + MVCC) plus a `SimDisk`. The driver handles
every `Ready` in the contract order: persist (hard state, snapshot, entries) -> [crash point] ->
"fsync" -> send -> `advance` (apply, complete requests). A crash drops the member and whatever
was written but not yet synced (a crash at the crash point may keep a torn prefix of that
unsynced tail, in the order a WAL writes it: snapshot, entries, hard state; another crash point
is after the send, before anything is applied); a restart builds a new StoreMember from
`Recovered(...)` of the synced disk. The member's own compaction snapshot
(`pop_snapshot()` after an advance) is persisted and synced at once.

One `step()` = advance the clock by `tick_seconds`, tick every live member once (unless a
seeded "slow node" skips the tick), deliver due messages, let clients act, then drain each live
member's Readies (with `interleave`, also right after some messages, so Readies interleave
with deliveries as they do in a real driver). Member order is shuffled per step. An
`observer` (the Raft checker) sees every disk write, every Ready and every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from kubemu.cluster.clock import ManualClock, derive_rng
from kubemu.cluster.raft.messages import Entry, HardState, NodeId, Ready, Snapshot, StateType
from kubemu.cluster.raft.storage import Recovered
from kubemu.cluster.store.member import StoreMember

from tests.sim.simnet import NetFaults, SimNet

MAX_READIES_PER_STEP = 50


class SimViolation(AssertionError):
    """A safety or liveness property failed; the message says which and where."""


class Observer(Protocol):
    def on_disk_write(self, node: NodeId, disk: SimDisk,
                      written: list[tuple[Entry, int | None]]) -> None: ...
    def on_ready(self, node: NodeId, rd: Ready, member: StoreMember) -> None: ...
    def on_restart(self, node: NodeId, member: StoreMember, disk: SimDisk) -> None: ...
    def on_step(self, cluster: SimCluster) -> None: ...


@dataclass(slots=True)
class SimDisk:
    """Synced durable state plus the unsynced tail of writes (lost on a crash)."""

    hard_state: HardState | None = None
    snapshot: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)  # after the snapshot, in index order
    pending: list[tuple[str, object]] = field(default_factory=list)

    def write_ready(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self.pending.append(("install", rd.snapshot))
        for e in rd.entries:
            self.pending.append(("entry", Entry(e.term, e.index, e.data, e.type)))
        if rd.hard_state is not None:
            hs = rd.hard_state
            self.pending.append(("hard_state", HardState(hs.term, hs.vote, hs.commit)))

    def write_snapshot(self, snap: Snapshot) -> None:
        self.pending.append(("compact", snap))

    def sync(self, *, keep: int | None = None) -> list[tuple[Entry, int | None]]:
        """Make the first `keep` pending writes (all by default) durable; drop the rest.

        Returns the entries that became durable, each with the term of the entry before it on
        this disk (None if compacted away), for the log-matching checker."""
        todo = self.pending if keep is None else self.pending[:keep]
        self.pending = []
        written: list[tuple[Entry, int | None]] = []
        for kind, item in todo:
            if kind == "entry":
                written.append((item, self._append(item)))
            elif kind == "hard_state":
                self.hard_state = item
            elif kind == "install":  # a leader's snapshot replaces the whole log
                self.snapshot = item
                self.entries = []
            else:  # our own compaction: drop the entries it covers
                if self.snapshot is None or item.index > self.snapshot.index:
                    self.snapshot = item
                    self.entries = [e for e in self.entries if e.index > item.index]
        return written

    def recovered(self) -> Recovered:
        hs = self.hard_state
        return Recovered(
            hard_state=None if hs is None else HardState(hs.term, hs.vote, hs.commit),
            snapshot=self.snapshot,
            entries=[Entry(e.term, e.index, e.data, e.type) for e in self.entries],
        )

    def entry_at(self, index: int) -> Entry | None:
        if not self.entries:
            return None
        first = self.entries[0].index
        if first <= index < first + len(self.entries):
            return self.entries[index - first]
        return None

    def term_at(self, index: int) -> int | None:
        snap = self.snapshot
        if snap is not None and index == snap.index:
            return snap.term
        if index == 0:
            return 0
        e = self.entry_at(index)
        return None if e is None else e.term

    @property
    def last_index(self) -> int:
        if self.entries:
            return self.entries[-1].index
        return 0 if self.snapshot is None else self.snapshot.index

    def _append(self, e: Entry) -> int | None:
        floor = 0 if self.snapshot is None else self.snapshot.index
        if e.index <= floor:
            raise SimViolation(f"disk: entry {e.index} persisted at or below the snapshot {floor}")
        if e.index > self.last_index + 1:
            raise SimViolation(f"disk: entry {e.index} persisted after last index "
                               f"{self.last_index} (a gap in the log)")
        if e.index <= self.last_index:
            del self.entries[e.index - self.entries[0].index:]
        prev_term = self.term_at(e.index - 1)
        self.entries.append(e)
        return prev_term


@dataclass(slots=True)
class MemberOptions:
    election_tick: int = 10
    heartbeat_tick: int = 1
    snapshot_every: int = 10_000
    history_events: int = 100_000
    snapshot_keep_entries: int = 1000  # entries a compacting member keeps for slow followers


@dataclass(slots=True)
class CrashPlan:
    """A crash due at the next Ready this node handles: between persist and sync (possibly
    keeping a torn prefix of the unsynced tail), or after its messages went out but before
    it applied anything."""

    torn: bool = False
    after_send: bool = False


class SimCluster:
    """Replicas 1..n of the store, their disks, the network and the clock."""

    def __init__(self, *, replicas: int, seed: int | str, options: MemberOptions | None = None,
                 faults: NetFaults | None = None, tick_seconds: float = 0.1,
                 interleave: float = 0.0, observer: Observer | None = None) -> None:
        self.ids: tuple[NodeId, ...] = tuple(range(1, replicas + 1))
        self.seed = seed
        self.options = options or MemberOptions()
        self.clock = ManualClock()
        self.tick_seconds = tick_seconds
        self.net = SimNet(self.ids, rng=derive_rng(seed, "net"), faults=faults)
        self.observer = observer
        self.interleave = interleave  # chance to drain a member right after each message
        self.rng = derive_rng(seed, "cluster")
        self.disks: dict[NodeId, SimDisk] = {i: SimDisk() for i in self.ids}
        self.members: dict[NodeId, StoreMember | None] = {}
        self.incarnation: dict[NodeId, int] = {i: 0 for i in self.ids}
        self.crash_plans: dict[NodeId, CrashPlan] = {}
        self.slow: dict[NodeId, float] = {}  # node -> probability of missing a tick
        self.step_no = 0
        self.on_completion: Callable[[NodeId, str, dict], None] = lambda node, rid, res: None
        self.clients_act: Callable[[], None] = lambda: None
        for i in self.ids:
            self.members[i] = self._new_member(i)

    # -- membership and faults ------------------------------------------------------------------

    def live(self) -> list[NodeId]:
        return [i for i in self.ids if self.members[i] is not None]

    def member(self, node: NodeId) -> StoreMember | None:
        return self.members[node]

    def crash(self, node: NodeId, *, torn_keep: int | None = None) -> None:
        """Kill `node` now: its member and its unsynced writes are gone."""
        if self.members[node] is None:
            return
        disk = self.disks[node]
        if disk.pending:
            written = disk.sync(keep=torn_keep or 0)
            if written and self.observer is not None:
                self.observer.on_disk_write(node, disk, written)
        self.members[node] = None
        self.crash_plans.pop(node, None)
        self.net.set_down(node, True)

    def plan_crash(self, node: NodeId, *, torn: bool = False, after_send: bool = False) -> None:
        """Crash `node` inside its next Ready (at the end of the step if it has none)."""
        if self.members[node] is not None:
            self.crash_plans[node] = CrashPlan(torn=torn, after_send=after_send)

    def restart(self, node: NodeId) -> None:
        if self.members[node] is not None:
            return
        self.incarnation[node] += 1
        member = self._new_member(node)
        self.members[node] = member
        self.net.set_down(node, False)
        if self.observer is not None:
            self.observer.on_restart(node, member, self.disks[node])

    def _new_member(self, node: NodeId) -> StoreMember:
        opts = self.options
        return StoreMember(
            node, self.ids, clock=self.clock,
            rng=derive_rng(self.seed, "member", node, self.incarnation[node]),
            election_tick=opts.election_tick, heartbeat_tick=opts.heartbeat_tick,
            snapshot_every=opts.snapshot_every, history_events=opts.history_events,
            snapshot_keep_entries=opts.snapshot_keep_entries,
            recovered=self.disks[node].recovered(),
        )

    # -- the step -------------------------------------------------------------------------------

    def step(self) -> None:
        self.step_no += 1
        self.clock.advance(self.tick_seconds)
        order = list(self.ids)
        self.rng.shuffle(order)
        for node in order:
            member = self.members[node]
            if member is None:
                continue
            skip = self.slow.get(node, 0.0)
            if skip and self.rng.random() < skip:
                continue
            member.tick()
        for msg in self.net.deliver(self.step_no):
            member = self.members[msg.to]
            if member is not None:
                member.step(msg)
                if self.interleave and self.rng.random() < self.interleave:
                    self.drain(msg.to)
        self.clients_act()
        for node in order:
            self.drain(node)
        for node in list(self.crash_plans):  # no Ready this step: crash anyway
            self.crash(node)
        if self.observer is not None:
            self.observer.on_step(self)

    def drain(self, node: NodeId) -> None:
        """Handle `node`'s Readies until it has none (the driver's loop)."""
        for _ in range(MAX_READIES_PER_STEP):
            member = self.members[node]
            if member is None:
                return
            rd = member.ready()
            if rd is None:
                return
            self._handle_ready(node, member, rd)
        raise SimViolation(f"step {self.step_no}: node {node} still has a Ready after "
                           f"{MAX_READIES_PER_STEP} in one step (the driver loop never ends)")

    def _handle_ready(self, node: NodeId, member: StoreMember, rd: Ready) -> None:
        disk = self.disks[node]
        disk.write_ready(rd)  # persist
        plan = self.crash_plans.get(node)
        if plan is not None and not plan.after_send:  # before fsync: nothing sent or applied
            keep = self.rng.randint(0, len(disk.pending)) if plan.torn else 0
            self.crash(node, torn_keep=keep)
            return
        written = disk.sync()  # fsync
        if self.observer is not None:
            if written:
                self.observer.on_disk_write(node, disk, written)
            self.observer.on_ready(node, rd, member)
        for msg in rd.messages:  # send
            self.net.send(msg, step=self.step_no)
        if plan is not None:  # sent, durable, never applied
            self.crash(node)
            return
        completions = member.advance(rd)  # apply, serve reads, raft.advance
        snap = member.pop_snapshot()  # our own compaction: persist it durably
        if snap is not None and (disk.snapshot is None or snap.index > disk.snapshot.index):
            disk.write_snapshot(snap)
            disk.sync()
        for request_id, result in completions:
            self.on_completion(node, request_id, result)

    # -- views for checkers ---------------------------------------------------------------------

    def leaders(self) -> list[NodeId]:
        return [i for i in self.live() if self.members[i].raft.state == StateType.LEADER]
