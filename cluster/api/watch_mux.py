"""WatchMux: the API server's resource watches over ONE store watch of everything it serves.

kube-apiserver opens an etcd watch per resource and etcd's client multiplexes them over one
stream; here each store watch is a long poll the replica answers for itself, so forty feeds
meant forty polls woken by every commit and a Ray call per feed per answer. The mux keeps one
watch of `root` and hands each subscriber the events under its prefix, in revision order,
with the same PROGRESS markers a store watch gives (`progress=True`): after every answer to
a subscriber that had events in it, and at least every `IDLE_PROGRESS` seconds to the others.

A subscriber may start anywhere the shared watch can serve: at or after the oldest event of
its ring of recent events (replayed from the ring), or ahead of where it has got to (events
before its start are skipped). Anything else -- an older start, a range that is not one
prefix ending in "/" under `root` -- gets a store watch of its own, as before. When the shared
watch fails (a compacted revision, a closed store) every subscriber's iterator raises that
error and the next subscriber starts the shared watch afresh.

Routing is by a key's directory (the key up to its last "/"): for a prefix ending in "/",
`key.startswith(prefix)` holds exactly when the directory starts with it, so the subscribers
of each directory are computed once, not per event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from kubemu.cluster.api.watch_ring import EventRing, event_size
from kubemu.cluster.store import prefix_end

__all__ = ["WatchMux", "IDLE_PROGRESS", "RING"]

IDLE_PROGRESS = 1.0  # seconds: a subscriber with no events hears progress at least this often
RING = 10_000  # recent events a late subscriber is replayed from
RING_BYTES = 64 * 2**20  # and at most this many bytes of them (see `watch_ring`)


class _Sub:
    __slots__ = ("prefix", "start", "queue", "dirty", "told_at")

    def __init__(self, prefix: str, start: int) -> None:
        self.prefix = prefix
        self.start = start
        self.queue: asyncio.Queue = asyncio.Queue()
        self.dirty = False  # events since its last progress marker
        self.told_at = -float("inf")


class WatchMux:
    """Prefix watches under `root`, served from one watch of `store`."""

    def __init__(self, store: Any, root: str = "/registry/", *, ring: int = RING) -> None:
        self.store = store
        self.root = root
        self._subs: set[_Sub] = set()
        self._routes: dict[str, tuple[_Sub, ...]] = {}
        self._ring = EventRing(count=ring, size=RING_BYTES)  # holds every event >= its floor
        self._through = 0  # the shared watch is complete through this revision
        self._task: asyncio.Task | None = None
        self.store_watches = 0  # shared watches started (a restart after failure adds one)

    async def watch(self, key: str, range_end: str = "", *, start_revision: int,
                    progress: bool = False) -> AsyncIterator[dict]:
        """As the store's `watch`: event dicts of the range from `start_revision` in order
        (with PROGRESS markers if asked); the shared watch's error when it fails."""
        sub = None
        if (start_revision > 0 and key.startswith(self.root) and key.endswith("/")
                and range_end == prefix_end(key)):
            sub = self._subscribe(key, start_revision)
        if sub is None:
            async for event in self.store.watch(key, range_end, start_revision=start_revision,
                                                progress=progress):
                yield event
            return
        try:
            while True:
                item = await sub.queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                if item[0] == "PROGRESS":
                    if progress:
                        yield {"type": "PROGRESS", "revision": item[1]}
                else:
                    yield item[1]
        finally:
            self._unsubscribe(sub)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # ---- the shared watch -------------------------------------------------------------------

    def _subscribe(self, prefix: str, start: int) -> _Sub | None:
        """A subscriber fed from `start` on, or None when the ring does not reach back."""
        if self._task is None:
            self._ring.clear(floor=start)
            self._through = start - 1
            self.store_watches += 1
            self._task = asyncio.get_running_loop().create_task(self._run(start))
        elif start < self._ring.floor:
            return None
        sub = _Sub(prefix, start)
        for _revision, event in self._ring.since(start):  # what it has handed out already
            if event["kv"]["key"].startswith(prefix):
                sub.queue.put_nowait(("EVENT", event))
        if self._through >= start:
            sub.queue.put_nowait(("PROGRESS", self._through))
        self._subs.add(sub)
        self._routes.clear()
        return sub

    def _unsubscribe(self, sub: _Sub) -> None:
        if sub in self._subs:
            self._subs.discard(sub)
            self._routes.clear()

    def _route(self, key: str) -> tuple[_Sub, ...]:
        directory = key[:key.rfind("/") + 1]
        subs = self._routes.get(directory)
        if subs is None:
            subs = self._routes[directory] = tuple(
                s for s in self._subs if directory.startswith(s.prefix))
        return subs

    async def _run(self, start: int) -> None:
        loop = asyncio.get_running_loop()
        ring = self._ring
        end: BaseException | None = None
        try:
            async for event in self.store.watch(self.root, prefix_end(self.root),
                                                start_revision=start, progress=True):
                if event.get("type") == "PROGRESS":
                    self._through = through = max(self._through, event["revision"])
                    now = loop.time()
                    for sub in self._subs:
                        if sub.dirty or now - sub.told_at >= IDLE_PROGRESS:
                            sub.dirty, sub.told_at = False, now
                            sub.queue.put_nowait(("PROGRESS", through))
                    continue
                revision = event["kv"]["mod_revision"]
                ring.append(revision, event, event_size(event))
                self._through = max(self._through, revision - 1)
                for sub in self._route(event["kv"]["key"]):
                    if revision >= sub.start:
                        sub.dirty = True
                        sub.queue.put_nowait(("EVENT", event))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - every subscriber raises it
            end = exc
        finally:
            if self._task is asyncio.current_task():
                self._task = None
            for sub in self._subs:
                sub.queue.put_nowait(end)
            self._subs.clear()
            self._routes.clear()
