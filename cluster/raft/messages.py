"""Raft messages, log entries, snapshots and the Ready batch: the core's whole vocabulary.

These are plain slotted dataclasses so the core stays a pure state machine (etcd-io/raft's
model): the driver feeds `Message`s in through `step`, and takes a `Ready` out holding what to
persist, what to send and what to apply. Every type converts to and from a msgpack-friendly
tuple (`to_wire` / `from_wire`) so the same values cross Ray actor calls, the simulated network
and the WAL without pickling.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

NodeId = int
"""A replica's id: a small positive integer, unique in the group. 0 means none."""

NONE: NodeId = 0


class MsgType(enum.IntEnum):
    PRE_VOTE = 1
    PRE_VOTE_RESP = 2
    VOTE = 3
    VOTE_RESP = 4
    APPEND = 5  # entries (possibly none) from the leader; carries its commit index
    APPEND_RESP = 6  # reject=True with reject_hint on a log mismatch
    HEARTBEAT = 7  # commit=min(follower match, leader commit); context carries a ReadIndex round
    HEARTBEAT_RESP = 8
    SNAPSHOT = 9  # InstallSnapshot: snapshot field set
    READ_INDEX = 10  # follower -> leader: asks for a read index for `context`
    READ_INDEX_RESP = 11  # leader -> follower: index is the read index for `context`
    TIMEOUT_NOW = 12  # leadership transfer: campaign now, skipping pre-vote


class EntryType(enum.IntEnum):
    NORMAL = 0  # data is an opaque command for the state machine
    EMPTY = 1  # the no-op a new leader appends to commit entries of earlier terms


@dataclass(slots=True)
class Entry:
    term: int
    index: int
    data: bytes = b""
    type: EntryType = EntryType.NORMAL

    def to_wire(self) -> tuple:
        return (self.term, self.index, self.data, int(self.type))

    @classmethod
    def from_wire(cls, w: tuple | list) -> Entry:
        return cls(w[0], w[1], bytes(w[2]), EntryType(w[3]))


@dataclass(slots=True)
class Snapshot:
    """State-machine image at `index` (whose entry had `term`), with the group's members.

    `data` is bytes, or what `bytes()` turns into them: a driver that has the snapshot on disk
    may keep a reference to the file instead of the image (`RaftCore.offload_snapshot`)."""

    index: int
    term: int
    members: tuple[NodeId, ...]
    data: bytes

    def to_wire(self) -> tuple:
        return (self.index, self.term, list(self.members), bytes(self.data))

    @classmethod
    def from_wire(cls, w: tuple | list) -> Snapshot:
        return cls(w[0], w[1], tuple(w[2]), bytes(w[3]))


@dataclass(slots=True)
class HardState:
    """What must be on disk before any message that depends on it is sent."""

    term: int = 0
    vote: NodeId = NONE
    commit: int = 0

    def to_wire(self) -> tuple:
        return (self.term, self.vote, self.commit)

    @classmethod
    def from_wire(cls, w: tuple | list) -> HardState:
        return cls(w[0], w[1], w[2])


@dataclass(slots=True)
class Message:
    type: MsgType
    frm: NodeId
    to: NodeId
    term: int = 0
    log_term: int = 0  # APPEND: term of the entry at `index`; votes: candidate's last log term
    index: int = 0  # APPEND: index preceding `entries`; votes: candidate's last index;
    # APPEND_RESP: the follower's last matching index (or the rejected index when reject)
    entries: list[Entry] = field(default_factory=list)
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0  # APPEND_RESP reject: the follower's last index, to probe from
    snapshot: Snapshot | None = None
    context: bytes = b""  # ReadIndex request id; pre-vote/vote "transfer" marker

    def to_wire(self) -> tuple:
        return (
            int(self.type), self.frm, self.to, self.term, self.log_term, self.index,
            [e.to_wire() for e in self.entries], self.commit, self.reject, self.reject_hint,
            None if self.snapshot is None else self.snapshot.to_wire(), self.context,
        )

    @classmethod
    def from_wire(cls, w: tuple | list) -> Message:
        return cls(
            MsgType(w[0]), w[1], w[2], w[3], w[4], w[5],
            [Entry.from_wire(e) for e in w[6]], w[7], bool(w[8]), w[9],
            None if w[10] is None else Snapshot.from_wire(w[10]), bytes(w[11]),
        )


@dataclass(slots=True)
class ReadState:
    """A linearizable read may be served once the state machine has applied `index`."""

    index: int
    context: bytes


class StateType(enum.IntEnum):
    FOLLOWER = 0
    PRE_CANDIDATE = 1
    CANDIDATE = 2
    LEADER = 3


@dataclass(slots=True)
class SoftState:
    leader: NodeId
    state: StateType


@dataclass(slots=True)
class Ready:
    """One batch of work for the driver, handled in order and acknowledged with `advance`.

    1. persist `hard_state` (if not None), `snapshot` (if not None) and `entries` (fsync);
    2. send `messages` (a leader may send before step 1 when the Ready moves neither term nor
       vote and holds no snapshot: its own entries count toward commit only after `advance`);
    3. apply `snapshot` (if not None) then `committed_entries` to the state machine;
    4. serve the `read_states` once applied >= their index;
    5. call `core.advance(ready)`.
    """

    soft_state: SoftState
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    messages: list[Message] = field(default_factory=list)
    committed_entries: list[Entry] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)

    def contains_updates(self) -> bool:
        return bool(
            self.hard_state is not None or self.entries or self.snapshot is not None
            or self.messages or self.committed_entries or self.read_states
        )
