"""EventRing: the recent store events a late watcher is replayed from, bounded by count and
by bytes.

The watch mux and each resource's feed keep a ring of (revision, item) in revision order,
so a watcher that resumes from a recent resourceVersion is served from memory. Counting
events alone let a resource of large objects hold gigabytes: an EndpointSlice of 100
endpoints is ~28 KB, each update carries the previous one too, and its decoded and encoded
forms were kept as well (10,000 pods behind 100 Services left about 1.2 GB in an API
server). So a ring holds at most `count` items and at most `size` bytes (an item's size is
what the store sent: its value and its previous value), always keeping the newest item.
Evicting an item moves `floor`: every item at a revision >= floor is held, and a watcher
starting below it reads the store instead, as one older than a count-bound ring always has.

`cool` is called on each item once the newer items after it exceed `hot` bytes (of JSON: the
store sends values compressed, and the decoded objects grow with the JSON): a feed's `Change`
then drops its decoded and encoded objects (and decodes again if a slow watcher still asks),
so what a ring holds is mostly the bytes the store sent.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import Any

from kubemu.cluster.api import transformer

__all__ = ["EventRing", "event_size"]


def event_size(event: dict, *, decoded: bool = False) -> int:
    """The bytes a store watch event carries: its value and its previous value; with
    `decoded`, the length of their JSON (values are stored compressed: `transformer`), which
    is what their decoded and encoded objects grow with."""
    measure = transformer.json_size if decoded else len
    size = measure(event["kv"].get("value") or b"")
    prev = event.get("prev_kv")
    if prev is not None:
        size += measure(prev.get("value") or b"")
    return size


class EventRing:
    def __init__(self, *, count: int, size: int, hot: int = 0,
                 cool: Callable[[Any], None] | None = None) -> None:
        self.count = count
        self.size = size
        self.hot = hot
        self.floor = 0  # every item at a revision >= floor is held (set by the owner)
        self.bytes = 0
        self._items: collections.deque[tuple[int, Any, int]] = collections.deque()
        self._cool = cool
        self._hot: collections.deque[tuple[Any, int]] = collections.deque()
        self._hot_bytes = 0

    def append(self, revision: int, item: Any, size: int, hot_size: int | None = None) -> None:
        """Hold `item` (`size` bytes; `hot_size` counts toward `hot`, `size` if None)."""
        items = self._items
        items.append((revision, item, size))
        self.bytes += size
        while len(items) > 1 and (len(items) > self.count or self.bytes > self.size):
            old_revision, _, old_size = items.popleft()
            self.bytes -= old_size
            self.floor = old_revision + 1
        if self._cool is not None:
            hot_size = size if hot_size is None else hot_size
            self._hot.append((item, hot_size))
            self._hot_bytes += hot_size
            while len(self._hot) > 1 and self._hot_bytes > self.hot:
                old, old_size = self._hot.popleft()
                self._hot_bytes -= old_size
                self._cool(old)

    def clear(self, floor: int) -> None:
        self._items.clear()
        self._hot.clear()
        self.bytes = self._hot_bytes = 0
        self.floor = floor

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        return ((revision, item) for revision, item, _ in self._items)

    def since(self, start: int) -> list[tuple[int, Any]]:
        """The items at revisions >= `start`, oldest first, found from the newest end: a
        watcher resuming from a recent revision costs what came since, not the whole ring
        (100,000 items at 100,000 pods, and a thousand kubelets re-watch every few minutes)."""
        out = []
        for revision, item, _ in reversed(self._items):
            if revision < start:
                break
            out.append((revision, item))
        out.reverse()
        return out

    def __len__(self) -> int:
        return len(self._items)
