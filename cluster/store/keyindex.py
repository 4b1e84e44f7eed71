"""SortedKeys: the MVCC store's sorted key index, O(log n) to grow, shrink and search.

A plain sorted list costs O(n) per new key (`bisect.insort` moves the tail: 20 us at 100k keys).
An earlier version appended new keys to a pending list and merged them at the next read -- O(1)
per key in a burst of creates, but a busy cluster reads ranges between writes all the time (a
pod create reads the PriorityClasses), so nearly every read re-sorted or insorted the whole
list: a quarter of the leader's CPU with 10,000 pods under churn. sortedcontainers' SortedList
(a list of sorted sublists of about a thousand keys) adds, removes and bisects in O(log n), so
a range costs the same whatever was written since the last one.
Invariants: the keys are sorted and duplicate-free (callers add only absent keys and remove
only present ones); `bounds` are positions in that order, valid until the next change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sortedcontainers import SortedList

__all__ = ["SortedKeys", "ALL_KEYS"]

ALL_KEYS = "\0"  # etcd's range_end meaning "every key from `key` on"


class SortedKeys:
    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._keys = SortedList(keys)

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, key: str) -> None:
        """Add a key that is not in the index."""
        self._keys.add(key)

    def remove(self, key: str) -> None:
        """Remove a key that is in the index."""
        self._keys.remove(key)

    def bounds(self, key: str, range_end: str) -> tuple[int, int]:
        """Positions [lo, hi) of the keys in etcd's range [key, range_end) (`range_end`
        ALL_KEYS: every key from `key` on)."""
        keys = self._keys
        lo = keys.bisect_left(key)
        if range_end == ALL_KEYS:
            return lo, len(keys)
        if range_end <= key:
            return lo, lo
        return lo, max(lo, keys.bisect_left(range_end))

    def between(self, lo: int, hi: int) -> Iterator[str]:
        """The keys at positions [lo, hi), lazily (a reader may stop early)."""
        return self._keys.islice(lo, hi)

    def slice(self, lo: int, hi: int) -> list[str]:
        """The keys at positions [lo, hi)."""
        return list(self._keys.islice(lo, hi))

    def remove_slice(self, lo: int, hi: int) -> list[str]:
        """Remove and return the keys at positions [lo, hi)."""
        removed = self.slice(lo, hi)
        del self._keys[lo:hi]
        return removed

    def live(self) -> SortedList:
        """The index itself, read-only (bisect_left/bisect_right, islice): a reader that
        finishes before the next change needs no copy."""
        return self._keys

    def sorted(self) -> list[str]:
        """Every key in order, as a new list (O(n): for snapshots and whole-store scans)."""
        return list(self._keys)
