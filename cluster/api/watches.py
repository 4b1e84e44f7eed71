"""Watch: Kubernetes watch events from store events, fanned out through one feed per resource.

A `WatchHub` keeps one store watch per resource (started on first use) and a ring of its recent
events, and hands every API watcher a bounded queue fed from it, so a hundred watchers cost
the store one watch. A watcher that starts older than the ring reads the store directly
(which answers 410 once compacted); a watcher too slow to keep up is ended, as kube-apiserver
ends one, and resumes from its last resourceVersion.

Each store event is decoded once per feed (`_Change`, shared read-only by every watcher), and
a watcher whose field selector pins an indexed field -- a kubelet's `spec.nodeName=<node>`
Pod watch, as upstream's cacher triggers -- is handed only the events whose old or new object
carries that value, so a hundred kubelets cost one decode per pod write, not a hundred.

`watch_events` turns store events into API events the way the watch cache does: a put is ADDED
(created) or MODIFIED, a delete is DELETED carrying the last state at the delete's revision,
and with selectors an object that starts (stops) matching is ADDED (DELETED). resourceVersion
unset or "0" first sends the current objects as ADDED; BOOKMARK events carry the revision the
watch has seen through; a compacted start is an ERROR event with a 410 Expired Status.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from typing import Any

from kubemu.cluster.api.errors import ApiError, Expired, InternalError
from kubemu.cluster.api.lists import ListQuery, list_objects, parse_resource_version, selectors_for
from kubemu.cluster.api.objects import decode
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.store import CompactedError, prefix_end

__all__ = ["WatchHub", "watch_events", "BOOKMARK_SECONDS"]

log = logging.getLogger(__name__)

BOOKMARK_SECONDS = 5.0  # upstream sends about one a minute; clients only gain from more
_RING = 20_000
_QUEUE = 20_000
_END = object()


# Fields a watch's field selector may pin for routing (upstream's cacher IndexedTrigger).
TRIGGER_FIELDS = {("", "pods"): "spec.nodeName"}


class _Change:
    """One store event, its objects decoded at most once and shared (never mutate them)."""

    __slots__ = ("raw", "_obj", "_prev", "_deleted")

    def __init__(self, raw: dict) -> None:
        self.raw = raw
        self._obj: dict | None = None
        self._prev: dict | None = None
        self._deleted: dict | None = None

    @property
    def key(self) -> str:
        return self.raw["kv"]["key"]

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

    def trigger_values(self, field: str) -> set[str]:
        objs = [self.prev] if self.raw["type"] == "DELETE" else [self.obj, self.prev]
        return {_field_value(o, field) for o in objs if o is not None}


class _Feed:
    """One store watch over a resource and the queues it feeds."""

    def __init__(self, store: Any, res: Resource) -> None:
        self.store = store
        self.res = res
        self.ring: collections.deque = collections.deque(maxlen=_RING)
        self.floor = 0  # every event with revision >= floor is in the ring
        self.through = 0
        self.queues: set[asyncio.Queue] = set()  # every event
        self.trigger_field = TRIGGER_FIELDS.get((res.group, res.plural))
        self.triggered: dict[str, set[asyncio.Queue]] = {}  # field value -> its queues
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        now = (await self.store.request({"op": "range", "key": "/", "count_only": True,
                                         "limit": 1}))["revision"]
        self.floor = self.through = now + 1
        self.through = now
        self.task = asyncio.get_running_loop().create_task(self._run(now + 1))

    async def _run(self, start: int) -> None:
        prefix = self.res.prefix()
        try:
            async for event in self.store.watch(prefix, prefix_end(prefix),
                                                start_revision=start, progress=True):
                if event.get("type") == "PROGRESS":
                    self.through = max(self.through, event["revision"])
                    marker = ("progress", self.through)
                    self._publish(marker)
                    continue
                change = _Change(event)
                revision = change.revision
                if len(self.ring) == self.ring.maxlen:
                    self.floor = self.ring[0][0] + 1
                self.ring.append((revision, change))
                self.through = max(self.through, revision - 1)
                self._publish(("event", change))
        except Exception as exc:  # the store client retries; anything left ends the feed
            log.warning("watch feed for %s ended: %s", self.res.group_resource, exc)
        finally:
            for q in self._all_queues():
                _offer(q, _END)
            self.queues.clear()
            self.triggered.clear()
            self.task = None

    def _publish(self, item: tuple) -> None:
        if item[0] == "progress" or not self.triggered:
            targets = self._all_queues() if item[0] == "progress" else list(self.queues)
        else:
            targets = list(self.queues)
            for value in item[1].trigger_values(self.trigger_field):
                targets.extend(self.triggered.get(value, ()))
        for q in targets:
            if not _offer(q, item):
                self.unsubscribe(q)  # too slow: ended; it resumes from its last RV

    def _all_queues(self) -> list[asyncio.Queue]:
        out = list(self.queues)
        for queues in self.triggered.values():
            out.extend(queues)
        return out

    def subscribe(self, start: int, trigger: str | None = None) -> asyncio.Queue | None:
        """A queue of everything from revision `start` on (only events whose objects carry
        `trigger` in the feed's trigger field, when given), or None when the ring does not
        reach back that far."""
        if self.task is None or start < self.floor:
            return None
        if trigger is not None and self.trigger_field is None:
            trigger = None
        q: asyncio.Queue = asyncio.Queue(maxsize=_QUEUE)
        for revision, change in self.ring:
            if revision >= start and (trigger is None or trigger in change.trigger_values(
                    self.trigger_field)):
                q.put_nowait(("event", change))
        if trigger is None:
            self.queues.add(q)
        else:
            self.triggered.setdefault(trigger, set()).add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self.queues.discard(q)
        for value, queues in list(self.triggered.items()):
            queues.discard(q)
            if not queues:
                del self.triggered[value]


def _offer(q: asyncio.Queue, item: Any) -> bool:
    try:
        q.put_nowait(item)
        return True
    except asyncio.QueueFull:
        try:
            q.get_nowait()
            q.put_nowait(_END)
        except (asyncio.QueueEmpty, asyncio.QueueFull):
            pass
        return False


class WatchHub:
    def __init__(self, store: Any) -> None:
        self.store = store
        self._feeds: dict[tuple[str, str], _Feed] = {}
        self._starting: dict[tuple[str, str], asyncio.Future] = {}

    async def stream(self, res: Resource, start: int) -> AsyncIterator[tuple]:
        """("event", store event) and ("progress", revision) items from revision `start`."""
        async for kind, payload in self.changes(res, start):
            yield (kind, payload.raw if kind == "event" else payload)

    async def changes(self, res: Resource, start: int, *, trigger: str | None = None,
                      deadline: float | None = None) -> AsyncIterator[tuple]:
        """("event", _Change) and ("progress", revision) items from revision `start` until
        the loop time `deadline`; with `trigger`, at least the events whose objects carry it
        in the resource's trigger field (and possibly others: callers still filter)."""
        feed = await self._feed(res)
        q = feed.subscribe(start, trigger)
        if q is None:
            async for item in self._from_store(res, start, deadline):
                yield item
            return
        loop = asyncio.get_running_loop()
        # the deadline ends the stream through the queue: no timer per item
        timer = loop.call_at(deadline, _offer, q, _END) if deadline is not None else None
        try:
            while True:
                try:
                    item = q.get_nowait()
                except asyncio.QueueEmpty:
                    item = await q.get()
                if item is _END:
                    return
                yield item
        finally:
            if timer is not None:
                timer.cancel()
            feed.unsubscribe(q)

    async def _from_store(self, res: Resource, start: int, deadline: float | None
                          ) -> AsyncIterator[tuple]:
        """A watcher older than the ring reads the store itself."""
        prefix = res.prefix()
        events = self.store.watch(prefix, prefix_end(prefix), start_revision=start,
                                  progress=True).__aiter__()
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        event = await events.__anext__()
                except (StopAsyncIteration, TimeoutError):
                    return
                if event.get("type") == "PROGRESS":
                    yield ("progress", event["revision"])
                else:
                    yield ("event", _Change(event))
        finally:
            await events.aclose()

    async def _feed(self, res: Resource) -> _Feed:
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
            feed = _Feed(self.store, res)
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
        tasks = [feed.task for feed in self._feeds.values() if feed.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def watch_events(hub: WatchHub, res: Resource, namespace: str, query: ListQuery, *,
                       allow_bookmarks: bool = False, timeout: float | None = None
                       ) -> AsyncIterator[dict]:
    """API watch events ({"type", "object"}) for one watch request, until `timeout`."""
    labels, fields = selectors_for(res, query)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout if timeout else None
    rv = query.resource_version
    if rv in ("", "0"):
        listed = await list_objects(hub.store, res, namespace, ListQuery(
            label_selector=query.label_selector, field_selector=query.field_selector))
        for obj in listed["items"]:
            yield {"type": "ADDED", "object": obj}
        start = int(listed["metadata"]["resourceVersion"]) + 1
    else:
        start = parse_resource_version(rv) + 1
    prefix = res.prefix(namespace)
    seen = start - 1
    last_bookmark = loop.time()
    stream = hub.changes(res, start, trigger=_trigger(res, query),
                         deadline=deadline).__aiter__()
    try:
        if rv not in ("", "0"):
            await _check_history(hub.store, start)
        while True:
            try:
                item = await stream.__anext__()
            except StopAsyncIteration:
                return
            kind, payload = item
            if kind == "progress":
                seen = max(seen, payload)
                if allow_bookmarks and loop.time() - last_bookmark >= BOOKMARK_SECONDS:
                    last_bookmark = loop.time()
                    yield _bookmark(res, seen)
                continue
            if not payload.key.startswith(prefix):
                continue
            event = _api_event(payload, labels, fields)
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


async def _check_history(store: Any, start: int) -> None:
    """CompactedError when the store no longer holds revision `start` (the hub's ring may
    still hold it, but a client must see the same 410 a store watch would give)."""
    current = await store.request({"op": "range", "key": "/", "count_only": True, "limit": 1})
    if start <= current["revision"]:
        await store.request({"op": "range", "key": "/", "count_only": True, "limit": 1,
                             "revision": start})


def _trigger(res: Resource, query: ListQuery) -> str | None:
    """The value a field selector pins in the resource's trigger field (`spec.nodeName=n1`
    on pods), if that is all it says."""
    field = TRIGGER_FIELDS.get((res.group, res.plural))
    selector = (query.field_selector or "").strip()
    if field is None or not selector or "," in selector or "!" in selector:
        return None
    name, sep, value = selector.partition("==") if "==" in selector else \
        selector.partition("=")
    return value.strip() if sep and name.strip() == field else None


def _field_value(obj: dict, field: str) -> str:
    value: Any = obj
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def _api_event(change: _Change, labels: Any, fields: Any) -> dict | None:
    if change.raw["type"] == "DELETE":
        obj = change.deleted
        if obj is None:
            return None
        return {"type": "DELETED", "object": obj} if _matches(obj, labels, fields) else None
    obj = change.obj
    now = _matches(obj, labels, fields)
    prev = change.prev
    if prev is None:
        return {"type": "ADDED", "object": obj} if now else None
    before = _matches(prev, labels, fields)
    if now and before:
        return {"type": "MODIFIED", "object": obj}
    if now:
        return {"type": "ADDED", "object": obj}
    if before:
        return {"type": "DELETED", "object": obj}
    return None


def _matches(obj: dict, labels: Any, fields: Any) -> bool:
    return labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj)


def _bookmark(res: Resource, revision: int) -> dict:
    return {"type": "BOOKMARK", "object": {"kind": res.kind, "apiVersion": res.api_version,
                                           "metadata": {"resourceVersion": str(revision)}}}
