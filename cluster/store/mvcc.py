"""MVCC key-value store: etcd's revisioned keyspace, the state machine under Raft.

One global revision starts at 1 (the empty store); every write transaction that changes
something increments it by exactly one and all its changes share that revision. Each key keeps
its history as parallel lists (`revs`, `kvs`; a `None` kv is a deletion), so a read at revision r
is a bisect per key. Current reads never touch history: `_live` maps key -> KeyValue and
`_live_keys` is the sorted index of live keys (bisect for ranges, so a prefix count is O(log n));
`_all_keys` that of keys that still have history (for reads at old revisions); both are
`SortedKeys` (O(log n) to add, remove or bisect), and a put to an existing key touches neither.
Compaction at C drops, per key, everything older than its newest entry at or below C (and that
entry too when it is a deletion); only keys written since the last compaction are visited.
A snapshot `image()` is copy-on-write: it copies the key list and the key -> history dict (both
in C, milliseconds at 100k keys) and bumps a generation; a write to a key whose history is
older than the generation first replaces it with a copy, so the image stays frozen while the
store moves on, and its bytes can be packed in another thread.
Invariants: `_live` == the newest non-deleted entries; both key lists are sorted and
duplicate-free; a key's `revs` are strictly increasing; KeyValues are never mutated; a history
an image may share is never mutated in place; snapshots are deterministic bytes.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import msgpack

from kubemu.cluster.store.errors import (
    BadRequestError,
    CompactedError,
    FutureRevisionError,
    StoreError,
    ValueTooLargeError,
)
from kubemu.cluster.store.keyindex import ALL_KEYS, SortedKeys

__all__ = [
    "MAX_VALUE_BYTES", "KeyValue", "Event", "RangeResult", "MVCCStore", "MVCCImage", "WriteTxn",
    "prefix_end", "in_range", "kv_to_dict", "event_to_dict", "StoreError", "CompactedError",
    "FutureRevisionError", "ValueTooLargeError",
]

MAX_VALUE_BYTES = 1_572_864  # 1.5 MiB, etcd's default request size limit
_SNAPSHOT_VERSION = 1


@dataclass(slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


@dataclass(slots=True)
class Event:
    type: str  # "PUT" | "DELETE"
    kv: KeyValue
    prev_kv: KeyValue | None = None


@dataclass(slots=True)
class RangeResult:
    kvs: list[KeyValue]
    count: int
    more: bool


class _History:
    """One key's versions: `kvs[i]` took effect at `revs[i]`; None is a deletion. `gen` is
    the store generation it belongs to: one from before the latest image may be shared."""

    __slots__ = ("revs", "kvs", "gen")

    def __init__(self, gen: int = 0) -> None:
        self.revs: list[int] = []
        self.kvs: list[KeyValue | None] = []
        self.gen = gen

    def copy(self, gen: int) -> _History:
        h = _History(gen)
        h.revs = self.revs.copy()
        h.kvs = self.kvs.copy()
        return h

    def at(self, revision: int) -> KeyValue | None:
        i = bisect_left(self.revs, revision + 1) - 1
        return self.kvs[i] if i >= 0 else None


def kv_to_dict(kv: KeyValue | None) -> dict | None:
    """A KeyValue as the contract's msgpack-able dict (None stays None)."""
    if kv is None:
        return None
    return {
        "key": kv.key, "value": kv.value, "create_revision": kv.create_revision,
        "mod_revision": kv.mod_revision, "version": kv.version, "lease": kv.lease,
    }


def event_to_dict(ev: Event) -> dict:
    """An Event as the contract's watch event dict {"type", "kv", "prev_kv"}."""
    return {"type": ev.type, "kv": kv_to_dict(ev.kv), "prev_kv": kv_to_dict(ev.prev_kv)}


def prefix_end(prefix: str) -> str:
    """The range_end covering every key that starts with `prefix` ("\\0" = no upper bound)."""
    chars = prefix.rstrip("\U0010ffff")
    if not chars:
        return ALL_KEYS
    return chars[:-1] + chr(ord(chars[-1]) + 1)


def in_range(key: str, start: str, range_end: str) -> bool:
    """Whether `key` is selected by (start, range_end) with etcd's range_end conventions."""
    if range_end == "":
        return key == start
    if range_end == ALL_KEYS:
        return key >= start
    return start <= key < range_end


class MVCCStore:
    """The revisioned keyspace. Reads via `range`, writes via `txn()` (or `put`/`delete_range`)."""

    def __init__(self) -> None:
        self.revision = 1
        self.compact_revision = 0
        self._live: dict[str, KeyValue] = {}
        self._live_keys = SortedKeys()
        self._history: dict[str, _History] = {}
        self._all_keys = SortedKeys()
        self._dirty: set[str] = set()  # keys written since the last compaction
        self._gen = 0  # bumped by image(): histories of older generations may be shared

    def __len__(self) -> int:
        return len(self._live)

    # ---- reads -------------------------------------------------------------------------------

    def get(self, key: str) -> KeyValue | None:
        """The current version of `key`, or None."""
        return self._live.get(key)

    def range(
        self, key: str, range_end: str = "", *, revision: int = 0, limit: int = 0,
        keys_only: bool = False, count_only: bool = False,
        changed: Iterable[str] | None = None,
    ) -> RangeResult:
        """Keys in [key, range_end) as of `revision` (0 = current), sorted, at most `limit`.

        `changed`, for a read at an old revision: every key in the range written after
        `revision` (the watch history has them); the count then starts from the keys alive
        now instead of looking at every key, and the read stops once it has `limit` keys."""
        return self._read(key, range_end, revision, limit, keys_only, count_only, live_ok=True,
                          changed=changed)

    def _read(
        self, key: str, range_end: str, revision: int, limit: int, keys_only: bool,
        count_only: bool, *, live_ok: bool, changed: Iterable[str] | None = None,
    ) -> RangeResult:
        self.check_revision(revision)
        if revision == 0 or (live_ok and revision == self.revision):
            kvs, count = self._range_live(key, range_end, limit, count_only)
        else:
            kvs, count = self._range_at(key, range_end, revision, limit, count_only, changed)
        if keys_only:
            kvs = [KeyValue(kv.key, b"", kv.create_revision, kv.mod_revision, kv.version, kv.lease)
                   for kv in kvs]
        return RangeResult(kvs, count, bool(limit) and count > limit)

    def check_revision(self, revision: int) -> None:
        """Raise if a read at `revision` cannot be served (0 = current is always fine)."""
        if revision < 0:
            raise BadRequestError(f"revision must be >= 0, got {revision}")
        if revision > self.revision:
            raise FutureRevisionError(
                f"required revision {revision} is a future revision (current {self.revision})")
        if 0 < revision < self.compact_revision:
            raise CompactedError(revision, self.compact_revision)

    def _range_live(
        self, key: str, range_end: str, limit: int, count_only: bool,
    ) -> tuple[list[KeyValue], int]:
        if range_end == "":
            kv = self._live.get(key)
            if kv is None:
                return [], 0
            return ([] if count_only else [kv]), 1
        lo, hi = self._live_keys.bounds(key, range_end)
        count = hi - lo
        if count_only or count == 0:
            return [], count
        if limit and count > limit:
            hi = lo + limit
        live = self._live
        return [live[k] for k in self._live_keys.slice(lo, hi)], count

    def _range_at(
        self, key: str, range_end: str, revision: int, limit: int, count_only: bool,
        changed: Iterable[str] | None = None,
    ) -> tuple[list[KeyValue], int]:
        """A range at an old revision. Given `changed` (the range's keys written since), the
        count starts from the keys alive now -- a key alive at `revision` is alive now unless
        it changed since, and the other way round -- so a page of a paginated list costs its
        limit, not a look at every key after it; without, every key is looked at."""
        if range_end == "":
            h = self._history.get(key)
            kv = h.at(revision) if h is not None else None
            if kv is None:
                return [], 0
            return ([] if count_only else [kv]), 1
        lo, hi = self._all_keys.bounds(key, range_end)
        if changed is None:
            count = sum(1 for k in self._all_keys.between(lo, hi)
                        if self._version_at(k, revision) is not None)
        else:
            history, live = self._history, self._live
            live_lo, live_hi = self._live_keys.bounds(key, range_end)
            count = live_hi - live_lo
            for k in set(changed):
                h = history.get(k)
                count += (h is not None and h.at(revision) is not None) - (k in live)
        if count_only or count == 0:
            return [], count
        keep = min(limit, count) if limit else count
        kvs: list[KeyValue] = []
        for k in self._all_keys.between(lo, hi):
            kv = self._version_at(k, revision)
            if kv is not None:
                kvs.append(kv)
                if len(kvs) >= keep:
                    break
        return kvs, count

    def _version_at(self, key: str, revision: int) -> KeyValue | None:
        """`key` as of `revision`: its live version when it has not changed since (most keys
        of a list read page after page at its first page's revision), else from history."""
        kv = self._live.get(key)
        if kv is None or kv.mod_revision > revision:
            return self._history[key].at(revision)
        return kv

    # ---- writes ------------------------------------------------------------------------------

    def txn(self) -> WriteTxn:
        """Start a write transaction; all its changes share revision `self.revision + 1`."""
        return WriteTxn(self)

    def put(self, key: str, value: bytes, *, lease: int = 0) -> tuple[KeyValue | None, Event]:
        """Single-put transaction: (previous kv, the PUT event)."""
        w = self.txn()
        prev = w.put(key, value, lease=lease)
        return prev, w.end()[0]

    def delete_range(self, key: str, range_end: str = "") -> list[Event]:
        """Single-delete transaction: one DELETE event per deleted key (none: no new revision)."""
        w = self.txn()
        w.delete_range(key, range_end)
        return w.end()

    def compact(self, revision: int) -> None:
        """Forget history older than `revision`; reads at >= `revision` keep working."""
        if revision > self.revision:
            raise FutureRevisionError(
                f"required revision {revision} is a future revision (current {self.revision})")
        if revision <= self.compact_revision:
            raise CompactedError(revision, self.compact_revision)
        self.compact_revision = revision
        still_dirty: set[str] = set()
        emptied = False
        for key in self._dirty:
            h = self._history[key]
            i = bisect_left(h.revs, revision + 1) - 1
            if i >= 0 and h.kvs[i] is None:
                i += 1  # a deletion at or below the compact revision leaves nothing to keep
            if i > 0:
                h = self._own(key, h)
                del h.revs[:i]
                del h.kvs[:i]
            if not h.revs:
                del self._history[key]
                emptied = True
            elif len(h.revs) > 1 or h.revs[0] > revision:
                still_dirty.add(key)
        self._dirty = still_dirty
        if emptied:
            self._all_keys = SortedKeys(k for k in self._all_keys.sorted() if k in self._history)

    # ---- snapshot ----------------------------------------------------------------------------

    @property
    def key_count(self) -> int:
        """Keys with retained history: what a snapshot packs, one entry each."""
        return len(self._all_keys)

    def snapshot(self) -> bytes:
        """Deterministic bytes of the whole store (live keys and retained history)."""
        return msgpack.packb(self.snapshot_obj(), use_bin_type=True)

    def snapshot_obj(self) -> list:
        return self.image().obj()

    def image(self) -> MVCCImage:
        """A frozen view of the store now, cheap to take (see the module docstring); its
        `pack` gives the same bytes as `snapshot()` would have, from any thread."""
        self._gen += 1
        return MVCCImage(self.revision, self.compact_revision, self._all_keys.sorted(),
                         self._history.copy())

    def _own(self, key: str, h: _History) -> _History:
        """`key`'s history, copied first if an image may share it (copy on write)."""
        if h.gen != self._gen:
            h = self._history[key] = h.copy(self._gen)
        return h

    @classmethod
    def restore(cls, data: bytes) -> MVCCStore:
        return cls.from_snapshot_obj(msgpack.unpackb(data, raw=False))

    @classmethod
    def from_snapshot_obj(cls, obj: list) -> MVCCStore:
        version, revision, compact_revision, keys = obj
        if version != _SNAPSHOT_VERSION:
            raise ValueError(f"unknown MVCC snapshot version {version}")
        store = cls()
        store.revision = revision
        store.compact_revision = compact_revision
        all_keys: list[str] = []
        live_keys: list[str] = []
        for key, versions in keys:
            h = _History()
            for v in versions:
                h.revs.append(v[0])
                h.kvs.append(None if len(v) == 1 else KeyValue(key, v[1], v[2], v[0], v[3], v[4]))
            store._history[key] = h
            all_keys.append(key)
            if len(h.revs) > 1 or h.revs[0] > compact_revision:
                store._dirty.add(key)
            last = h.kvs[-1]
            if last is not None:
                store._live[key] = last
                live_keys.append(key)
        store._all_keys, store._live_keys = SortedKeys(all_keys), SortedKeys(live_keys)
        return store

    def history_events(self, *, after: int) -> list[Event]:
        """Rebuild the events with revision > `after` (>= compact revision) from key histories,
        in revision order (key order within one revision). Used to refill watch history after a
        restore; events at or below the compact revision cannot be rebuilt."""
        events: list[tuple[int, str, Event]] = []
        for key in self._all_keys.sorted():
            h = self._history[key]
            start = bisect_left(h.revs, after + 1)
            for i in range(start, len(h.revs)):
                prev = h.kvs[i - 1] if i > 0 else None
                kv = h.kvs[i]
                rev = h.revs[i]
                if kv is None:
                    events.append((rev, key, Event("DELETE", _tombstone(key, rev), prev)))
                else:
                    events.append((rev, key, Event("PUT", kv, prev)))
        events.sort(key=lambda t: (t[0], t[1]))
        return [e for _, _, e in events]

    def iter_live(self) -> Iterator[KeyValue]:
        """Every live kv in key order."""
        for key in self._live_keys.sorted():
            yield self._live[key]


class MVCCImage:
    """The store as `MVCCStore.image()` froze it: `obj()` is `snapshot_obj()`'s list, `pack`
    streams the same msgpack bytes one key at a time (a thread packing it lets others run)."""

    __slots__ = ("revision", "compact_revision", "keys", "history")

    def __init__(self, revision: int, compact_revision: int, keys: list[str],
                 history: dict[str, _History]) -> None:
        self.revision = revision
        self.compact_revision = compact_revision
        self.keys = keys
        self.history = history

    def obj(self) -> list:
        return [_SNAPSHOT_VERSION, self.revision, self.compact_revision, list(self._items())]

    def pack(self, packer: msgpack.Packer, out: list[bytes], *,
             pause: Callable[[], None] | None = None, every: int = 256) -> None:
        """Append `obj()`'s msgpack encoding to `out` in pieces (`packer`: autoreset), calling
        `pause` after every `every` keys (a thread packing it lets the others run there)."""
        out.append(packer.pack_array_header(4))
        out.append(packer.pack(_SNAPSHOT_VERSION))
        out.append(packer.pack(self.revision))
        out.append(packer.pack(self.compact_revision))
        out.append(packer.pack_array_header(len(self.keys)))
        pack = packer.pack
        if pause is None:
            out.extend(pack(item) for item in self._items())
            return
        for n, item in enumerate(self._items(), 1):
            out.append(pack(item))
            if n % every == 0:
                pause()

    def _items(self) -> Iterator[tuple[str, list[tuple]]]:
        history = self.history
        for key in self.keys:
            h = history[key]
            versions = []
            for rev, kv in zip(h.revs, h.kvs):
                if kv is None:
                    versions.append((rev,))
                else:
                    versions.append((rev, kv.value, kv.create_revision, kv.version, kv.lease))
            yield key, versions


class WriteTxn:
    """A write transaction: changes apply at once at revision `revision`, which becomes the
    store's revision at `end()` if anything changed. Reads at revision 0 see the changes made so
    far (as etcd's txn does); reads at an explicit revision see the store before the txn."""

    __slots__ = ("_store", "revision", "events")

    def __init__(self, store: MVCCStore) -> None:
        self._store = store
        self.revision = store.revision + 1
        self.events: list[Event] = []

    def range(
        self, key: str, range_end: str = "", *, revision: int = 0, limit: int = 0,
        keys_only: bool = False, count_only: bool = False,
        changed: Iterable[str] | None = None,
    ) -> RangeResult:
        return self._store._read(key, range_end, revision, limit, keys_only, count_only,
                                 changed=changed,
                                 live_ok=not self.events)

    def put(self, key: str, value: bytes, *, lease: int = 0) -> KeyValue | None:
        """Write `key`; returns the previous kv (None if the key was absent)."""
        if len(value) > MAX_VALUE_BYTES:
            raise ValueTooLargeError(
                f"value of {len(value)} bytes is over the {MAX_VALUE_BYTES} byte limit")
        s = self._store
        rev = self.revision
        prev = s._live.get(key)
        if prev is None:
            kv = KeyValue(key, value, rev, rev, 1, lease)
            s._live_keys.add(key)
        else:
            kv = KeyValue(key, value, prev.create_revision, rev, prev.version + 1, lease)
        s._live[key] = kv
        self._record(key, kv)
        self.events.append(Event("PUT", kv, prev))
        return prev

    def delete_range(self, key: str, range_end: str = "") -> list[KeyValue]:
        """Delete the live keys in range; returns their previous kvs in key order."""
        s = self._store
        if range_end == "":
            prev = s._live.get(key)
            if prev is None:
                return []
            del s._live[key]
            s._live_keys.remove(key)
            deleted = [prev]
        else:
            lo, hi = s._live_keys.bounds(key, range_end)
            if hi <= lo:
                return []
            names = s._live_keys.remove_slice(lo, hi)
            deleted = [s._live.pop(k) for k in names]
        rev = self.revision
        for prev in deleted:
            self._record(prev.key, None)
            self.events.append(Event("DELETE", _tombstone(prev.key, rev), prev))
        return deleted

    def end(self) -> list[Event]:
        """Commit the revision if anything changed; returns the txn's events in order."""
        if self.events:
            self._store.revision = self.revision
        return self.events

    def _record(self, key: str, kv: KeyValue | None) -> None:
        s = self._store
        h = s._history.get(key)
        if h is None:
            h = s._history[key] = _History(s._gen)
            s._all_keys.add(key)
        elif h.gen != s._gen:
            h = s._own(key, h)
        if h.revs and h.revs[-1] == self.revision:
            h.kvs[-1] = kv  # a second change of the key inside one txn
        else:
            h.revs.append(self.revision)
            h.kvs.append(kv)
        s._dirty.add(key)


def _tombstone(key: str, revision: int) -> KeyValue:
    """The kv of a DELETE event, as etcd reports it: the key and the deleting revision."""
    return KeyValue(key, b"", 0, revision, 0, 0)
