"""Watch: Kubernetes watch events from store events, fanned out through one feed per resource.

A `WatchHub` keeps one store watch per resource (started on first use) and a ring of its recent
events, and hands every API watcher a bounded queue fed from it, so a hundred watchers cost
the store one watch. A watcher that starts older than the ring reads the store directly
(which answers 410 once compacted); a watcher too slow to keep up is ended, as kube-apiserver
ends one, and resumes from its last resourceVersion.

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


class _Feed:
    """One store watch over a resource and the queues it feeds."""

    def __init__(self, store: Any, res: Resource) -> None:
        self.store = store
        self.res = res
        self.ring: collections.deque = collections.deque(maxlen=_RING)
        self.floor = 0  # every event with revision >= floor is in the ring
        self.through = 0
        self.queues: set[asyncio.Queue] = set()
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
                revision = event["kv"]["mod_revision"]
                if len(self.ring) == self.ring.maxlen:
                    self.floor = self.ring[0][0] + 1
                self.ring.append((revision, event))
                self.through = max(self.through, revision - 1)
                self._publish(("event", event))
        except Exception as exc:  # the store client retries; anything left ends the feed
            log.warning("watch feed for %s ended: %s", self.res.group_resource, exc)
        finally:
            for q in list(self.queues):
                _offer(q, _END)
            self.queues.clear()
            self.task = None

    def _publish(self, item: tuple) -> None:
        for q in list(self.queues):
            if not _offer(q, item):
                self.queues.discard(q)  # too slow: ended; it resumes from its last RV

    def subscribe(self, start: int) -> asyncio.Queue | None:
        """A queue of everything from revision `start` on, or None when the ring does not
        reach back that far."""
        if self.task is None or start < self.floor:
            return None
        q: asyncio.Queue = asyncio.Queue(maxsize=_QUEUE)
        for revision, event in self.ring:
            if revision >= start:
                q.put_nowait(("event", event))
        self.queues.add(q)
        return q


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
        feed = await self._feed(res)
        q = feed.subscribe(start)
        if q is None:
            prefix = res.prefix()
            async for event in self.store.watch(prefix, prefix_end(prefix),
                                                start_revision=start, progress=True):
                if event.get("type") == "PROGRESS":
                    yield ("progress", event["revision"])
                else:
                    yield ("event", event)
            return
        try:
            while True:
                item = await q.get()
                if item is _END:
                    return
                yield item
        finally:
            feed.queues.discard(q)

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
    stream = hub.stream(res, start).__aiter__()
    try:
        if rv not in ("", "0"):
            await _check_history(hub.store, start)
        while True:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return
            try:
                async with asyncio.timeout(remaining):
                    item = await stream.__anext__()
            except (StopAsyncIteration, TimeoutError):
                return
            kind, payload = item
            if kind == "progress":
                seen = max(seen, payload)
                if allow_bookmarks and loop.time() - last_bookmark >= BOOKMARK_SECONDS:
                    last_bookmark = loop.time()
                    yield _bookmark(res, seen)
                continue
            if not payload["kv"]["key"].startswith(prefix):
                continue
            event = _api_event(payload, labels, fields)
            seen = max(seen, payload["kv"]["mod_revision"])
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


def _api_event(event: dict, labels: Any, fields: Any) -> dict | None:
    kv, prev = event["kv"], event.get("prev_kv")
    if event["type"] == "DELETE":
        if prev is None:
            return None
        obj = decode(prev)
        obj["metadata"]["resourceVersion"] = str(kv["mod_revision"])
        return {"type": "DELETED", "object": obj} if _matches(obj, labels, fields) else None
    obj = decode(kv)
    now = _matches(obj, labels, fields)
    if prev is None:
        return {"type": "ADDED", "object": obj} if now else None
    before = _matches(decode(prev), labels, fields)
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
