"""Safety checkers for the simulation: Raft's properties and the watch stream's truth.

`RaftChecker` observes the cluster driver (every synced disk write, every Ready, every step)
and raises `SimViolation` at the first broken property, so the failure names the step:

- election safety: at most one leader per term (every member's (term, state) every step);
- log matching: an (index, term) pair is only ever persisted with one payload and one preceding
  term, on any disk, at any time (so equal (index, term) implies equal prefixes);
- state-machine safety: every member applies index i only after i-1 (or a snapshot) and applies
  the same entry at i as everyone else;
- durability: an entry is applied somewhere only once a quorum of disks holds it;
- leader completeness: an entry applied by a member at term m is in the log of every leader of a
  term > m (committed entries are never lost);
- convergence (end of run): every live member applied the same index and holds the same MVCC
  contents.

`EventTruth` polls every live member's watch history every step and merges them into the one
true event sequence (members must agree event for event at every revision); `check_watch`
compares what a client's watch saw with it: exactly the matching events from its start
revision on, in order, without gaps or duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubemu.cluster.raft.messages import Entry, NodeId, Ready, StateType
from kubemu.cluster.store.errors import CompactedError

from tests.sim.cluster import SimCluster, SimDisk, SimViolation

EventTuple = tuple  # (type, key, value, create_revision, mod_revision, version)


class RaftChecker:
    def __init__(self, ids: tuple[NodeId, ...], *, disks: dict[NodeId, SimDisk]) -> None:
        self.ids = ids
        self.disks = disks  # every replica's disk, live or crashed (durability counts them all)
        self.quorum = len(ids) // 2 + 1
        self.step = 0
        self.leader_of_term: dict[int, NodeId] = {}
        self.entry_facts: dict[tuple[int, int], tuple[bytes, int, int | None]] = {}
        self.committed: dict[int, tuple[int, bytes, int]] = {}  # index -> (term, data, min term)
        self.applied_to: dict[NodeId, int] = {i: 0 for i in ids}
        self._new_committed: list[int] = []
        self._leaders_checked: set[tuple[int, NodeId]] = set()
        self.snapshots_installed = 0

    def fail(self, text: str) -> None:
        raise SimViolation(f"step {self.step}: {text}")

    # -- observer hooks -------------------------------------------------------------------------

    def on_disk_write(self, node: NodeId, disk: SimDisk,
                      written: list[tuple[Entry, int | None]]) -> None:
        facts = self.entry_facts
        for e, prev_term in written:
            fact = (e.data, int(e.type), prev_term)
            seen = facts.get((e.index, e.term))
            if seen is None:
                facts[(e.index, e.term)] = fact
            elif seen[:2] != fact[:2] or (
                    None not in (seen[2], prev_term) and seen[2] != prev_term):
                self.fail(f"log matching: node {node} persisted entry (index {e.index}, term "
                          f"{e.term}) with payload/prev-term {fact!r}, another disk has {seen!r}")

    def on_restart(self, node: NodeId, member, disk: SimDisk) -> None:
        self.applied_to[node] = 0 if disk.snapshot is None else disk.snapshot.index

    def on_ready(self, node: NodeId, rd: Ready, member) -> None:
        cursor = self.applied_to[node]
        term = member.raft.term
        if rd.snapshot is not None:
            snap = rd.snapshot
            if snap.index < cursor:
                self.fail(f"node {node} installs snapshot at {snap.index} below its applied "
                          f"index {cursor}")
            known = self.committed.get(snap.index)
            if known is not None and known[0] != snap.term:
                self.fail(f"node {node} installs snapshot (index {snap.index}, term {snap.term}) "
                          f"but entry {snap.index} was committed with term {known[0]}")
            cursor = snap.index
            self.snapshots_installed += 1
        for e in rd.committed_entries:
            if e.index != cursor + 1:
                self.fail(f"node {node} applies entry {e.index} after {cursor} (not in order)")
            cursor = e.index
            known = self.committed.get(e.index)
            if known is None:
                self.committed[e.index] = (e.term, e.data, term)
                self._new_committed.append(e.index)
                self._check_durable(node, e)
            elif known[:2] != (e.term, e.data):
                self.fail(f"state machine safety: node {node} applies (index {e.index}, term "
                          f"{e.term}) but another member applied term {known[0]} there")
            elif term < known[2]:
                self.committed[e.index] = (known[0], known[1], term)
        self.applied_to[node] = cursor

    def on_step(self, cluster: SimCluster) -> None:
        self.step = cluster.step_no
        for node in cluster.live():
            raft = cluster.members[node].raft
            if raft.state != StateType.LEADER:
                continue
            term = raft.term
            other = self.leader_of_term.setdefault(term, node)
            if other != node:
                self.fail(f"election safety: nodes {other} and {node} are both leader in term "
                          f"{term}")
            if (term, node) not in self._leaders_checked:
                self._leaders_checked.add((term, node))
                self._check_leader_has(node, term, cluster.disks[node], self.committed)
            elif self._new_committed:
                self._check_leader_has(node, term, cluster.disks[node], self._new_committed)
        self._new_committed = []

    # -- checks ---------------------------------------------------------------------------------

    def _check_durable(self, node: NodeId, e: Entry) -> None:
        holders = 0
        for disk in self.disks.values():
            snap = disk.snapshot
            if (snap is not None and snap.index >= e.index) or disk.term_at(e.index) == e.term:
                holders += 1
        if holders < self.quorum:
            self.fail(f"durability: node {node} applies entry (index {e.index}, term {e.term}) "
                      f"held by only {holders} disk(s), quorum is {self.quorum}")

    def _check_leader_has(self, node: NodeId, term: int, disk: SimDisk, indexes) -> None:
        floor = 0 if disk.snapshot is None else disk.snapshot.index
        for index in indexes:
            entry_term, _, min_term = self.committed[index]
            if min_term >= term or index <= floor:
                continue
            if disk.term_at(index) != entry_term:
                self.fail(f"leader completeness: node {node}, leader of term {term}, lacks "
                          f"entry (index {index}, term {entry_term}) committed by term "
                          f"{min_term}; its log has term {disk.term_at(index)} there")

    def check_converged(self, cluster: SimCluster) -> None:
        """All live members applied the same index and hold the same key-value contents."""
        live = cluster.live()
        applied = {n: cluster.members[n].raft.applied for n in live}
        if len(set(applied.values())) > 1:
            self.fail(f"convergence: applied indexes differ after quiescing: {applied}")
        revisions = {n: cluster.members[n].applied_revision for n in live}
        if len(set(revisions.values())) > 1:
            self.fail(f"convergence: applied revisions differ after quiescing: {revisions}")
        contents = {n: store_contents(cluster.members[n]) for n in live}
        first = live[0]
        for n in live[1:]:
            if contents[n] != contents[first]:
                diff = sorted(set(contents[n]) ^ set(contents[first]))[:6]
                self.fail(f"convergence: node {n} and node {first} hold different contents "
                          f"after quiescing (differences: {diff})")


def store_contents(member) -> set[tuple]:
    """A member's live key-values, straight from its MVCC store."""
    store = member.sm.mvcc
    return {(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease)
            for kv in store.iter_live()}


def event_tuple(ev) -> EventTuple:
    kv = ev.kv
    return (ev.type, kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version)


class EventTruth:
    """The agreed event sequence by revision, merged from every member's watch history."""

    def __init__(self) -> None:
        self.events: dict[int, list[EventTuple]] = {}
        self.cursor: dict[NodeId, int] = {}
        self.step = 0

    def reset(self, node: NodeId, member) -> None:
        """A restarted member: re-read everything it still holds (its history is rebuilt from
        the snapshot and the replayed log, and must agree with what was seen before)."""
        self.cursor[node] = 1

    def poll(self, cluster: SimCluster) -> None:
        self.step = cluster.step_no
        for node in cluster.live():
            member = cluster.members[node]
            start = self.cursor.get(node, 1)
            if member.applied_revision < start:
                continue
            try:
                events, through = member.watch_events("", "\0", start, limit=0)
            except CompactedError as exc:
                self.cursor[node] = max(start, exc.compact_revision)
                continue
            by_rev: dict[int, list[EventTuple]] = {}
            for ev in events:
                by_rev.setdefault(ev.kv.mod_revision, []).append(event_tuple(ev))
            for rev, evs in by_rev.items():
                seen = self.events.setdefault(rev, evs)
                if seen != evs:
                    raise SimViolation(
                        f"step {self.step}: node {node} reports events {evs} at revision {rev}, "
                        f"another member reported {seen}")
            self.cursor[node] = max(start, through + 1)

    def check_gap_free(self) -> None:
        if not self.events:
            return
        top = max(self.events)
        missing = [r for r in range(2, top + 1) if r not in self.events]
        if missing:
            raise SimViolation(f"revisions without events (no member reported them, or a "
                               f"revision was spent without a change): {missing[:10]}")


@dataclass(slots=True)
class WatchRecord:
    """What one client watch saw: its range, start, events, and how far it is complete."""

    client: int
    key: str
    range_end: str
    start_revision: int
    events: list[EventTuple]
    through: int  # the watch saw every event up to this revision
    compacted: bool = False

    def describe(self) -> str:
        return (f"client {self.client} watch(key={self.key!r}, range_end={self.range_end!r}, "
                f"start={self.start_revision})")


def check_watch(record: WatchRecord, truth: EventTruth) -> str | None:
    """None if the watch saw exactly the true events in [start, through]; else a description."""
    from kubemu.cluster.store.mvcc import in_range

    last = 0
    for ev in record.events:
        if ev[4] < last:
            return f"{record.describe()}: revision {ev[4]} after {last}"
        last = ev[4]
    expected: list[EventTuple] = []
    for rev in range(max(record.start_revision, 1), record.through + 1):
        evs = truth.events.get(rev)
        if evs is None:
            continue
        for ev in evs:
            k = ev[1]
            if (k == record.key) if record.range_end == "" else in_range(k, record.key,
                                                                         record.range_end):
                expected.append(ev)
    if record.events != expected:
        got = set(record.events)
        want = set(expected)
        missing = [e for e in expected if e not in got][:3]
        extra = [e for e in record.events if e not in want][:3]
        return (f"{record.describe()} through revision {record.through}: saw "
                f"{len(record.events)} events, truth has {len(expected)}; missing {missing}, "
                f"unexpected {extra}")
    return None


def check_past_reads(ops, truth: EventTruth) -> str | None:
    """Every read at a past revision returned exactly the key's state at that revision, as the
    event truth replays it (or `compacted`)."""
    by_key: dict[str, list[EventTuple]] = {}
    for rev in sorted(truth.events):
        for ev in truth.events[rev]:
            by_key.setdefault(ev[1], []).append(ev)
    top = max(truth.events, default=1)
    for op in ops:
        if op.kind != "get_at" or not op.determinate or op.output == "compacted":
            continue
        if op.at_revision > top:
            continue  # beyond what any member reported: nothing to compare with
        state: list[tuple] = []
        for ev in by_key.get(op.key, ()):
            if ev[4] > op.at_revision:
                break
            state = [] if ev[0] == "DELETE" else [(ev[1], ev[2], ev[5], ev[4])]
        if op.output != state:
            return (f"step {op.ret_step}: client {op.client} read {op.key!r} at revision "
                    f"{op.at_revision} and got {op.output}, the event history says {state}")
    return None
