"""RaftCore: one member of a Raft group as a pure state machine, in the style of etcd-io/raft.

No sockets, threads or clocks: time is `tick()`, randomness the injected `random.Random`, input
is `step(msg)` / `propose` / `read_index`, output is a `Ready` (what to persist, send, apply)
acknowledged with `advance`. Features: pre-vote, check-quorum with leader stickiness, a no-op
EMPTY entry per new leader, commit only by counting replicas of a current-term entry (§5.4.2),
pipelined and batched replication with fast backtracking, snapshots for followers behind the
compacted log, ReadIndex reads, leadership transfer (TIMEOUT_NOW).

Invariants: a member votes at most once per term (term and vote reach disk in Ready.hard_state
before any message that depends on them is sent); the leader counts its own log for commit only
up to what `advance` reported persisted; committed entries are never truncated; messages of
stale terms are ignored (or answered so a stale leader steps down), so duplicated, reordered
and delayed messages are safe. A HEARTBEAT_RESP carries the follower's commit index: a
committed prefix is in every later leader's log, so the leader may count it as matched (this
also ends a SNAPSHOT state whose answer was lost). Between `ready()` and `advance()` the core may keep stepping,
but `ready()` must not be called again before that `advance()`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from kubemu.cluster.raft.log import RaftLog
from kubemu.cluster.raft.messages import (
    NONE, Entry, EntryType, HardState, Message, MsgType, NodeId, ReadState, Ready, Snapshot,
    SoftState, StateType,
)
from kubemu.cluster.raft.progress import Inflights, Progress, ProgressState
from kubemu.cluster.raft.quorum import VoteResult, committed_index, has_quorum, vote_result
from kubemu.cluster.raft.read_only import ReadOnly

__all__ = ["NotLeaderError", "RaftCore", "TRANSFER_CONTEXT"]

TRANSFER_CONTEXT = b"transfer"
"""The (pre)vote context of a leadership-transfer campaign: it overrides leader stickiness."""

_APPEND, _APPEND_RESP = MsgType.APPEND, MsgType.APPEND_RESP
_HEARTBEAT, _HEARTBEAT_RESP = MsgType.HEARTBEAT, MsgType.HEARTBEAT_RESP
_VOTE, _PRE_VOTE = MsgType.VOTE, MsgType.PRE_VOTE
_LEADER, _FOLLOWER = StateType.LEADER, StateType.FOLLOWER


class NotLeaderError(Exception):
    """This member cannot serve the request; `leader` is a hint (NONE if unknown)."""

    def __init__(self, leader: NodeId = NONE) -> None:
        super().__init__(f"not the leader (leader hint: {leader})")
        self.leader = leader


class RaftCore:
    def __init__(self, id: NodeId, peers: Sequence[NodeId], *, rng: random.Random,
                 election_tick: int = 10, heartbeat_tick: int = 1, pre_vote: bool = True,
                 check_quorum: bool = True, max_entries_per_msg: int = 512,
                 max_bytes_per_msg: int = 1 << 20, max_inflight: int = 64,
                 snapshot_timeout_tick: int | None = None,
                 hard_state: HardState | None = None, snapshot: Snapshot | None = None,
                 entries: Sequence[Entry] = ()) -> None:
        if id == NONE or id not in peers:
            raise ValueError(f"member id {id} must be one of the peers {tuple(peers)}")
        if heartbeat_tick < 1 or election_tick <= heartbeat_tick:
            raise ValueError("need 1 <= heartbeat_tick < election_tick")
        self.id = id
        self.peers: tuple[NodeId, ...] = tuple(sorted(set(peers)))
        self._others = tuple(p for p in self.peers if p != id)
        self._rng = rng
        self.election_tick = election_tick
        self.heartbeat_tick = heartbeat_tick
        self.pre_vote = pre_vote
        self.check_quorum = check_quorum
        self.max_entries_per_msg = max(1, max_entries_per_msg)
        self.max_bytes_per_msg = max_bytes_per_msg
        self.max_inflight = max(1, max_inflight)
        self.snapshot_timeout_tick = snapshot_timeout_tick or 5 * election_tick
        self.log = RaftLog(snapshot=snapshot, entries=entries)
        hs = hard_state or HardState()
        self.term = hs.term
        self.vote = hs.vote
        self.log.commit_to(min(hs.commit, self.log.last_index))
        self.leader = NONE
        self.state = _FOLLOWER
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._randomized_timeout = election_tick
        self._progress: dict[NodeId, Progress] = {}
        self._votes: dict[NodeId, bool] = {}
        self._lead_transferee = NONE
        self._read_only = ReadOnly()
        self._pending_reads: list[tuple[bytes, NodeId]] = []  # until a current-term commit
        self._forwarded_reads: set[bytes] = set()
        self._msgs: list[Message] = []
        self._read_states: list[ReadState] = []
        self._bcast_pending = False
        self._prev_hard = HardState(self.term, self.vote, self.log.committed)
        self._prev_soft = (NONE, _FOLLOWER)
        self._become_follower(self.term, NONE)

    # -- public state -----------------------------------------------------------------------------

    @property
    def commit(self) -> int:
        return self.log.committed

    @property
    def applied(self) -> int:
        return self.log.applied

    @property
    def last_index(self) -> int:
        return self.log.last_index

    @property
    def last_term(self) -> int:
        return self.log.last_term

    @property
    def first_index(self) -> int:
        return self.log.first_index

    @property
    def lead_transferee(self) -> NodeId:
        return self._lead_transferee

    def snapshot(self) -> Snapshot | None:
        """The latest snapshot (own compaction or installed from a leader), for persistence."""
        return self.log.snapshot

    def status(self) -> dict:
        st = {
            "id": self.id, "term": self.term, "vote": self.vote, "leader": self.leader,
            "state": self.state.name, "commit": self.log.committed, "applied": self.log.applied,
            "last_index": self.log.last_index, "first_index": self.log.first_index,
        }
        if self.state == _LEADER:
            st["progress"] = {p: pr.to_dict() for p, pr in self._progress.items()}
            st["lead_transferee"] = self._lead_transferee
        return st

    # -- inputs -----------------------------------------------------------------------------------

    def tick(self) -> None:
        if self.state == _LEADER:
            self._tick_heartbeat()
        else:
            self.election_elapsed += 1
            if self.election_elapsed >= self._randomized_timeout:
                self.election_elapsed = 0
                self._hup(transfer=False)

    def campaign(self, *, force: bool = False) -> None:
        """Start an election now: with pre-vote (if enabled) unless `force`, which campaigns
        for real with the transfer context so leader stickiness does not block it."""
        self._hup(transfer=force)

    def propose(self, data: bytes) -> int:
        if self.state != _LEADER:
            raise NotLeaderError(self.leader)
        if self._lead_transferee != NONE:
            raise NotLeaderError(self._lead_transferee)
        index = self.log.last_index + 1
        self.log.append(Entry(self.term, index, data, EntryType.NORMAL))
        self._bcast_pending = True
        return index

    def read_index(self, context: bytes) -> None:
        if self.state == _LEADER:
            self._leader_read_index(context, self.id)
        elif self.leader == NONE:
            raise NotLeaderError(NONE)
        else:
            self._forwarded_reads.add(context)
            self._send(Message(MsgType.READ_INDEX, self.id, self.leader, self.term,
                               context=context))

    def transfer_leadership(self, to: NodeId) -> None:
        if self.state != _LEADER:
            raise NotLeaderError(self.leader)
        if to not in self.peers:
            raise ValueError(f"{to} is not a member")
        if to == self.id or to == self._lead_transferee:
            return
        self._lead_transferee = to
        self.election_elapsed = 0  # the transfer must finish within one election timeout
        pr = self._progress[to]
        if pr.match == self.log.last_index:
            self._send(Message(MsgType.TIMEOUT_NOW, self.id, to, self.term))
        else:
            self._send_append(to, pr, empty_ok=True)

    def compact(self, index: int, data: bytes, *, keep_entries: int = 0) -> None:
        """`data` is the state machine's image at applied index `index`: make it the snapshot
        and drop log entries <= index (but the last `keep_entries` of them)."""
        log = self.log
        if log.snapshot is not None and index <= log.snapshot.index:
            return
        if index > log.committed:
            raise ValueError(f"cannot compact to {index}: only {log.committed} is committed")
        term = log.term(index)
        if term is None:
            raise ValueError(f"cannot compact to {index}: entry already compacted")
        log.compact(Snapshot(index, term, self.peers, data), keep_entries=keep_entries)

    def step(self, msg: Message) -> None:
        if msg.to != self.id or msg.frm == self.id or msg.frm not in self.peers:
            return
        t = msg.type
        if msg.term > self.term:
            if t is _VOTE or t is _PRE_VOTE:
                in_lease = (self.check_quorum and self.leader != NONE
                            and self.election_elapsed < self.election_tick)
                if in_lease and msg.context != TRANSFER_CONTEXT:
                    return  # leader stickiness: we heard from a leader within the timeout
            if t is _PRE_VOTE or (t is MsgType.PRE_VOTE_RESP and not msg.reject):
                pass  # pre-votes never move terms; granted ones carry the future term
            elif t is _APPEND or t is _HEARTBEAT or t is MsgType.SNAPSHOT:
                self._become_follower(msg.term, msg.frm)
            else:
                self._become_follower(msg.term, NONE)
        elif msg.term < self.term:
            if (self.check_quorum or self.pre_vote) and (t is _APPEND or t is _HEARTBEAT):
                # a stale leader (e.g. after a partition): tell it our term so it steps down
                self._send(Message(_APPEND_RESP, self.id, msg.frm, self.term))
            elif t is _PRE_VOTE:
                self._send(Message(MsgType.PRE_VOTE_RESP, self.id, msg.frm, self.term,
                                   reject=True))
            return
        if t is _VOTE or t is _PRE_VOTE:
            self._handle_vote(msg)
        elif self.state == _LEADER:
            self._step_leader(msg)
        elif self.state == _FOLLOWER:
            self._step_follower(msg)
        else:
            self._step_candidate(msg)

    # -- Ready ------------------------------------------------------------------------------------

    def has_ready(self) -> bool:
        if self._bcast_pending:
            self._flush_appends()
        log = self.log
        return bool(
            self._msgs or self._read_states or log.has_unstable()
            or log.pending_snapshot is not None or log.has_next_committed()
            or self._prev_soft != (self.leader, self.state)
            or self._prev_hard.term != self.term or self._prev_hard.vote != self.vote
            or self._prev_hard.commit != log.committed
        )

    def ready(self) -> Ready:
        if self._bcast_pending:
            self._flush_appends()
        log = self.log
        hs = HardState(self.term, self.vote, log.committed)
        rd = Ready(
            soft_state=SoftState(self.leader, self.state),
            hard_state=None if hs == self._prev_hard else hs,
            entries=log.unstable_entries(),
            snapshot=log.pending_snapshot,
            messages=self._msgs,
            committed_entries=log.next_committed_entries(),
            read_states=self._read_states,
        )
        self._prev_hard = hs
        self._prev_soft = (self.leader, self.state)
        self._msgs = []
        self._read_states = []
        return rd

    def advance(self, rd: Ready) -> None:
        log = self.log
        if rd.snapshot is not None:
            log.stable_snapshot_to(rd.snapshot)
        if rd.entries:
            last = rd.entries[-1]
            log.stable_to(last.index, last.term)
        if rd.committed_entries:
            log.applied_to(rd.committed_entries[-1].index)
        if self.state == _LEADER and self._progress[self.id].maybe_update(log.stabled):
            if self._maybe_commit():
                self._bcast_pending = True

    # -- elections --------------------------------------------------------------------------------

    def _hup(self, *, transfer: bool) -> None:
        if self.state == _LEADER:
            return
        self._campaign(pre=self.pre_vote and not transfer, transfer=transfer)

    def _campaign(self, *, pre: bool, transfer: bool) -> None:
        if pre:
            self._votes = {}
            self.leader = NONE
            self.state = StateType.PRE_CANDIDATE
            self._reset_randomized_timeout()
            vote_type, term = MsgType.PRE_VOTE, self.term + 1
        else:
            self._reset(self.term + 1)
            self.vote = self.id
            self.state = StateType.CANDIDATE
            vote_type, term = MsgType.VOTE, self.term
        self._votes[self.id] = True
        if vote_result(self._votes, self.peers) is VoteResult.WON:  # a group of one
            if pre:
                self._campaign(pre=False, transfer=transfer)
            else:
                self._become_leader()
            return
        context = TRANSFER_CONTEXT if transfer else b""
        last_index, last_term = self.log.last_index, self.log.last_term
        for p in self._others:
            self._send(Message(vote_type, self.id, p, term, log_term=last_term,
                               index=last_index, context=context))

    def _handle_vote(self, msg: Message) -> None:
        pre = msg.type is _PRE_VOTE
        resp = MsgType.PRE_VOTE_RESP if pre else MsgType.VOTE_RESP
        can_vote = (self.vote == msg.frm or (self.vote == NONE and self.leader == NONE)
                    or (pre and msg.term > self.term))
        if can_vote and self.log.is_up_to_date(msg.index, msg.log_term):
            self._send(Message(resp, self.id, msg.frm, msg.term))
            if not pre:
                self.election_elapsed = 0
                self.vote = msg.frm
        else:
            self._send(Message(resp, self.id, msg.frm, self.term, reject=True))

    def _step_candidate(self, msg: Message) -> None:
        t = msg.type
        if t is _APPEND or t is _HEARTBEAT or t is MsgType.SNAPSHOT:
            self._become_follower(msg.term, msg.frm)
            self._step_follower(msg)
            return
        pre = self.state == StateType.PRE_CANDIDATE
        if t is (MsgType.PRE_VOTE_RESP if pre else MsgType.VOTE_RESP):
            if pre and not msg.reject and msg.term != self.term + 1:
                return  # a grant from an older pre-vote round
            self._votes.setdefault(msg.frm, not msg.reject)
            result = vote_result(self._votes, self.peers)
            if result is VoteResult.WON:
                if pre:
                    self._campaign(pre=False, transfer=False)
                else:
                    self._become_leader()
            elif result is VoteResult.LOST:
                self._become_follower(self.term, NONE)
        elif t is MsgType.READ_INDEX_RESP:
            self._read_index_resp(msg)

    def _reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.leader = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._reset_randomized_timeout()
        self._lead_transferee = NONE
        self._votes = {}
        self._progress = {}
        self._read_only.reset()
        self._pending_reads = []
        self._forwarded_reads.clear()
        self._bcast_pending = False

    def _reset_randomized_timeout(self) -> None:
        self._randomized_timeout = self.election_tick + self._rng.randrange(self.election_tick)

    def _become_follower(self, term: int, leader: NodeId) -> None:
        self._reset(term)
        self.leader = leader
        self.state = _FOLLOWER

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

    # -- the leader -------------------------------------------------------------------------------

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
        progress = self._progress
        for p in self._others:
            pr = progress[p]
            sent = False
            while self._send_append(p, pr, empty_ok=False):
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

    # -- the follower -----------------------------------------------------------------------------

    def _step_follower(self, msg: Message) -> None:
        t = msg.type
        if t is _APPEND:
            self.election_elapsed = 0
            self.leader = msg.frm
            self._handle_append(msg)
        elif t is _HEARTBEAT:
            self.election_elapsed = 0
            self.leader = msg.frm
            log = self.log
            log.commit_to(min(msg.commit, log.last_index))
            self._send(Message(_HEARTBEAT_RESP, self.id, msg.frm, self.term,
                               index=log.committed, context=msg.context))
        elif t is MsgType.SNAPSHOT:
            self.election_elapsed = 0
            self.leader = msg.frm
            self._handle_snapshot(msg)
        elif t is MsgType.TIMEOUT_NOW:
            self._hup(transfer=True)
        elif t is MsgType.READ_INDEX_RESP:
            self._read_index_resp(msg)

    def _handle_append(self, msg: Message) -> None:
        log = self.log
        if msg.index < log.committed:
            self._send(Message(_APPEND_RESP, self.id, msg.frm, self.term, index=log.committed))
            return
        last_new = log.maybe_append(msg.index, msg.log_term, msg.commit, msg.entries)
        if last_new is not None:
            self._send(Message(_APPEND_RESP, self.id, msg.frm, self.term, index=last_new))
            return
        hint_index, hint_term = log.find_conflict_by_term(
            min(msg.index, log.last_index), msg.log_term)
        self._send(Message(_APPEND_RESP, self.id, msg.frm, self.term, log_term=hint_term,
                           index=msg.index, reject=True, reject_hint=hint_index))

    def _handle_snapshot(self, msg: Message) -> None:
        snap = msg.snapshot
        log = self.log
        if snap is None:
            return
        if snap.index <= log.committed:
            pass  # nothing new: answer with our commit so the leader moves on
        elif log.match_term(snap.index, snap.term):
            log.commit_to(snap.index)  # we hold that entry: just fast-forward the commit
        else:
            log.restore(snap)
        self._send(Message(_APPEND_RESP, self.id, msg.frm, self.term, index=log.committed))

    def _read_index_resp(self, msg: Message) -> None:
        if msg.context in self._forwarded_reads:
            self._forwarded_reads.discard(msg.context)
            self._read_states.append(ReadState(msg.index, msg.context))

    def _send(self, msg: Message) -> None:
        self._msgs.append(msg)
