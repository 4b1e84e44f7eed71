"""StoreMember: one sans-I/O store replica = RaftCore + the MVCC state machine.

The driver (the deterministic simulation, or the Ray actor) calls `tick`, `step` and `submit`,
then loops `ready()` -> persist, send -> `advance(rd)`, which applies and returns completions.
Writes are proposed as msgpack `{"id": request_id, "cmd": command}` entries; the applied-results
table (request id -> first result, bounded, evicted in apply order, part of the snapshot) makes
each request id apply once on every member, so clients may retry anywhere. A pending write is
tracked by (index, term): if another entry commits at its index or this member stops leading, it
completes with `not_leader` (retriable; the retry is de-duplicated). Reads submitted between two
`ready()` calls share one ReadIndex round and are answered once applied >= the read index.
Lease deadlines live only on the leader: it promotes the lessor when it takes office and
proposes `lease_revoke` for expired leases from `tick`.
Snapshots (every `snapshot_every` applied entries, or every as many entries as the store has
keys when it has more, so that the cost of packing stays in proportion to the writes; the
first one `snapshot_offset` later, so that members of a group do not all snapshot at once) are taken inside `advance` and handed out
by `pop_snapshot`; with `background_snapshots` the driver takes them instead, without stalling:
`begin_snapshot` freezes a copy-on-write image of the state at the applied index (milliseconds),
`job.build()` packs it anywhere (a thread) while the member keeps serving, and
`finish_snapshot` compacts the Raft log with the bytes. Either way the bytes are the same.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import msgpack

from kubemu.cluster.clock import Clock
from kubemu.cluster.raft.core import NotLeaderError as RaftNotLeaderError
from kubemu.cluster.raft.core import RaftCore
from kubemu.cluster.raft.messages import (
    Entry, EntryType, Message, NodeId, Ready, Snapshot, SoftState, StateType,
)
from kubemu.cluster.raft.storage import Recovered
from kubemu.cluster.store.commands import LEADER_OPS, StateMachine, is_read, validate
from kubemu.cluster.store.errors import (
    BadRequestError, NotLeaderError, RequestTimeoutError, StoreError,
)
from kubemu.cluster.store.mvcc import Event, MVCCImage

__all__ = ["StoreMember", "SnapshotJob"]

_SNAPSHOT_VERSION = 1
_Request = tuple[str, dict]  # (request id, command)


@dataclass(slots=True)
class SnapshotJob:
    """A member snapshot in the making: the state frozen at applied index `index`. `build()`
    packs it (in any thread: nothing it reads changes any more); the bytes go back to
    `StoreMember.finish_snapshot`."""

    index: int
    mvcc: MVCCImage
    leases: list
    results: dict[str, dict]  # a copy: the member's table moves on

    def build(self, *, pause: Callable[[], None] | None = None) -> bytes:
        """msgpack of [version, [mvcc, leases], results], streamed one key at a time;
        `pause` is called every few hundred keys (a driver's thread yields there)."""
        packer = msgpack.Packer(use_bin_type=True, autoreset=True)
        out = [packer.pack_array_header(3), packer.pack(_SNAPSHOT_VERSION),
               packer.pack_array_header(2)]
        self.mvcc.pack(packer, out, pause=pause)
        out.append(packer.pack(self.leases))
        out.append(packer.pack_array_header(len(self.results)))
        pack, every = packer.pack, 1024
        for n, item in enumerate(self.results.items(), 1):
            out.append(pack(item))
            if pause is not None and n % every == 0:
                pause()
        return b"".join(out)


class StoreMember:
    def __init__(
        self, id: NodeId, peers: Sequence[NodeId], *, clock: Clock, rng: random.Random,
        election_tick: int = 10, heartbeat_tick: int = 1, snapshot_every: int = 10_000,
        history_events: int = 100_000, results_limit: int = 100_000,
        snapshot_keep_entries: int = 1000, snapshot_offset: int = 0,
        read_timeout_ticks: int = 0, background_snapshots: bool = False,
        recovered: Recovered | None = None,
    ) -> None:
        rec = recovered or Recovered()
        self.id = id
        self._clock = clock
        self._snapshot_every = snapshot_every
        self._snapshot_keep_entries = snapshot_keep_entries
        self._snapshot_delay = snapshot_offset  # delays only the first snapshot (staggering)
        self._background_snapshots = background_snapshots
        self._snapshot_job: SnapshotJob | None = None  # begun, not finished
        self._results_limit = results_limit
        self._read_timeout_ticks = read_timeout_ticks or 4 * election_tick
        self._revoke_retry_ticks = 2 * election_tick
        self.sm = StateMachine(history_events=history_events)
        self._results: dict[str, dict] = {}  # request id -> result, in apply order
        self._results_order: deque[str] = deque()  # the same ids, oldest first (to evict)
        self.applied_index = 0
        self.snapshot_index = 0  # index of the latest state-machine snapshot
        if rec.snapshot is not None:
            self._restore(rec.snapshot.data)
            self.applied_index = self.snapshot_index = rec.snapshot.index
        self.raft = RaftCore(
            id, peers, rng=rng, election_tick=election_tick, heartbeat_tick=heartbeat_tick,
            hard_state=rec.hard_state, snapshot=rec.snapshot, entries=rec.entries,
        )
        self._ticks = 0
        self._pending: dict[int, tuple[int, str]] = {}  # index -> (term, request id)
        self._inflight: set[str] = set()  # request ids of pending writes
        self._reads_unsent: list[_Request] = []
        self._reads_sent: dict[bytes, tuple[int, list[_Request]]] = {}  # ctx -> (tick, batch)
        self._reads_confirmed: list[tuple[int, str, dict]] = []  # (read index, id, command)
        self._read_seq = 0
        self._done: list[tuple[str, dict]] = []
        self._raft_ready: Ready | None = None
        self._lead_term = 0  # the term this member leads in (0: not leading)
        self._known_leader: NodeId = self.raft.leader
        self._revoking: dict[int, int] = {}  # lease id -> tick of the last revoke proposal
        self._new_snapshot: Snapshot | None = None

    # ---- inputs ------------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance Raft's logical clock; the leader also expires leases and stale reads."""
        self._ticks += 1
        self.raft.tick()
        if self._reads_sent:
            self._expire_reads()
        if self._lead_term and self.raft.state == StateType.LEADER:
            self._expire_leases()

    def step(self, msg: Message) -> None:
        self.raft.step(msg)

    def submit(self, request_id: str, command: dict) -> None:
        """Start a request; its result comes back from a later `advance` as a completion."""
        try:
            validate(command)
        except StoreError as exc:
            self._done.append((request_id, exc.to_result()))
            return
        op = command["op"]
        if is_read(command):
            self._reads_unsent.append((request_id, command))
            return
        if self.raft.state != StateType.LEADER:
            self._done.append((request_id, NotLeaderError(self.raft.leader).to_result()))
            return
        if op in LEADER_OPS:
            self._reads_unsent.append((request_id, command))
            return
        cached = self._results.get(request_id)
        if cached is not None:
            self._done.append((request_id, cached))
            return
        if request_id in self._inflight:
            return  # already proposed; its one completion answers this submit too
        self._propose(request_id, command, track=True)

    # ---- the Ready loop ----------------------------------------------------------------------

    def ready(self) -> Ready | None:
        """The next batch of work, or None. Also sends the batched reads' ReadIndex request.
        A Ready may be empty of Raft work when only completions are waiting; hand it back to
        `advance` all the same."""
        if self._reads_unsent:
            self._send_reads()
        if self.raft.has_ready():
            self._raft_ready = self.raft.ready()
            return self._raft_ready
        if self._done or self._servable_reads():
            return Ready(soft_state=SoftState(self.raft.leader, self.raft.state))
        return None

    def advance(self, rd: Ready) -> list[tuple[str, dict]]:
        """Apply `rd` (after the driver persisted it and sent its messages); returns the
        completed requests as (request id, result)."""
        now = self._clock.now()
        if rd.snapshot is not None and rd.snapshot.index > self.applied_index:
            self._install_snapshot(rd.snapshot)
        for entry in rd.committed_entries:
            if entry.index > self.applied_index:
                self._apply_entry(entry, now)
        self._observe_leadership(now)
        for rs in rd.read_states:
            sent = self._reads_sent.pop(rs.context, None)
            if sent is not None:
                self._reads_confirmed.extend((rs.index, rid, cmd) for rid, cmd in sent[1])
        if self._reads_confirmed:
            self._serve_reads(now)
        if rd is self._raft_ready:
            self._raft_ready = None
            self.raft.advance(rd)
        if not self._background_snapshots and self._snapshot_due():
            self._new_snapshot = self.finish_snapshot(job := self._image(), job.build())
        done, self._done = self._done, []
        return done

    # ---- snapshots in the background ---------------------------------------------------------

    def begin_snapshot(self) -> SnapshotJob | None:
        """When a snapshot is due and none is in the making: freeze the state at the applied
        index (cheap, copy on write) for the driver to `build()` off its loop and hand back to
        `finish_snapshot`. For `background_snapshots` members, after `advance`."""
        if self._snapshot_job is not None or not self._snapshot_due():
            return None
        self._snapshot_job = self._image()
        return self._snapshot_job

    def finish_snapshot(self, job: SnapshotJob, data: bytes) -> Snapshot | None:
        """Make `data` (the built `job`) the Raft snapshot and compact the log; returns the
        snapshot for the driver to persist, or None when a newer one was installed meanwhile."""
        if job is self._snapshot_job:
            self._snapshot_job = None
        if job.index <= self.snapshot_index:
            return None
        self.raft.compact(job.index, data, keep_entries=self._snapshot_keep_entries)
        snapshot = self.raft.snapshot()
        if snapshot is None or snapshot.index != job.index:
            return None  # the log already moved past it (a leader's snapshot, being installed)
        self.snapshot_index = job.index
        self._snapshot_delay = 0
        return snapshot

    def offload_snapshot(self, index: int, data: object) -> bool:
        """The driver has the latest snapshot (at `index`) on disk: Raft keeps `data`, which
        reads the image back with `bytes()`, instead of a second copy of the whole state."""
        return self.raft.offload_snapshot(index, data)

    # ---- queries -----------------------------------------------------------------------------

    @property
    def applied_revision(self) -> int:
        return self.sm.revision

    def watch_events(
        self, key: str, range_end: str, start_revision: int, limit: int = 1000,
    ) -> tuple[list[Event], int]:
        """Events with revision >= start_revision for keys in range, plus the revision through
        which they are complete (the applied revision unless `limit` cut a longer answer:
        resume at that revision + 1). Raises CompactedError below the retained history."""
        return self.sm.watch.events_since(
            key, range_end, start_revision, limit, current_revision=self.sm.revision)

    def pop_snapshot(self) -> Snapshot | None:
        """The snapshot the last `advance` took (for the driver to persist), once."""
        snap, self._new_snapshot = self._new_snapshot, None
        return snap

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id, "term": self.raft.term, "leader": self.raft.leader,
            "state": self.raft.state.name.lower(), "commit": self.raft.commit,
            "applied": self.applied_index, "revision": self.sm.revision,
        }

    # ---- writes ------------------------------------------------------------------------------

    def _propose(self, request_id: str, command: dict, *, track: bool) -> bool:
        data = msgpack.packb({"id": request_id, "cmd": command}, use_bin_type=True)
        try:
            index = self.raft.propose(data)
        except RaftNotLeaderError as exc:
            if track:
                self._done.append((request_id, NotLeaderError(exc.leader).to_result()))
            return False
        if track:
            self._pending[index] = (self.raft.term, request_id)
            self._inflight.add(request_id)
        return True

    def _apply_entry(self, entry: Entry, now: float) -> None:
        self.applied_index = entry.index
        rid: str | None = None
        result: dict | None = None
        if entry.type == EntryType.NORMAL and entry.data:
            try:
                payload = msgpack.unpackb(entry.data, raw=False)
                rid, cmd = payload["id"], payload["cmd"]
                if not isinstance(rid, str):
                    raise TypeError("request id is not a str")
            except Exception:  # a corrupt entry is an error result, never a crash
                result = BadRequestError("undecodable store entry").to_result()
            else:
                result = self._results.get(rid)
                if result is None:
                    result = self.sm.apply(cmd, index=entry.index, now=now)
                    self._remember(rid, result)
        pending = self._pending.pop(entry.index, None)
        if pending is not None:
            term, prid = pending
            self._inflight.discard(prid)
            if term == entry.term and prid == rid and result is not None:
                self._done.append((prid, result))
            else:  # another leader's entry took the index: ours is lost
                self._done.append((prid, NotLeaderError(self.raft.leader).to_result()))

    def _remember(self, rid: str, result: dict) -> None:
        self._results[rid] = result
        self._results_order.append(rid)
        if len(self._results_order) > self._results_limit:
            del self._results[self._results_order.popleft()]

    def _fail_pending(self) -> None:
        error = NotLeaderError(self.raft.leader).to_result()
        for _, rid in self._pending.values():
            self._done.append((rid, error))
        self._pending.clear()
        self._inflight.clear()

    def _observe_leadership(self, now: float) -> None:
        leading = self.raft.state == StateType.LEADER
        if leading and self._lead_term != self.raft.term:
            self._lead_term = self.raft.term
            self.sm.lessor.promote(now=now)
            self._revoking.clear()
        elif not leading and self._lead_term:
            self._lead_term = 0
            self.sm.lessor.demote()
            self._fail_pending()
        if self.raft.leader != self._known_leader:
            self._known_leader = self.raft.leader
            self._fail_reads_sent(NotLeaderError(self.raft.leader))

    def _expire_leases(self) -> None:
        lessor = self.sm.lessor
        for lease_id in [i for i in self._revoking if i not in lessor.leases]:
            del self._revoking[lease_id]
        for lease in lessor.expired(self._clock.now()):
            last = self._revoking.get(lease.id)
            if last is not None and self._ticks - last < self._revoke_retry_ticks:
                continue
            rid = f"\0lease-expire/{lease.id}/{lease.grant_index}"
            if self._propose(rid, {"op": "lease_revoke", "id": lease.id}, track=False):
                self._revoking[lease.id] = self._ticks

    # ---- reads -------------------------------------------------------------------------------

    def _send_reads(self) -> None:
        batch, self._reads_unsent = self._reads_unsent, []
        self._read_seq += 1
        ctx = b"%d:%d" % (self.id, self._read_seq)
        try:
            self.raft.read_index(ctx)
        except RaftNotLeaderError as exc:
            error = NotLeaderError(exc.leader).to_result()
            self._done.extend((rid, error) for rid, _ in batch)
            return
        self._reads_sent[ctx] = (self._ticks, batch)

    def _servable_reads(self) -> bool:
        return any(index <= self.applied_index for index, _, _ in self._reads_confirmed)

    def _serve_reads(self, now: float) -> None:
        waiting = []
        for item in self._reads_confirmed:
            index, rid, cmd = item
            if index > self.applied_index:
                waiting.append(item)
            elif cmd["op"] in LEADER_OPS:
                if self.raft.state == StateType.LEADER:
                    self._done.append((rid, self.sm.keepalive(cmd, now=now)))
                else:
                    self._done.append((rid, NotLeaderError(self.raft.leader).to_result()))
            else:
                self._done.append((rid, self.sm.read(cmd, now=now)))
        self._reads_confirmed = waiting

    def _expire_reads(self) -> None:
        cutoff = self._ticks - self._read_timeout_ticks
        stale = [ctx for ctx, (sent, _) in self._reads_sent.items() if sent <= cutoff]
        for ctx in stale:
            error = RequestTimeoutError("read index request timed out").to_result()
            self._done.extend((rid, error) for rid, _ in self._reads_sent.pop(ctx)[1])

    def _fail_reads_sent(self, exc: StoreError) -> None:
        error = exc.to_result()
        for _, batch in self._reads_sent.values():
            self._done.extend((rid, error) for rid, _ in batch)
        self._reads_sent.clear()

    # ---- snapshots ---------------------------------------------------------------------------

    def _snapshot_due(self) -> bool:
        # at least one entry per key between snapshots: packing a store costs time in
        # proportion to its keys, so a large store snapshotting every `snapshot_every`
        # entries spent more CPU on snapshots than on writes
        every = max(self._snapshot_every, self.sm.mvcc.key_count)
        return self.applied_index - self.snapshot_index >= every + self._snapshot_delay

    def _image(self) -> SnapshotJob:
        mvcc, leases = self.sm.image()
        return SnapshotJob(self.applied_index, mvcc, leases, self._results.copy())

    def _install_snapshot(self, snap: Snapshot) -> None:
        self._restore(snap.data)
        self.applied_index = self.snapshot_index = snap.index
        for index in [i for i in self._pending if i <= snap.index]:
            _, rid = self._pending.pop(index)
            self._inflight.discard(rid)
            result = self._results.get(rid) or NotLeaderError(self.raft.leader).to_result()
            self._done.append((rid, result))

    def _restore(self, data: bytes) -> None:
        version, sm_obj, results = msgpack.unpackb(data, raw=False)
        if version != _SNAPSHOT_VERSION:
            raise ValueError(f"unknown store snapshot version {version}")
        self.sm.restore_obj(sm_obj, now=self._clock.now())
        self._results = {rid: result for rid, result in results}
        self._results_order = deque(self._results)
