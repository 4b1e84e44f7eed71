"""RaftCore: one member of a Raft group as a pure state machine, in the style of etcd-io/raft.

No sockets, threads or clocks: time is `tick()`, randomness the injected `random.Random`, input
is `step(msg)` / `propose` / `read_index`, output is a `Ready` (what to persist, send, apply)
acknowledged with `advance`. Features: pre-vote, check-quorum with leader stickiness, a no-op
EMPTY entry per new leader, commit only by counting replicas of a current-term entry (§5.4.2),
pipelined and batched replication with fast backtracking, snapshots for followers behind the
compacted log, ReadIndex reads, leadership transfer (TIMEOUT_NOW). This module holds the public
API, message dispatch, the Ready cycle and the follower's side; `election` and `leader` hold the
other roles (mixins sharing this state).

Invariants: a member votes at most once per term (term and vote reach disk in Ready.hard_state
before any message that depends on them is sent); the leader counts its own log for commit only
up to what `advance` reported persisted; committed entries are never truncated; messages of
stale terms are ignored (or answered so a stale leader steps down), so duplicated, reordered
and delayed messages are safe. A HEARTBEAT_RESP carries the follower's commit index: a
committed prefix is in every later leader's log, so the leader may count it as matched (this
also ends a SNAPSHOT state whose answer was lost). Between `ready()` and `advance()` the core
may keep stepping, but `ready()` must not be called again before that `advance()`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from kubemu.cluster.raft.election import TRANSFER_CONTEXT, Election
from kubemu.cluster.raft.leader import Leader
from kubemu.cluster.raft.log import RaftLog
from kubemu.cluster.raft.messages import (
    NONE, Entry, EntryType, HardState, Message, MsgType, NodeId, ReadState, Ready, Snapshot,
    SoftState, StateType,
)
from kubemu.cluster.raft.progress import Progress
from kubemu.cluster.raft.read_only import ReadOnly

__all__ = ["NotLeaderError", "RaftCore", "TRANSFER_CONTEXT"]

_APPEND, _APPEND_RESP = MsgType.APPEND, MsgType.APPEND_RESP
_HEARTBEAT, _HEARTBEAT_RESP = MsgType.HEARTBEAT, MsgType.HEARTBEAT_RESP
_VOTE, _PRE_VOTE = MsgType.VOTE, MsgType.PRE_VOTE
_LEADER, _FOLLOWER = StateType.LEADER, StateType.FOLLOWER
_MAX_FORWARDED_READS = 4096


class NotLeaderError(Exception):
    """This member cannot serve the request; `leader` is a hint (NONE if unknown)."""

    def __init__(self, leader: NodeId = NONE) -> None:
        super().__init__(f"not the leader (leader hint: {leader})")
        self.leader = leader


class RaftCore(Election, Leader):
    """One Raft member; see the module docstring and the shared contract."""

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
        self._forwarded_reads: dict[bytes, None] = {}  # an ordered set, oldest first
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

    def offload_snapshot(self, index: int, data: object) -> bool:
        """The driver holds the snapshot at `index` durably: keep `data` (whose `bytes()` reads
        the image back, e.g. from its file) in place of the image in memory. Only for the
        latest snapshot once it is persisted and applied; False (nothing changed) otherwise."""
        log = self.log
        snap = log.snapshot
        if snap is None or snap.index != index or log.pending_snapshot is not None:
            return False
        log.snapshot = Snapshot(snap.index, snap.term, snap.members, data)  # type: ignore[arg-type]
        return True

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
            forwarded = self._forwarded_reads
            forwarded[context] = None
            if len(forwarded) > _MAX_FORWARDED_READS:  # answers lost: forget the oldest
                del forwarded[next(iter(forwarded))]
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
        if self._forwarded_reads.pop(msg.context, False) is None:  # was pending
            self._read_states.append(ReadState(msg.index, msg.context))

    def _send(self, msg: Message) -> None:
        self._msgs.append(msg)

