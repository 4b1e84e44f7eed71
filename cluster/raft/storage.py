"""What a Raft member finds on its disk when it starts: the recovered durable state.

The WAL (`kubemu.cluster.store.wal`) produces a `Recovered`; `RaftCore` and `StoreMember`
consume it. A member that has never run recovers `Recovered()` (all empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubemu.cluster.raft.messages import Entry, HardState, Snapshot


@dataclass(slots=True)
class Recovered:
    hard_state: HardState | None = None
    snapshot: Snapshot | None = None
    entries: list[Entry] = field(default_factory=list)  # after the snapshot, in index order
