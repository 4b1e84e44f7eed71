"""Watch history: the bounded ring of recent MVCC events that store watches are served from.

Events are appended in revision order as the state machine applies writes; `events_since`
bisects to the first event at a revision and filters by key range. The ring holds at most
`capacity` events but always drops whole revisions, so `floor` (the oldest revision from which
the history is complete) is exact: a watch starting below it gets CompactedError and must
re-list, as an etcd watch on a compacted revision does. A limit never splits a revision, so a
watcher that resumes at `returned revision + 1` sees every event exactly once.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Iterable

from kubemu.cluster.store.errors import CompactedError
from kubemu.cluster.store.mvcc import Event, in_range

__all__ = ["WatchHistory"]


class WatchHistory:
    """Recent events by revision; complete for every revision >= `floor`."""

    def __init__(self, *, capacity: int = 100_000, floor: int = 1) -> None:
        if capacity < 1:
            raise ValueError("watch history capacity must be positive")
        self.capacity = capacity
        self.floor = floor  # history holds every event with revision >= floor
        self._events: list[Event] = []
        self._revs: list[int] = []
        self._head = 0  # index of the oldest retained event

    @property
    def revision(self) -> int:
        """The newest revision seen (every write makes events, so it is the store's)."""
        return max(self._revs[-1] if len(self._revs) > self._head else 1, self.floor - 1)

    def __len__(self) -> int:
        return len(self._events) - self._head

    def reset(self, *, floor: int, events: Iterable[Event] = ()) -> None:
        """Start over (after a snapshot restore) complete from `floor`, holding `events`."""
        self.floor = floor
        self._events = []
        self._revs = []
        self._head = 0
        self.extend(events)

    def extend(self, events: Iterable[Event]) -> None:
        """Append the events of newly applied revisions (in revision order)."""
        for ev in events:
            rev = ev.kv.mod_revision
            if self._revs and rev < self._revs[-1]:
                raise ValueError(f"event at revision {rev} after revision {self._revs[-1]}")
            self._events.append(ev)
            self._revs.append(rev)
        if len(self._events) - self._head > self.capacity:
            self._trim()

    def compact(self, revision: int) -> None:
        """Drop events below `revision` (the store was compacted at `revision`)."""
        if revision <= self.floor:
            return
        self._drop_to(bisect_left(self._revs, revision, self._head), revision)

    def events_since(
        self, key: str, range_end: str, start_revision: int, limit: int = 1000,
        *, current_revision: int | None = None,
    ) -> tuple[list[Event], int]:
        """Events for keys in range with revision >= start_revision, in order, plus the revision
        through which the answer is complete (`current_revision` unless `limit` cut it short;
        a limit never splits one revision's events). `current_revision` defaults to the
        newest revision this history has seen."""
        if current_revision is None:
            current_revision = self.revision
        if start_revision <= 0:
            return [], current_revision
        if start_revision < self.floor:
            raise CompactedError(start_revision, self.floor)
        revs = self._revs
        events = self._events
        out: list[Event] = []
        last_rev = 0
        single = range_end == ""
        for j in range(bisect_left(revs, start_revision, self._head), len(revs)):
            ev = events[j]
            k = ev.kv.key
            if (k == key) if single else in_range(k, key, range_end):
                rev = revs[j]
                if limit and len(out) >= limit and rev != last_rev:
                    return out, rev - 1
                out.append(ev)
                last_rev = rev
        return out, current_revision

    def _trim(self) -> None:
        """Drop the oldest whole revisions until at most `capacity` events remain."""
        cut = len(self._events) - self.capacity  # first index we may keep
        rev = self._revs[cut]
        if self._revs[cut - 1] == rev:
            rev += 1  # do not keep part of a revision
        index = bisect_left(self._revs, rev, self._head)
        self._drop_to(index, self._revs[index - 1] + 1)

    def _drop_to(self, index: int, floor: int) -> None:
        self._head = index
        self.floor = max(self.floor, floor)
        if self._head > 4096 and self._head * 2 > len(self._events):
            del self._events[: self._head]
            del self._revs[: self._head]
            self._head = 0
