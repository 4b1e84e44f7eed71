"""The Raft log: a compaction boundary, then every later entry in one list with an index offset.

Layout: `_entries[k]` is the entry at index `offset + 1 + k`; (`offset`, `offset_term`) is the
boundary left by the latest compaction or installed snapshot (0, 0 for a fresh log). Entries up
to `stabled` are on disk; later ones are unstable and go into the next Ready. `pending_snapshot`
is a leader's snapshot the driver still has to persist and apply; `snapshot` is the latest
snapshot this member knows (its own compaction or an installed one) and is what a leader ships
to followers that fell behind `first_index`.

Every lookup is O(1) (index arithmetic) or O(log n) (bisect on the term, which never decreases
along a log); appends and suffix truncations touch only the entries they add or remove.

Invariants: terms never decrease along the log; offset <= applied-or-snapshot,
applied <= committed <= last_index, offset <= stabled <= last_index; committed entries are never
truncated (an append that would truncate one raises AssertionError: a safety bug somewhere).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from kubemu.cluster.raft.messages import Entry, Snapshot

__all__ = ["RaftLog"]


def _entry_term(e: Entry) -> int:
    return e.term


class RaftLog:
    """Entries after a compaction boundary, with commit/apply/stable positions."""

    __slots__ = (
        "_entries", "offset", "offset_term", "committed", "applied", "stabled",
        "snapshot", "pending_snapshot",
    )

    def __init__(self, *, snapshot: Snapshot | None = None, entries: Sequence[Entry] = ()) -> None:
        """A log restored from disk: the persisted snapshot and the entries after it."""
        self._entries: list[Entry] = []
        self.offset = 0
        self.offset_term = 0
        self.snapshot = snapshot
        self.pending_snapshot: Snapshot | None = None
        if snapshot is not None:
            self.offset, self.offset_term = snapshot.index, snapshot.term
        for e in entries:
            if e.index <= self.offset:
                continue
            if e.index != self.offset + 1 + len(self._entries):
                raise ValueError(f"restored log has a gap: entry {e.index} after "
                                 f"{self.offset + len(self._entries)}")
            self._entries.append(e)
        self.committed = self.offset
        self.applied = self.offset
        self.stabled = self.last_index

    # -- positions ----------------------------------------------------------------------------

    @property
    def first_index(self) -> int:
        return self.offset + 1

    @property
    def last_index(self) -> int:
        return self.offset + len(self._entries)

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else self.offset_term

    def term(self, index: int) -> int | None:
        """The term of the entry at `index`; None if compacted away or beyond the log."""
        k = index - self.offset - 1
        if k < 0:
            return self.offset_term if k == -1 else None
        entries = self._entries
        return entries[k].term if k < len(entries) else None

    def match_term(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a log ending at (last_index, last_term) is at least as up to date (§5.4.1)."""
        my_term = self.last_term
        return last_term > my_term or (last_term == my_term and last_index >= self.last_index)

    # -- reading entries ------------------------------------------------------------------------

    def entries_from(self, lo: int, *, max_count: int, max_bytes: int) -> list[Entry]:
        """Entries from index `lo` on, at most `max_count` and about `max_bytes` (never none
        when any exist: one oversized entry still goes alone)."""
        entries = self._entries
        k = lo - self.offset - 1
        if k < 0:
            raise IndexError(f"entry {lo} is compacted (first index {self.first_index})")
        hi = min(len(entries), k + max_count)
        if k >= hi:
            return []
        size = 0
        j = k
        while j < hi:
            size += len(entries[j].data)
            if size > max_bytes and j > k:
                break
            j += 1
        return entries[k:j]

    def entries_between(self, lo: int, hi: int) -> list[Entry]:
        """Entries with lo <= index <= hi (both inside the log)."""
        off = self.offset + 1
        return self._entries[lo - off:hi - off + 1]

    def unstable_entries(self) -> list[Entry]:
        return self._entries[self.stabled - self.offset:]

    def has_unstable(self) -> bool:
        return self.stabled < self.last_index

    def next_committed_entries(self) -> list[Entry]:
        """Committed entries not applied yet (those after a pending snapshot)."""
        lo = max(self.applied, self.offset)
        if self.committed <= lo:
            return []
        return self._entries[lo - self.offset:self.committed - self.offset]

    def has_next_committed(self) -> bool:
        return self.committed > max(self.applied, self.offset)

    # -- conflict search ------------------------------------------------------------------------

    def find_conflict(self, entries: Sequence[Entry]) -> int:
        """The index of the first of `entries` our log lacks or holds with another term; 0 if
        we hold them all. Matching is a prefix property (Log Matching), so bisect it."""
        if not entries:
            return 0
        last = entries[-1]
        if self.match_term(last.index, last.term):
            return 0
        k = bisect_left(entries, True, key=lambda e: not self.match_term(e.index, e.term))
        return entries[k].index

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest index <= `index` whose entry has a term <= `term`, and that term.

        Used for fast backtracking: a rejected append skips a whole term at a time."""
        k_end = index - self.offset  # entries[:k_end] are the ones at or below index
        if k_end < 0 or index > self.last_index:
            return index, 0
        pos = bisect_right(self._entries, term, 0, k_end, key=_entry_term)
        if pos == 0:
            return self.offset, self.offset_term
        return self.offset + pos, self._entries[pos - 1].term

    # -- mutations ------------------------------------------------------------------------------

    def append(self, entry: Entry) -> None:
        """The leader's append: one new entry right after the last."""
        self._entries.append(entry)

    def maybe_append(self, index: int, log_term: int, committed: int,
                     entries: Sequence[Entry]) -> int | None:
        """A follower's append after (index, log_term); None when that entry does not match.

        Returns the last index the message vouches for; truncates a conflicting suffix."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        ci = self.find_conflict(entries)
        if ci:
            if ci <= self.committed:
                raise AssertionError(f"raft: entry {ci} conflicts with a committed entry "
                                     f"(committed {self.committed})")
            self._truncate_and_append(entries[ci - index - 1:])
        self.commit_to(min(committed, last_new))
        return last_new

    def _truncate_and_append(self, entries: Sequence[Entry]) -> None:
        after = entries[0].index - 1
        if after < self.committed:
            raise AssertionError(f"raft: truncating committed entry {after + 1} "
                                 f"(committed {self.committed})")
        if after != self.last_index:
            del self._entries[after - self.offset:]
            if self.stabled > after:
                self.stabled = after
        self._entries.extend(entries)

    def commit_to(self, index: int) -> None:
        if index > self.committed:
            if index > self.last_index:
                raise AssertionError(f"raft: commit {index} beyond last index {self.last_index}")
            self.committed = index

    def applied_to(self, index: int) -> None:
        if index > self.applied:
            if index > self.committed:
                raise AssertionError(f"raft: applied {index} beyond commit {self.committed}")
            self.applied = index

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to (index, term) are on disk, unless the log changed under them."""
        if index > self.stabled and self.match_term(index, term):
            self.stabled = index

    def stable_snapshot_to(self, snapshot: Snapshot) -> None:
        """The pending snapshot is on disk and applied."""
        pending = self.pending_snapshot
        if pending is not None and pending.index == snapshot.index:
            self.pending_snapshot = None
        if snapshot.index > self.applied and snapshot.index <= self.committed:
            self.applied = snapshot.index

    def restore(self, snapshot: Snapshot) -> None:
        """Install a leader's snapshot: the whole log is replaced by it."""
        self._entries = []
        self.offset, self.offset_term = snapshot.index, snapshot.term
        self.committed = snapshot.index
        self.stabled = snapshot.index
        self.snapshot = snapshot
        self.pending_snapshot = snapshot

    def compact(self, snapshot: Snapshot, *, keep_entries: int = 0) -> None:
        """Our own snapshot at a committed index: drop entries it covers, except the last
        `keep_entries` of them (kept in memory so slightly lagging followers avoid a snapshot)."""
        new_offset = max(self.offset, snapshot.index - max(keep_entries, 0))
        if new_offset > self.offset:
            term = self.term(new_offset)
            assert term is not None
            del self._entries[:new_offset - self.offset]
            self.offset, self.offset_term = new_offset, term
        self.snapshot = snapshot
        if self.stabled < snapshot.index:
            self.stabled = snapshot.index  # the snapshot, persisted by the driver, covers them
