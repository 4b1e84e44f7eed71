"""SortedKeys: the MVCC store's sorted key index, cheap to grow by new keys.

A plain sorted list costs O(n) per new key (`bisect.insort` moves the tail: 20 us at 100k keys,
twice per put of a new key). Here a new key is only appended to a pending list; the pending
keys are merged into the sorted list the next time its order is read (a range, a delete, a
snapshot). A merge of a few keys insorts them (what the plain list costs anyway); a larger one
sorts the list once (Timsort merges the sorted prefix with the sorted tail in linear time), so
a burst of creates with no read in between costs O(1) each.
Invariants: `_keys` is sorted and duplicate-free; a pending key is in neither `_keys` nor
pending twice (callers add only absent keys and remove only present ones); `sorted()` is
`_keys` after merging everything pending.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

__all__ = ["SortedKeys"]

_INSORT_AT_MOST = 8  # pending keys merged one by one; more are merged by one sort


class SortedKeys:
    __slots__ = ("_keys", "_pending")

    def __init__(self, sorted_keys: Iterable[str] = ()) -> None:
        self._keys: list[str] = list(sorted_keys)
        self._pending: list[str] = []

    def __len__(self) -> int:
        return len(self._keys) + len(self._pending)

    def add(self, key: str) -> None:
        """Add a key that is not in the index."""
        self._pending.append(key)

    def remove(self, key: str) -> None:
        """Remove a key that is in the index."""
        keys = self.sorted()
        del keys[bisect_left(keys, key)]

    def remove_slice(self, lo: int, hi: int) -> list[str]:
        """Remove and return `sorted()[lo:hi]`."""
        keys = self.sorted()
        removed = keys[lo:hi]
        del keys[lo:hi]
        return removed

    def sorted(self) -> list[str]:
        """Every key in order: the index's own list (read it, do not change it)."""
        pending = self._pending
        if pending:
            keys = self._keys
            if len(pending) <= _INSORT_AT_MOST:
                for key in pending:
                    insort(keys, key)
            else:
                keys += pending
                keys.sort()
            self._pending = []
        return self._keys
