"""Feed: one watch of a resource's store range, its ring of recent events, its watchers'
queues, and the resource's `WatchCache` -- the part of kube-apiserver's cacher that consumes
the store (the hub's feeds share one store watch through a `WatchMux`).

A feed keeps a ring of recent events, hands every API watcher a bounded queue fed from it (a
hundred watchers cost the store one watch), and applies every event to its watch cache, if
one is attached, before any watcher sees it. A watcher too slow to keep up is ended, as
kube-apiserver ends one, and resumes from its last resourceVersion.

Each store event is decoded once per feed (`Change`, shared read-only by every watcher and
the cache) and its object encoded once for all the watchers that send it; the ring
(`watch_ring`) is bounded by bytes too, and its older changes keep only what the store
sent. A watcher whose field selector pins an indexed field -- a kubelet's
`spec.nodeName=<node>` Pod watch, as upstream's cacher triggers -- is handed only the events
whose old or new object carries that value.

Progress: the store watch reports the revision it has seen through after each answer (a
PROGRESS marker); `request_progress` asks the store when the feed is idle (as the cacher asks
etcd for a progress notify before a consistent read): the store names the revision through
which this resource's range has no new event, so a cache of a resource nobody writes still
learns it is fresh. One request is in flight per feed at a time.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any

import orjson

from kubemu.cluster.api.objects import decode, kept_json
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.api.watch_ring import EventRing, event_size
from kubemu.cluster.api.watchcache import Entry, WatchCache
from kubemu.cluster.store import prefix_end

__all__ = ["Change", "Feed", "TRIGGER_FIELDS", "NAME_FIELD", "Trigger", "END", "offer",
           "field_text"]

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.05  # seconds between two progress requests of one feed
RING = 20_000              # events a feed's ring holds at most
RING_BYTES = 64 * 2**20    # and at most this many bytes of them (see `watch_ring`)
HOT_BYTES = 8 * 2**20      # the newest events keep their decoded objects up to this
QUEUE = 20_000
END = object()

# The field a resource's cache indexes and its watchers may pin for routing (upstream's
# cacher IndexedTrigger); every resource also routes watches pinned to one name (a kubelet
# watches its own Node by `metadata.name=<node>`: a thousand of them must not each be
# handed every Node event to filter).
TRIGGER_FIELDS = {("", "pods"): "spec.nodeName"}
NAME_FIELD = "metadata.name"
Trigger = tuple[str, str]  # (field, value) a watch pins


class Change:
    """One store event, its objects decoded at most once and shared (never mutate them)."""

    __slots__ = ("raw", "_obj", "_prev", "_deleted", "_obj_json", "_deleted_json",
                 "prev_entry")

    def __init__(self, raw: dict) -> None:
        self.raw = raw
        # the watch cache's entry of the previous object, when the cache held exactly that
        # version: its labels and trigger field route and filter without decoding it
        self.prev_entry: Entry | None = None
        self._obj: dict | None = None
        self._prev: dict | None = None
        self._deleted: dict | None = None
        self._obj_json: bytes | None = None
        self._deleted_json: bytes | None = None

    @property
    def key(self) -> str:
        return self.raw["kv"]["key"]

    def cool(self) -> None:
        """Drop the decoded and encoded objects (decoded again if asked): the change has
        left the newest part of its feed's ring."""
        self._obj = self._prev = self._deleted = None
        self._obj_json = self._deleted_json = None

    @property
    def revision(self) -> int:
        return self.raw["kv"]["mod_revision"]

    @property
    def obj(self) -> dict:
        if self._obj is None:
            self._obj = decode(self.raw["kv"])
        return self._obj

    @property
    def prev(self) -> dict | None:
        if self._prev is None and self.raw.get("prev_kv") is not None:
            self._prev = decode(self.raw["prev_kv"])
        return self._prev

    @property
    def deleted(self) -> dict | None:
        """The last state, stamped with the delete's revision (a DELETED event's object)."""
        if self._deleted is None and self.prev is not None:
            prev = self.prev
            self._deleted = {**prev, "metadata": {**prev["metadata"],
                                                  "resourceVersion": str(self.revision)}}
        return self._deleted

    def json(self, obj: dict) -> bytes:
        """`obj` (this change's object or deleted object) as JSON, encoded once for every
        watcher that sends it."""
        if obj is self._obj:
            if self._obj_json is None:
                self._obj_json = kept_json(obj)
            return self._obj_json
        if obj is self._deleted:
            if self._deleted_json is None:
                self._deleted_json = kept_json(obj)
            return self._deleted_json
        return orjson.dumps(obj)

    def trigger_values(self, field: str) -> set[str]:
        """The values `field` (a feed's trigger field or NAME_FIELD) had before and after."""
        if field == NAME_FIELD:  # the key ends with the name: nothing to decode
            return {self.key.rpartition("/")[2]}
        values = set() if self.raw["type"] == "DELETE" else {field_text(self.obj, field)}
        if self.prev_entry is not None:  # the cache indexes the trigger field
            values.add(self.prev_entry.trigger)
        elif self.prev is not None:
            values.add(field_text(self.prev, field))
        return values


class Feed:
    """One store watch over a resource, the queues it feeds and the cache it keeps."""

    def __init__(self, store: Any, res: Resource, *,
                 progress_every: Callable[[], float] = lambda: 1.0,
                 watch: Callable[..., Any] | None = None) -> None:
        self.store = store
        self._watch = watch or store.watch  # the hub's WatchMux shares one store watch
        self.res = res
        self.ring = EventRing(count=RING, size=RING_BYTES, hot=HOT_BYTES, cool=Change.cool)
        self.through = 0
        self.queues: set[asyncio.Queue] = set()  # every event
        self.trigger_field = TRIGGER_FIELDS.get((res.group, res.plural))
        self.triggered: dict[Trigger, set[asyncio.Queue]] = {}  # (field, value) -> queues
        self._pinned: dict[asyncio.Queue, Trigger] = {}
        self._fields: collections.Counter[str] = collections.Counter()  # fields pinned
        # watchers hear the revision the feed has seen through at most this often (they
        # need it for bookmarks only, sent at most every BOOKMARK_SECONDS): a marker per
        # store write to every one of a thousand watchers' queues was most of the API
        # server's work on a large cluster, and one a second still woke each of them
        self._progress_every = progress_every
        self._published_at = -float("inf")
        self.cache: WatchCache | None = None
        self.task: asyncio.Task | None = None
        self._progress: asyncio.Task | None = None
        self._next_progress = 0.0
        self.progress_requests = 0

    @property
    def floor(self) -> int:
        """Every event with revision >= floor is in the ring."""
        return self.ring.floor

    async def start(self) -> None:
        now = (await self.store.request({"op": "range", "key": "/", "count_only": True,
                                         "limit": 1}))["revision"]
        self.ring.clear(floor=now + 1)
        self.through = now
        self.task = asyncio.get_running_loop().create_task(self._run(now + 1))

    def attach(self) -> WatchCache:
        """A new cache following this feed from now on (to be loaded, then finished)."""
        cache = WatchCache(kind="" if self.res.custom else self.res.kind,
                           trigger_field=self.trigger_field)
        cache.begin(self.through)
        self.cache = cache
        return cache

    def tasks(self) -> list[asyncio.Task]:
        """The feed's running tasks (its store watch, a progress request), to cancel."""
        return [t for t in (self.task, self._progress) if t is not None]

    def request_progress(self) -> None:
        """Ask the store how far this resource's range is quiet: one request at a time, at
        most one per `PROGRESS_INTERVAL` (upstream's progress requester ticks as often)."""
        if self._progress is not None or self.task is None:
            return
        ask = getattr(self.store, "progress", None)
        loop = asyncio.get_running_loop()
        if ask is None or loop.time() < self._next_progress:
            return
        self._next_progress = loop.time() + PROGRESS_INTERVAL
        self.progress_requests += 1
        self._progress = loop.create_task(self._ask_progress(ask))

    async def _ask_progress(self, ask: Any) -> None:
        prefix = self.res.prefix()
        try:
            quiet = await ask(prefix, prefix_end(prefix), self.through + 1)
        except Exception as exc:  # the watch itself reports real trouble
            log.debug("progress request for %s: %s", self.res.group_resource, exc)
            quiet = None
        finally:
            self._progress = None
        if quiet is not None and self.task is not None:
            self._progressed(quiet)
        elif self.cache is not None:
            self.cache.advance(0)  # wake readers: they ask again

    async def _run(self, start: int) -> None:
        prefix = self.res.prefix()
        try:
            async for event in self._watch(prefix, prefix_end(prefix),
                                                start_revision=start, progress=True):
                if event.get("type") == "PROGRESS":
                    self._progressed(event["revision"])
                    continue
                change = Change(event)
                revision = change.revision
                prev_kv = event.get("prev_kv")
                if self.cache is not None and prev_kv is not None:
                    entry = self.cache.objects.get(prev_kv["key"])
                    if entry is not None and entry.rev == prev_kv["mod_revision"]:
                        change.prev_entry = entry
                self.ring.append(revision, change, event_size(event),
                                 event_size(event, decoded=True))
                self.through = max(self.through, revision - 1)
                if self.cache is not None:
                    self.cache.apply(change)
                self._publish(("event", change))
        except Exception as exc:  # the store client retries; anything left ends the feed
            log.warning("watch feed for %s ended: %s", self.res.group_resource, exc)
        finally:
            for q in self._all_queues():
                offer(q, END)
            self.queues.clear()
            self.triggered.clear()
            self._pinned.clear()
            self._fields.clear()
            if self.cache is not None:
                self.cache.close()
                self.cache = None
            self.task = None

    def _progressed(self, revision: int) -> None:
        self.through = max(self.through, revision)
        if self.cache is not None:
            self.cache.advance(self.through)
        now = asyncio.get_running_loop().time()
        if now - self._published_at >= self._progress_every():
            self._published_at = now
            self._publish(("progress", self.through))

    def _publish(self, item: tuple) -> None:
        if item[0] == "progress" or not self.triggered:
            targets = self._all_queues() if item[0] == "progress" else list(self.queues)
        else:
            targets = list(self.queues)
            change = item[1]
            for field in self._fields:
                for value in change.trigger_values(field):
                    targets.extend(self.triggered.get((field, value), ()))
        for q in targets:
            if not offer(q, item):
                self.unsubscribe(q)  # too slow: ended; it resumes from its last RV

    def _all_queues(self) -> list[asyncio.Queue]:
        out = list(self.queues)
        for queues in self.triggered.values():
            out.extend(queues)
        return out

    def subscribe(self, start: int, trigger: Trigger | None = None) -> asyncio.Queue | None:
        """A queue of everything from revision `start` on (only events whose objects carry
        the value `trigger` pins in its field, when given), or None when the ring does not
        reach back that far."""
        if self.task is None or start < self.floor:
            return None
        if trigger is not None and trigger[0] not in (self.trigger_field, NAME_FIELD):
            trigger = None
        q: asyncio.Queue = asyncio.Queue(maxsize=QUEUE)
        for _revision, change in self.ring.since(start):
            if trigger is None or trigger[1] in change.trigger_values(trigger[0]):
                q.put_nowait(("event", change))
        if trigger is None:
            self.queues.add(q)
        else:
            self.triggered.setdefault(trigger, set()).add(q)
            self._pinned[q] = trigger
            self._fields[trigger[0]] += 1
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self.queues.discard(q)
        trigger = self._pinned.pop(q, None)
        if trigger is None:
            return
        queues = self.triggered.get(trigger)
        if queues is not None:
            queues.discard(q)
            if not queues:
                del self.triggered[trigger]
        self._fields[trigger[0]] -= 1
        if self._fields[trigger[0]] <= 0:
            del self._fields[trigger[0]]


def offer(q: asyncio.Queue, item: Any) -> bool:
    """Put without waiting; a full queue is ended instead (False)."""
    try:
        q.put_nowait(item)
        return True
    except asyncio.QueueFull:
        try:
            q.get_nowait()
            q.put_nowait(END)
        except (asyncio.QueueEmpty, asyncio.QueueFull):
            pass
        return False


def field_text(obj: dict, field: str) -> str:
    """A dotted field's string value ("" when missing or not a string)."""
    value: Any = obj
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""
