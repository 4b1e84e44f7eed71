"""Watch: Kubernetes watch events from store events, fanned out through one feed per resource.

A `WatchHub` keeps one `Feed` per resource (started on first use): one store watch, a ring of
its recent events, the queues of the API watchers it feeds and the resource's `WatchCache`
(`watchcache_feed`). A watcher whose start the ring holds is served from the ring alone; one
that starts older than the ring reads the store directly (which answers 410 once compacted).

The hub also owns the watch caches lists are served from (`watchcache_lists`): `cache(res)`
builds one lazily on a resource's first list, in the background (lists meanwhile read the
store, as upstream's cacher delegates while not ready), and `fresh` waits, asking the store
for progress, until a cache has seen through a revision. Events are not cached: they are
many, short-lived and listed rarely. `stats` counts lists served from cache and store.

`watch_events` turns store events into API events the way the watch cache does: a put is ADDED
(created) or MODIFIED, a delete is DELETED carrying the last state at the delete's revision,
and with selectors an object that starts (stops) matching is ADDED (DELETED). resourceVersion
unset or "0" first sends the current objects as ADDED (a list at that resourceVersion);
BOOKMARK events carry the revision the watch has seen through; a start the store has
compacted is an ERROR event with a 410 Expired Status, as a store watch would give, even when
the ring still holds it (one small store read says so).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from kubemu.cluster.api.errors import ApiError, Expired, InternalError
from kubemu.cluster.api.lists import ListQuery, parse_resource_version, selectors_for
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.api.watchcache import WatchCache
from kubemu.cluster.api.watchcache_feed import (END, NAME_FIELD, TRIGGER_FIELDS, Change, Feed,
                                               Trigger, offer)
from kubemu.cluster.api.watch_mux import WatchMux
from kubemu.cluster.api.watchcache_lists import serve_list
from kubemu.cluster.store import CompactedError, prefix_end

__all__ = ["BOOKMARK_SECONDS", "IDLE", "WatchEvent", "WatchHub", "watch_events"]

log = logging.getLogger(__name__)

BOOKMARK_SECONDS = 60.0  # as upstream's cacher; and one when a watch reaches its timeout
BUILD_CHUNK = 1000  # objects per store range while building a cache
BUILD_SECONDS = 60.0  # a build whose feed does not catch up by then is dropped
_POLL = 0.05  # how often a waiting reader re-asks the store for progress
_UNCACHED = frozenset({("", "events"), ("events.k8s.io", "events")})


class WatchHub:
    def __init__(self, store: Any) -> None:
        self.store = store
        self.mux = WatchMux(store)
        self._feeds: dict[tuple[str, str], Feed] = {}
        self._starting: dict[tuple[str, str], asyncio.Future] = {}
        self._builds: dict[tuple[str, str], asyncio.Task] = {}
        self.stats: dict[str, int] = {
            "lists_from_cache": 0, "lists_from_store": 0, "consistent_fallbacks": 0,
            "pages_from_snapshots": 0, "cache_builds": 0}
        """Counters: lists served from a watch cache or the store, consistent reads whose
        cache did not catch up in time, continue pages served from memory, caches built."""

    async def stream(self, res: Resource, start: int) -> AsyncIterator[tuple]:
        """("event", store event) and ("progress", revision) items from revision `start`."""
        async for kind, payload in self.changes(res, start):
            yield (kind, payload.raw if kind == "event" else payload)

    async def changes(self, res: Resource, start: int, *, trigger: Trigger | None = None,
                      deadline: float | None = None, idle_marks: bool = False
                      ) -> AsyncIterator[tuple]:
        """("event", Change) and ("progress", revision) items from revision `start` until
        the loop time `deadline`, where a last ("deadline", revision) item names the revision
        the stream was complete through then; with `trigger` (field, value), at least the
        events whose objects carry that value in that field (and possibly others: callers
        still filter).
        With `idle_marks`, an ("idle", None) item comes before every wait for the next item:
        what came before it can be sent as one write."""
        feed = await self._feed(res)
        q = feed.subscribe(start, trigger)
        if q is None:
            async for item in self._from_store(res, start, deadline):
                yield item
                if idle_marks:
                    yield ("idle", None)
            return
        loop = asyncio.get_running_loop()
        # the deadline ends the stream through the queue (no timer per item), carrying the
        # revision the feed has handed out every event through at that moment
        timer = None
        if deadline is not None:
            timer = loop.call_at(deadline, lambda: offer(q, ("deadline", feed.through)))
        try:
            while True:
                try:
                    item = q.get_nowait()
                except asyncio.QueueEmpty:
                    if idle_marks:
                        yield ("idle", None)
                    item = await q.get()
                if item is END:
                    return
                yield item
                if item[0] == "deadline":
                    return
        finally:
            if timer is not None:
                timer.cancel()
            feed.unsubscribe(q)

    def cached_kv(self, res: Resource, key: str) -> dict | None:
        """`key` as the resource's ready watch cache holds it ({"key", "mod_revision",
        "value"}, as a store read gives), or None (no ready cache, or not in it). Possibly
        stale: a suggestion for an update, which the store's compare then confirms."""
        feed = self._feeds.get((res.group, res.plural))
        cache = feed.cache if feed is not None else None
        if cache is None or not cache.ready or not cache.alive:
            return None
        entry = cache.objects.get(key)
        if entry is None:
            return None
        return {"key": key, "mod_revision": entry.rev, "value": entry.value}

    def through(self, res: Resource) -> int:
        """The revision the resource's feed has seen through (0 without a running feed)."""
        feed = self._feeds.get((res.group, res.plural))
        return feed.through if feed is not None and feed.task is not None else 0

    # ---- watch caches -----------------------------------------------------------------------

    async def cache(self, res: Resource, *, wait: bool = False) -> WatchCache | None:
        """The resource's watch cache once built (None while it builds, unless `wait`, and
        for resources never cached); the first call starts the build."""
        key = (res.group, res.plural)
        if key in _UNCACHED:
            return None
        feed = await self._feed(res)
        cache = feed.cache
        if cache is None:
            cache = feed.attach()
            self._builds[key] = asyncio.get_running_loop().create_task(
                self._build(feed, cache))
        if not cache.ready and wait and key in self._builds:
            await asyncio.shield(self._builds[key])
        return cache if cache.ready and cache.alive else None

    async def fresh(self, res: Resource, cache: WatchCache, revision: int,
                    timeout: float) -> bool:
        """Whether `cache` has seen through `revision` within `timeout` seconds (asking the
        store for progress while it waits, as the cacher asks etcd for a progress notify)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        feed = self._feeds.get((res.group, res.plural))
        while not (cache.servable and cache.revision >= revision):
            remaining = deadline - loop.time()
            if not cache.alive or feed is None or remaining <= 0:
                return False
            feed.request_progress()
            await cache.changed(min(remaining, _POLL))
        return True

    async def _build(self, feed: Feed, cache: WatchCache) -> None:
        """Load the cache from the store in chunks at the latest revision, wait until the
        feed has seen through every chunk, then let the buffered events complete it."""
        key = (feed.res.group, feed.res.plural)
        prefix = feed.res.prefix()
        end, start = prefix_end(prefix), prefix
        loop = asyncio.get_running_loop()
        try:
            while True:
                result = await self.store.request({"op": "range", "key": start,
                                                   "range_end": end, "limit": BUILD_CHUNK})
                if feed.cache is not cache:
                    return
                kvs = result["kvs"]
                cache.load(start, kvs, result["revision"])
                if not result.get("more") or not kvs:
                    break
                start = kvs[-1]["key"] + "\x00"
            deadline = loop.time() + BUILD_SECONDS
            while feed.through < cache.loaded_through:
                if feed.cache is not cache or loop.time() > deadline:
                    raise TimeoutError("the watch feed did not catch up with the listing")
                feed.request_progress()
                await cache.changed(_POLL)
            cache.finish()
            self.stats["cache_builds"] += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("watch cache for %s: %s; rebuilt on the next list",
                        feed.res.group_resource, exc)
            if feed.cache is cache:
                feed.cache = None
            cache.close()
        finally:
            if self._builds.get(key) is asyncio.current_task():
                del self._builds[key]

    # ---- feeds ------------------------------------------------------------------------------

    async def _from_store(self, res: Resource, start: int, deadline: float | None
                          ) -> AsyncIterator[tuple]:
        """A watcher older than the ring reads the store itself."""
        prefix = res.prefix()
        events = self.store.watch(prefix, prefix_end(prefix), start_revision=start,
                                  progress=True).__aiter__()
        through = start - 1
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        event = await events.__anext__()
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    yield ("deadline", through)
                    return
                if event.get("type") == "PROGRESS":
                    through = max(through, event["revision"])
                    yield ("progress", event["revision"])
                else:
                    change = Change(event)
                    through = max(through, change.revision - 1)
                    yield ("event", change)
        finally:
            await events.aclose()

    async def _feed(self, res: Resource) -> Feed:
        key = (res.group, res.plural)
        feed = self._feeds.get(key)
        if feed is not None and feed.task is not None:
            return feed
        pending = self._starting.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._starting[key] = future
        try:
            feed = Feed(self.store, res, progress_every=lambda: BOOKMARK_SECONDS,
                        watch=self.mux.watch)
            await feed.start()
            self._feeds[key] = feed
            future.set_result(feed)
            return feed
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it
            raise
        finally:
            del self._starting[key]

    async def stop(self) -> None:
        tasks = [task for feed in self._feeds.values() for task in feed.tasks()]
        tasks += list(self._builds.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.mux.close()


class WatchEvent(dict):
    """An API watch event ({"type", "object"}) whose object is a `Change`'s: `line()` is
    its JSON line, the object encoded once however many watchers send it."""

    __slots__ = ("change",)

    def __init__(self, type_: str, obj: dict, change: Change) -> None:
        super().__init__(type=type_, object=obj)
        self.change = change

    def line(self) -> bytes:
        return b'{"type":"%s","object":%s}\n' % (self["type"].encode(),
                                                  self.change.json(self["object"]))


IDLE: dict = {"type": "IDLE"}
"""What `watch_events(idle_marks=True)` yields before it waits: the events before it may be
sent together. Never sent to a client."""


async def watch_events(hub: WatchHub, res: Resource, namespace: str, query: ListQuery, *,
                       allow_bookmarks: bool = False, timeout: float | None = None,
                       idle_marks: bool = False) -> AsyncIterator[dict]:
    """API watch events ({"type", "object"}) for one watch request, until `timeout`; with
    `idle_marks`, `IDLE` before every wait for more."""
    labels, fields = selectors_for(res, query)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout else None
    rv = query.resource_version
    if rv in ("", "0"):
        listed = await serve_list(hub, res, namespace, ListQuery(
            label_selector=query.label_selector, field_selector=query.field_selector,
            resource_version=rv))
        for obj in listed["items"]:
            yield {"type": "ADDED", "object": obj}
        if idle_marks:
            yield IDLE
        start = int(listed["metadata"]["resourceVersion"]) + 1
    else:
        start = parse_resource_version(rv) + 1
    prefix = res.prefix(namespace)
    seen = start - 1
    last_bookmark = loop.time()
    pinned = _trigger(res, query)
    stream = hub.changes(res, start, trigger=pinned, deadline=deadline,
                         idle_marks=idle_marks).__aiter__()
    try:
        if rv not in ("", "0"):
            await _check_history(hub.store, start, known=hub.through(res))
        while True:
            try:
                item = await stream.__anext__()
            except StopAsyncIteration:
                return
            kind, payload = item
            if kind == "idle":
                yield IDLE
                continue
            if kind == "deadline":  # upstream's last bookmark: resume from here, not older
                if allow_bookmarks:
                    yield _bookmark(res, max(seen, payload))
                continue
            if kind == "progress":
                seen = max(seen, payload)
                if allow_bookmarks and loop.time() - last_bookmark >= BOOKMARK_SECONDS:
                    last_bookmark = loop.time()
                    yield _bookmark(res, seen)
                continue
            if not payload.key.startswith(prefix):
                continue
            event = _api_event(payload, labels, fields, pinned)
            seen = max(seen, payload.revision)
            if event is not None:
                yield event
    except CompactedError as exc:
        yield {"type": "ERROR", "object": Expired(
            f"too old resource version: {start - 1} ({exc.compact_revision})").status()}
    except ApiError as exc:
        yield {"type": "ERROR", "object": exc.status()}
    except (ConnectionError, TimeoutError) as exc:
        yield {"type": "ERROR", "object": InternalError(f"watch ended: {exc}").status()}
    finally:
        await stream.aclose()


async def _check_history(store: Any, start: int, *, known: int) -> None:
    """CompactedError when the store no longer holds revision `start` (the hub's ring may
    still hold it, but a client must see the same 410 a store watch would give). `known`
    is a revision the store has reached (the feed's): at or below it, one read suffices."""
    if start > known:
        current = await store.request({"op": "range", "key": "/", "count_only": True,
                                       "limit": 1})
        if start > current["revision"]:
            return
    await store.request({"op": "range", "key": "/", "count_only": True, "limit": 1,
                         "revision": start})


def _trigger(res: Resource, query: ListQuery) -> Trigger | None:
    """The (field, value) a field selector pins, when that is all it says and the field
    routes watches: the resource's trigger field (`spec.nodeName=n1` on pods) or
    `metadata.name` (any resource)."""
    selector = (query.field_selector or "").strip()
    if not selector or "," in selector or "!" in selector:
        return None
    name, sep, value = selector.partition("==") if "==" in selector else \
        selector.partition("=")
    name = name.strip()
    if not sep or name not in (TRIGGER_FIELDS.get((res.group, res.plural)), NAME_FIELD):
        return None
    return (name, value.strip())


def _api_event(change: Change, labels: Any, fields: Any, pinned: Trigger | None
               ) -> dict | None:
    """The API event a store event is for a watch with these selectors (None: not its
    business). Whether the previous object matched is read without decoding it when the
    selectors are empty, or pin one routed field the watch cache indexes (`pinned`)."""
    if change.raw["type"] == "DELETE":
        obj = change.deleted
        if obj is None:
            return None
        return WatchEvent("DELETED", obj, change) if _matches(obj, labels, fields) else None
    obj = change.obj
    now = _matches(obj, labels, fields)
    if change.raw.get("prev_kv") is None:
        return WatchEvent("ADDED", obj, change) if now else None
    entry = change.prev_entry
    if labels.empty and fields.empty:
        before = True
    elif pinned is not None and entry is not None:
        before = labels.matches(entry.labels) and (
            pinned[0] == NAME_FIELD or entry.trigger == pinned[1])
    else:
        before = _matches(change.prev, labels, fields)
    if now and before:
        return WatchEvent("MODIFIED", obj, change)
    if now:
        return WatchEvent("ADDED", obj, change)
    if before:
        return WatchEvent("DELETED", obj, change)
    return None


def _matches(obj: dict, labels: Any, fields: Any) -> bool:
    return labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj)


def _bookmark(res: Resource, revision: int) -> dict:
    return {"type": "BOOKMARK", "object": {"kind": res.kind, "apiVersion": res.api_version,
                                           "metadata": {"resourceVersion": str(revision)}}}
