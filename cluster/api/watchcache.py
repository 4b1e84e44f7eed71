"""WatchCache: one resource's current objects in the API server, complete through a revision.

As kube-apiserver's watchCache, it holds every object of a resource as of `revision` (the
revision its store watch has seen through), so lists are served from memory. It keeps the
store's bytes (compressed: `transformer`), not decoded objects (memory matters at 100,000
pods): an `Entry` is the value, its mod_revision, and the few attributes selectors read
without decoding (the labels and, for pods, `spec.nodeName`, which is also indexed, as
upstream's cacher indexes it).

It is built while its feed runs: `begin` starts buffering the feed's changes, `load` takes
chunks of a store range read at the latest revision (each chunk at its own revision R_i),
and `finish` replays the buffered changes newer than the chunk that holds their key. Once the
feed has seen through max(R_i), that yields exactly the state at the feed's revision, without
ever reading the store at an old revision (which costs the store a scan of every key).

`revision` moves only on progress (`advance`), never on a bare event: the feed applies a
store answer's events and then its progress marker, so a reader sees either whole revisions
or (`servable` false) waits. `snapshot()` keeps the current state for the pages after a
list's first, as upstream's ListFromCacheSnapshot (a copy-on-write tree there): a few are kept
by revision, each for `SNAPSHOT_SECONDS`, more while lists are paging through them. Nothing
is copied: a snapshot is the live state with the writes since undone -- each key written
since records, at its first write, the entry it had (`_Undo`), so taking one costs nothing
and each write costs a dict lookup per snapshot kept (a copy of 100,000 entries took tens of
milliseconds, for every one-page list that continues). `view()` is the live state.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sortedcontainers import SortedList, SortedSet

from kubemu.cluster.api import transformer
from kubemu.cluster.api.field_selectors import field_value
from kubemu.cluster.store.keyindex import SortedKeys

__all__ = ["Entry", "View", "WatchCache", "SNAPSHOT_SECONDS", "MAX_SNAPSHOTS"]

SNAPSHOT_SECONDS = 75.0  # how long a list's later pages are served from its snapshot
MAX_SNAPSHOTS = 8        # kept beyond this only while lists are still paging through them
MAX_ACTIVE_SNAPSHOTS = 32
ACTIVE_SECONDS = 10.0    # a snapshot a later page read within this long is in use
FIRST_PAGE_SECONDS = 5.0  # one no later page has read yet: in use this long after the first


class Entry:
    """One object as the store holds it, plus what selectors read without decoding."""

    __slots__ = ("rev", "value", "labels", "trigger")

    def __init__(self, rev: int, value: bytes, labels: Any, trigger: str | None) -> None:
        self.rev = rev
        self.value = value
        self.labels = labels
        self.trigger = trigger

    def decode(self) -> dict:
        """A fresh object (the caller may change it), resourceVersion = mod_revision."""
        obj = transformer.loads(self.value)
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rev)
        return obj


@dataclass
class View:
    """The objects at one revision: sorted keys (a list, or the live index) and key ->
    Entry (read-only)."""

    revision: int
    keys: Any
    objects: dict[str, Entry]
    by_trigger: dict[str, set[str]] | None = None
    expires: float = 0.0
    used: float = 0.0
    continued: bool = False  # a page after the first has read it
    undo: _Undo | None = None  # a snapshot: the writes since it was taken, undone


_MISSING = object()


class _Undo:
    """The writes since a snapshot, undone: `before` holds each key written since as it was
    then (None: absent), `added` the keys absent then and present now, `removed` those
    present then and gone now."""

    __slots__ = ("before", "added", "removed")

    def __init__(self) -> None:
        self.before: dict[str, Entry | None] = {}
        self.added: SortedSet = SortedSet()
        self.removed: SortedSet = SortedSet()

    def record(self, key: str, old: Entry | None, present: bool) -> None:
        """`key` is about to change from `old` to present (a put) or absent (a delete)."""
        was = self.before.setdefault(key, old)
        if was is None:
            if present:
                self.added.add(key)
            else:
                self.added.discard(key)
        elif present:
            self.removed.discard(key)
        else:
            self.removed.add(key)


class _KeysThen:
    """A snapshot's sorted keys: the live index less `added`, plus `removed` (positions as in
    a sorted list of them, for bisecting and counting)."""

    def __init__(self, live: SortedList, undo: _Undo) -> None:
        self._live, self._undo = live, undo

    def bisect_left(self, key: str) -> int:
        u = self._undo
        return self._live.bisect_left(key) - u.added.bisect_left(key) + \
            u.removed.bisect_left(key)

    def bisect_right(self, key: str) -> int:
        u = self._undo
        return self._live.bisect_right(key) - u.added.bisect_right(key) + \
            u.removed.bisect_right(key)

    def irange(self, start: str, end: str, inclusive: tuple[bool, bool] = (True, False)
               ) -> Iterator[str]:
        added = self._undo.added
        live = (k for k in self._live.irange(start, end, inclusive=inclusive)
                if k not in added)
        return heapq.merge(live, self._undo.removed.irange(start, end, inclusive=inclusive))


class _ObjectsThen:
    """A snapshot's key -> Entry: as recorded before the key's first write since, else live."""

    def __init__(self, live: dict[str, Entry], undo: _Undo) -> None:
        self._live, self._before = live, undo.before

    def __getitem__(self, key: str) -> Entry:
        entry = self._before.get(key, _MISSING)
        if entry is _MISSING:
            return self._live[key]
        if entry is None:
            raise KeyError(key)
        return entry  # type: ignore[return-value]


class WatchCache:
    def __init__(self, *, kind: str, trigger_field: str | None = None) -> None:
        self.kind = kind
        self.trigger_field = trigger_field
        self.objects: dict[str, Entry] = {}
        self.revision = 0  # complete through this revision (valid once `ready`)
        self.ready = False
        self.alive = True
        self._keys = SortedKeys()
        self._by_trigger: dict[str, set[str]] | None = {} if trigger_field else None
        self._applied = 0  # the newest revision whose changes are applied
        self._pending: list[Any] | None = None  # changes met while building
        self._chunks: list[tuple[str, int]] = []  # (first key, revision read at), building
        self._snapshots: collections.OrderedDict[int, View] = collections.OrderedDict()
        self._advanced: asyncio.Event | None = None

    # ---- building ---------------------------------------------------------------------------

    def begin(self, through: int) -> None:
        """Start buffering changes; the feed is complete through `through`."""
        self._pending = []
        self.revision = through
        self._applied = through

    def load(self, first_key: str, kvs: list[dict], read_revision: int) -> None:
        """A chunk of the range, read at `read_revision`, covering keys from `first_key` up
        to the next chunk's first key."""
        self._chunks.append((first_key, read_revision))
        for kv in kvs:
            self._put(kv["key"], kv["mod_revision"], kv["value"], _decode(kv))

    @property
    def loaded_through(self) -> int:
        """The newest revision a loaded chunk reflects (the feed must reach it first)."""
        return max((rev for _, rev in self._chunks), default=0)

    def finish(self) -> None:
        """Replay the buffered changes each chunk did not yet reflect; ready to serve."""
        starts = [first for first, _ in self._chunks]
        revisions = [rev for _, rev in self._chunks]
        for change in self._pending or ():
            i = bisect_right(starts, change.key) - 1
            if i < 0 or change.revision > revisions[i]:
                self._apply(change)
        self._pending = None
        self._chunks = []
        self.ready = True
        self._wake()

    # ---- following the feed ----------------------------------------------------------------

    def apply(self, change: Any) -> None:
        """One store event (a feed `Change`), in revision order."""
        self._applied = max(self._applied, change.revision)
        if self._pending is not None:
            self._pending.append(change)
        else:
            self._apply(change)

    def advance(self, revision: int) -> None:
        """The feed has seen everything through `revision` (wakes waiting readers)."""
        if revision > self.revision:
            self.revision = revision
        self._wake()

    def close(self) -> None:
        """The feed ended: this cache will miss events from now on."""
        self.alive = False
        self.ready = False
        self._snapshots.clear()
        self._wake()

    @property
    def servable(self) -> bool:
        return self.ready and self.alive and self._applied <= self.revision

    async def changed(self, timeout: float) -> None:
        """Wait (at most `timeout`) for the next advance, build end or close."""
        if self._advanced is None:
            self._advanced = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await self._advanced.wait()
        except TimeoutError:
            pass

    # ---- reading ----------------------------------------------------------------------------

    def view(self) -> View:
        """The current state (live structures, no copy: read it before the next await)."""
        return View(self.revision, self._keys.live(), self.objects, self._by_trigger)

    def snapshot(self, *, now: float) -> View:
        """The current state frozen for later pages, kept under its revision.

        At most MAX_SNAPSHOTS are kept, least recently read out first, except those a later
        page read within ACTIVE_SECONDS or taken within FIRST_PAGE_SECONDS (lists still
        paging), up to MAX_ACTIVE_SNAPSHOTS: a client
        that lists often (one page of 50 twice a second) must not push out the snapshot of
        a list of 100,000 pods half way through, whose later pages would then be read from
        the store at an old revision (a scan of every key per page)."""
        self._expire(now)
        view = self._snapshots.get(self.revision)
        if view is None:
            undo = _Undo()
            view = View(self.revision, _KeysThen(self._keys.live(), undo),
                        _ObjectsThen(self.objects, undo), used=now, undo=undo)
            self._snapshots[self.revision] = view
            self._evict(now)
        view.expires = now + SNAPSHOT_SECONDS
        view.used = now
        self._snapshots.move_to_end(view.revision)
        return view

    def snapshot_at(self, revision: int, *, now: float) -> View | None:
        """The state at exactly `revision`, if a snapshot (or the current state) holds it."""
        self._expire(now)
        view = self._snapshots.get(revision)
        if view is not None:
            view.expires = now + SNAPSHOT_SECONDS
            view.used = now
            view.continued = True
            self._snapshots.move_to_end(revision)
            return view
        if self.servable and self.revision == revision:
            return self.view()
        return None

    @property
    def snapshots(self) -> list[int]:
        return list(self._snapshots)

    # ---- helpers ----------------------------------------------------------------------------

    def _apply(self, change: Any) -> None:
        kv = change.raw["kv"]
        deleted = change.raw["type"] == "DELETE"
        if self._snapshots:
            old = self.objects.get(kv["key"])
            for view in self._snapshots.values():
                view.undo.record(kv["key"], old, not deleted)  # type: ignore[union-attr]
        if deleted:
            old = self.objects.pop(kv["key"], None)
            if old is not None:
                self._keys.remove(kv["key"])
                self._unindex(kv["key"], old)
        else:
            self._put(kv["key"], kv["mod_revision"], kv["value"], change.obj)

    def _put(self, key: str, rev: int, value: bytes, obj: dict) -> None:
        labels = (obj.get("metadata") or {}).get("labels")
        trigger = field_value(obj, self.kind, self.trigger_field) \
            if self.trigger_field else None
        old = self.objects.get(key)
        if old is None:
            self._keys.add(key)
        else:
            self._unindex(key, old)
        self.objects[key] = Entry(rev, value, labels, trigger)
        if self._by_trigger is not None and trigger is not None:
            self._by_trigger.setdefault(trigger, set()).add(key)

    def _unindex(self, key: str, old: Entry) -> None:
        if self._by_trigger is not None and old.trigger is not None:
            keys = self._by_trigger.get(old.trigger)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_trigger[old.trigger]

    def _evict(self, now: float) -> None:
        snapshots = self._snapshots
        while len(snapshots) > MAX_SNAPSHOTS:
            idle = next((r for r, v in snapshots.items() if now - v.used > (
                ACTIVE_SECONDS if v.continued else FIRST_PAGE_SECONDS)), None)
            if idle is None:
                if len(snapshots) <= MAX_ACTIVE_SNAPSHOTS:
                    return
                idle = next(iter(snapshots))
            del snapshots[idle]

    def _expire(self, now: float) -> None:
        for revision in [r for r, v in self._snapshots.items() if v.expires <= now]:
            del self._snapshots[revision]

    def _wake(self) -> None:
        if self._advanced is not None:
            self._advanced.set()
            self._advanced = None


def _decode(kv: dict) -> dict:
    obj = transformer.loads(kv["value"])
    return obj if isinstance(obj, dict) else {}
