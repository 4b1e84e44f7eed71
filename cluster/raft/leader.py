"""The leader's side of a Raft member (a mixin of `RaftCore`): replication, commit, reads.

A new leader appends an EMPTY entry of its term; commit advances only to an index whose entry
has the current term and that a majority holds (§5.4.2), counting the leader's own log only up
to what `advance` reported persisted. Appends are batched (max entries/bytes per message) and
deferred to the next `ready()`, so many proposals or acknowledgements become one APPEND per
peer. Peers in REPLICATE get a pipeline of APPENDs bounded by `max_inflight`; PROBE peers one
at a time, backing off with the follower's (index, term) hint; peers behind the compacted log
get the snapshot. ReadIndex requests wait for the first commit of the term, then for a
heartbeat quorum echoing their sequence number (see `read_only`).
"""

from __future__ import annotations

from kubemu.cluster.raft.log import RaftLog
from kubemu.cluster.raft.messages import (
    NONE, Entry, EntryType, Message, MsgType, NodeId, ReadState, StateType,
)
from kubemu.cluster.raft.progress import Inflights, Progress, ProgressState
from kubemu.cluster.raft.quorum import committed_index, has_quorum
from kubemu.cluster.raft.read_only import ReadOnly

__all__ = ["Leader"]

_APPEND, _APPEND_RESP = MsgType.APPEND, MsgType.APPEND_RESP
_HEARTBEAT, _HEARTBEAT_RESP = MsgType.HEARTBEAT, MsgType.HEARTBEAT_RESP
_LEADER = StateType.LEADER


class Leader:
    id: NodeId
    peers: tuple[NodeId, ...]
    _others: tuple[NodeId, ...]
    election_tick: int
    heartbeat_tick: int
    check_quorum: bool
    max_entries_per_msg: int
    max_bytes_per_msg: int
    max_inflight: int
    snapshot_timeout_tick: int
    log: RaftLog
    term: int
    leader: NodeId
    state: StateType
    election_elapsed: int
    heartbeat_elapsed: int
    _progress: dict[NodeId, Progress]
    _lead_transferee: NodeId
    _read_only: ReadOnly
    _pending_reads: list[tuple[bytes, NodeId]]
    _msgs: list[Message]
    _read_states: list[ReadState]
    _bcast_pending: bool
    # uses from the other parts of RaftCore: _reset, _become_follower (Election), _send (core)

    def _become_leader(self) -> None:
        self._reset(self.term)
        self.leader = self.id
        self.state = _LEADER
        log = self.log
        nxt = log.last_index + 1
        for p in self.peers:
            self._progress[p] = Progress(next=nxt, inflights=Inflights(self.max_inflight))
        me = self._progress[self.id]
        me.match = log.stabled
        me.recent_active = True
        me.state = ProgressState.REPLICATE
        log.append(Entry(self.term, nxt, b"", EntryType.EMPTY))
        if not self._others:
            return  # a group of one commits once advance() reports the entry persisted
        self._bcast_pending = True

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.election_tick:
            self.election_elapsed = 0
            if self.check_quorum:
                active = [p for p, pr in self._progress.items() if pr.recent_active or p == self.id]
                for p in self._others:
                    self._progress[p].recent_active = False
                if not has_quorum(active, self.peers):
                    self._become_follower(self.term, NONE)
                    return
            self._lead_transferee = NONE  # a transfer that did not finish in time is abandoned
        for p in self._others:
            pr = self._progress[p]
            if pr.state == ProgressState.SNAPSHOT:
                pr.snapshot_ticks += 1
                if pr.snapshot_ticks >= self.snapshot_timeout_tick:
                    pr.become_probe()  # the snapshot or its answer was probably lost
        if self.heartbeat_elapsed >= self.heartbeat_tick:
            self.heartbeat_elapsed = 0
            self._bcast_heartbeat(self._read_only.last_context())

    def _step_leader(self, msg: Message) -> None:
        pr = self._progress[msg.frm]
        t = msg.type
        if t is _APPEND_RESP:
            pr.recent_active = True
            self._append_resp(msg, pr)
        elif t is _HEARTBEAT_RESP:
            pr.recent_active = True
            pr.probe_sent = False
            if msg.index > pr.match:
                self._ack(msg.frm, pr, msg.index)  # its committed prefix is surely ours
            if pr.state == ProgressState.REPLICATE and pr.inflights.full():
                pr.inflights.free_first_one()
            if pr.match < self.log.last_index:
                self._send_append(msg.frm, pr, empty_ok=True)
            if msg.context:
                for req in self._read_only.ack(msg.frm, msg.context, self.peers, self.id):
                    self._read_done(req.index, req.context, req.requester)
        elif t is MsgType.READ_INDEX:
            pr.recent_active = True
            self._leader_read_index(msg.context, msg.frm)

    def _append_resp(self, msg: Message, pr: Progress) -> None:
        log = self.log
        if msg.reject:
            hint = msg.reject_hint
            if msg.log_term > 0:
                hint, _ = log.find_conflict_by_term(hint, msg.log_term)
            if pr.maybe_decr_to(msg.index, hint):
                if pr.state == ProgressState.REPLICATE:
                    pr.become_probe()
                self._send_append(msg.frm, pr, empty_ok=True)
            return
        self._ack(msg.frm, pr, msg.index)

    def _ack(self, peer: NodeId, pr: Progress, index: int) -> None:
        """`peer` holds our log up to `index`."""
        log = self.log
        if not pr.maybe_update(index):
            return
        if pr.state == ProgressState.PROBE:
            pr.become_replicate()
        elif pr.state == ProgressState.SNAPSHOT:
            if pr.match + 1 >= log.first_index:
                pr.become_probe()
                pr.become_replicate()
            elif pr.match >= pr.pending_snapshot:
                pr.become_probe()
        else:
            pr.inflights.free_le(index)
        self._maybe_commit()
        self._bcast_pending = True  # send more to this peer, and the new commit to all
        if peer == self._lead_transferee and pr.match == log.last_index:
            self._send(Message(MsgType.TIMEOUT_NOW, self.id, peer, self.term))

    def _maybe_commit(self) -> bool:
        log = self.log
        mci = committed_index(pr.match for pr in self._progress.values())
        if mci <= log.committed or log.term(mci) != self.term:
            return False  # only an entry of the current term commits by counting (§5.4.2)
        log.commit_to(mci)
        if self._pending_reads:
            pending, self._pending_reads = self._pending_reads, []
            for context, requester in pending:
                self._leader_read_index(context, requester)
        return True

    def _flush_appends(self) -> None:
        """Send what each peer lacks (batched since the last flush), or the new commit index."""
        self._bcast_pending = False
        if self.state != _LEADER:
            return
        committed = self.log.committed
        last = self.log.last_index
        progress = self._progress
        for p in self._others:
            pr = progress[p]
            sent = False
            while pr.next <= last and self._send_append(p, pr, empty_ok=False):
                sent = True
            if not sent and pr.sent_commit < committed:
                self._send_append(p, pr, empty_ok=True)

    def _send_append(self, to: NodeId, pr: Progress, *, empty_ok: bool) -> bool:
        """One APPEND (or SNAPSHOT) to `to` if its progress allows; whether one was sent."""
        if pr.is_paused():
            return False
        log = self.log
        prev = pr.next - 1
        if prev < log.offset:
            return self._send_snapshot(to, pr)
        prev_term = log.term(prev)
        if prev_term is None:
            return False  # beyond our log: cannot happen with honest answers; wait for one
        entries = log.entries_from(pr.next, max_count=self.max_entries_per_msg,
                                   max_bytes=self.max_bytes_per_msg)
        if not entries and not empty_ok:
            return False
        committed = log.committed
        self._msgs.append(Message(_APPEND, self.id, to, self.term, prev_term, prev, entries,
                                  committed))
        if committed > pr.sent_commit:
            pr.sent_commit = committed
        if entries:
            pr.sent_entries(entries[-1].index)
        return True

    def _send_snapshot(self, to: NodeId, pr: Progress) -> bool:
        if not pr.recent_active:
            return False  # do not ship a snapshot to a peer that may be down
        snap = self.log.snapshot
        if snap is None:
            raise AssertionError("raft: log compacted without a snapshot")
        self._msgs.append(Message(MsgType.SNAPSHOT, self.id, to, self.term, snapshot=snap))
        pr.become_snapshot(snap.index)
        return True

    def _bcast_heartbeat(self, context: bytes) -> None:
        committed = self.log.committed
        for p in self._others:
            pr = self._progress[p]
            self._msgs.append(Message(_HEARTBEAT, self.id, p, self.term,
                                      commit=min(pr.match, committed), context=context))

    def _leader_read_index(self, context: bytes, requester: NodeId) -> None:
        log = self.log
        if log.term(log.committed) != self.term:
            self._pending_reads.append((context, requester))  # wait for our first commit
            return
        if not self._others:
            self._read_done(log.committed, context, requester)
            return
        self._bcast_heartbeat(self._read_only.add(log.committed, context, requester))

    def _read_done(self, index: int, context: bytes, requester: NodeId) -> None:
        if requester == self.id:
            self._read_states.append(ReadState(index, context))
        else:
            self._send(Message(MsgType.READ_INDEX_RESP, self.id, requester, self.term,
                               index=index, context=context))

