"""Elections and role changes of a Raft member (a mixin of `RaftCore`).

A follower whose randomised election timeout (in [election_tick, 2 * election_tick) ticks)
passes campaigns: first a PRE_VOTE round at term + 1 that changes no one's term or vote, then,
with a majority of pre-votes, a real election (term + 1, vote for itself). TIMEOUT_NOW and
forced campaigns skip pre-vote and carry TRANSFER_CONTEXT, which overrides the leader
stickiness that otherwise makes members ignore (pre)votes while they hear from a leader.

Invariants: a member grants at most one vote per term, only to a log at least as up to date as
its own (§5.4.1); a granted pre-vote answers with the candidate's future term; every role
change resets the election timer, the votes and the leader's bookkeeping.
"""

from __future__ import annotations

import random

from kubemu.cluster.raft.log import RaftLog
from kubemu.cluster.raft.messages import NONE, Message, MsgType, NodeId, StateType
from kubemu.cluster.raft.progress import Progress
from kubemu.cluster.raft.quorum import VoteResult, vote_result
from kubemu.cluster.raft.read_only import ReadOnly

__all__ = ["Election", "TRANSFER_CONTEXT"]

TRANSFER_CONTEXT = b"transfer"
"""The (pre)vote context of a leadership-transfer campaign: it overrides leader stickiness."""

_APPEND, _HEARTBEAT = MsgType.APPEND, MsgType.HEARTBEAT
_PRE_VOTE = MsgType.PRE_VOTE
_LEADER, _FOLLOWER = StateType.LEADER, StateType.FOLLOWER


class Election:
    id: NodeId
    peers: tuple[NodeId, ...]
    _others: tuple[NodeId, ...]
    _rng: random.Random
    election_tick: int
    pre_vote: bool
    log: RaftLog
    term: int
    vote: NodeId
    leader: NodeId
    state: StateType
    election_elapsed: int
    heartbeat_elapsed: int
    _randomized_timeout: int
    _votes: dict[NodeId, bool]
    _progress: dict[NodeId, Progress]
    _lead_transferee: NodeId
    _read_only: ReadOnly
    _pending_reads: list[tuple[bytes, NodeId]]
    _forwarded_reads: dict[bytes, None]
    _bcast_pending: bool
    # uses from the other parts of RaftCore: _become_leader (Leader), _step_follower,
    # _read_index_resp, _send (core)

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
            self._forwarded_reads.clear()  # answers from older terms are dropped anyway
        self.leader = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._reset_randomized_timeout()
        self._lead_transferee = NONE
        self._votes = {}
        self._progress = {}
        self._read_only.reset()
        self._pending_reads = []
        self._bcast_pending = False

    def _reset_randomized_timeout(self) -> None:
        self._randomized_timeout = self.election_tick + self._rng.randrange(self.election_tick)

    def _become_follower(self, term: int, leader: NodeId) -> None:
        self._reset(term)
        self.leader = leader
        self.state = _FOLLOWER

