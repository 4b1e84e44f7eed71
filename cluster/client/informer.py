"""Informer: client-go's shared informer (reflector + indexed cache + handlers) on asyncio.

One loop keeps a local cache equal to the server's view of one resource: list (pages of 500
following continue tokens), replace the cache, mark synced, then watch from the list's
resourceVersion with bookmarks. Each watch event updates the cache first and then calls the
handlers, in event order, so a handler always sees a cache at least as new as its event.
Recovery follows the reflector: a stream that ends is re-watched from the last resourceVersion
seen (bookmarks advance it too); 410 Gone/Expired means the history is gone, so the informer
relists, and the relist's diff against the old cache tells handlers about every add, change and
deletion they missed during the gap. Any other failure backs off exponentially (0.1 s .. 5 s,
reset by progress) before retrying. A watch that ends at once without any event counts as a
failure, so a server that keeps closing streams is not hammered. Handler exceptions are
logged, never fatal. Time comes from the injected clock and `sleep`, so tests run without real
waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kubemu.cluster.api.errors import ApiError
from kubemu.cluster.clock import Clock, WallClock
from kubemu.cluster.client.lister import Cache, IndexFunc, Lister, object_key

__all__ = ["Informer", "Registration", "PAGE_SIZE", "BACKOFF_INITIAL", "BACKOFF_MAX"]

PAGE_SIZE = 500
BACKOFF_INITIAL = 0.1
BACKOFF_MAX = 5.0
SHORT_WATCH_SECONDS = 1.0  # a watch ending sooner than this with no event is a failure

log = logging.getLogger("kubemu.client.informer")


@dataclass(frozen=True, eq=False)
class Registration:
    """One set of handlers; `Informer.remove_handler` takes it back."""

    on_add: Callable[[dict], Any] | None = None
    on_update: Callable[[dict, dict], Any] | None = None
    on_delete: Callable[[dict], Any] | None = None


class Informer:
    """List-then-watch cache of one resource, with event handlers and a Lister."""

    def __init__(self, client: Any, api_version: str, kind: str, *,
                 namespace: str | None = None, label_selector: str | None = None,
                 field_selector: str | None = None,
                 indexers: dict[str, IndexFunc] | None = None, clock: Clock | None = None,
                 sleep: Callable[[float], Awaitable[None]] | None = None,
                 page_size: int = PAGE_SIZE,
                 watch_timeout_seconds: int | None = None,
                 transform: Callable[[dict], dict] | None = None) -> None:
        """`transform` (client-go's SetTransform) turns each listed or watched object into
        what is cached and handed to handlers -- a process that keeps every pod of a large
        cluster keeps only the fields it reads."""
        self._client = client
        self._transform = transform
        self.api_version, self.kind = api_version, kind
        self._namespace = namespace
        self._label_selector, self._field_selector = label_selector, field_selector
        self._clock: Clock = clock or WallClock()
        self._sleep = sleep or asyncio.sleep
        self._page_size = page_size
        self._watch_timeout = watch_timeout_seconds
        self._cache = Cache(indexers)
        self._lister = Lister(self._cache)
        self._handlers: list[Registration] = []
        self._synced = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._last_rv = ""
        self._backoff = _Backoff(BACKOFF_INITIAL, BACKOFF_MAX)
        self._watch_events = 0
        self.name = f"{api_version}/{kind}" + (f" in {namespace}" if namespace else "")

    # -- public ------------------------------------------------------------------------------

    @property
    def lister(self) -> Lister:
        return self._lister

    @property
    def has_synced(self) -> bool:
        """True once the first list has been stored and its handlers called."""
        return self._synced.is_set()

    @property
    def last_resource_version(self) -> str:
        """The newest resourceVersion seen (list, event or bookmark)."""
        return self._last_rv

    def add_handler(self, on_add: Callable[[dict], Any] | None = None,
                    on_update: Callable[[dict, dict], Any] | None = None,
                    on_delete: Callable[[dict], Any] | None = None) -> Registration:
        """Register callbacks; a handler added after objects are cached first gets an
        on_add for each of them (as client-go replays the store to late handlers)."""
        reg = Registration(on_add, on_update, on_delete)
        self._handlers.append(reg)
        if on_add is not None:
            for key in sorted(self._cache.keys()):
                obj = self._cache.get(key)
                if obj is not None:
                    self._call(on_add, obj)
        return reg

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        """Add indexes to the cache, also after it filled (shared informers)."""
        self._cache.add_indexers(indexers)

    def remove_handler(self, reg: Registration) -> None:
        self._handlers = [h for h in self._handlers if h is not reg]

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait for the first sync; False if `timeout` seconds pass first."""
        if self._synced.is_set():
            return True
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        """List and watch until `stop()` (or cancellation); errors never end it."""
        if self._running:
            raise RuntimeError(f"informer {self.name} is already running")
        if self._stopped.is_set():
            return
        self._running = True
        work = asyncio.create_task(self._loop(), name=f"informer {self.name}")
        stop = asyncio.create_task(self._stopped.wait())
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            work.cancel()
            stop.cancel()
            await asyncio.gather(work, stop, return_exceptions=True)
            self._running = False
        if work.done() and not work.cancelled() and work.exception() is not None:
            raise work.exception()  # type: ignore[misc]  # a bug in the loop itself

    def stop(self) -> None:
        """End `run()`; the open watch stream is closed. An informer does not restart."""
        self._stopped.set()

    # -- the loop ----------------------------------------------------------------------------

    async def _loop(self) -> None:
        need_list = True
        while True:
            if need_list:
                try:
                    await self._list_and_replace()
                except Exception as err:  # any failure (API, connection, decoding): retry
                    log.warning("informer %s: list failed: %r", self.name, err)
                    await self._sleep(self._backoff.next())
                    continue
                need_list = False
                self._backoff.reset()
            started = self._clock.now()
            self._watch_events = 0
            try:
                await self._watch()
            except ApiError as err:
                if err.code == 410:
                    log.info("informer %s: resourceVersion %s too old, relisting",
                             self.name, self._last_rv)
                    need_list = True
                    continue
                log.warning("informer %s: watch failed: %s", self.name, err)
                await self._retry_pause()
                continue
            except Exception as err:  # connection lost, a bad line: re-watch after a pause
                log.warning("informer %s: watch failed: %r", self.name, err)
                await self._retry_pause()
                continue
            if self._watch_events:
                self._backoff.reset()
            elif self._clock.now() - started < SHORT_WATCH_SECONDS:
                log.info("informer %s: watch closed at once without events", self.name)
                await self._sleep(self._backoff.next())

    async def _retry_pause(self) -> None:
        if self._watch_events:
            self._backoff.reset()
        await self._sleep(self._backoff.next())

    async def _list_and_replace(self) -> None:
        items, rv = await self._list()
        for item in items:  # list items carry no type; watch events do: make them alike
            item.setdefault("apiVersion", self.api_version)
            item.setdefault("kind", self.kind)
        if self._transform is not None:
            items = [self._transform(item) for item in items]
        added, changed, deleted = self._cache.replace(items)
        self._last_rv = rv
        for obj in added:
            self._emit_add(obj)
        for old, new in changed:
            self._emit_update(old, new)
        for obj in deleted:
            self._emit_delete(obj)
        self._synced.set()

    async def _list(self) -> tuple[list[dict], str]:
        items: list[dict] = []
        token: str | None = None
        limit: int | None = self._page_size
        while True:
            try:
                page = await self._client.list(
                    self.api_version, self.kind, namespace=self._namespace,
                    label_selector=self._label_selector, field_selector=self._field_selector,
                    limit=limit, continue_=token)
            except ApiError as err:
                if err.code == 410 and token:  # continue token expired: one unpaged list
                    items, token, limit = [], None, None
                    continue
                raise
            items.extend(page.get("items") or ())
            meta = page.get("metadata") or {}
            token = meta.get("continue") or None
            if not token:
                return items, str(meta.get("resourceVersion") or "")

    async def _watch(self) -> None:
        events = self._client.watch(
            self.api_version, self.kind, namespace=self._namespace,
            resource_version=self._last_rv or None, label_selector=self._label_selector,
            field_selector=self._field_selector, timeout_seconds=self._watch_timeout,
            allow_bookmarks=True)
        try:
            async for event in events:
                self._watch_events += 1
                self._apply(event)
        finally:
            await events.aclose()

    def _apply(self, event: dict) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if self._transform is not None and kind in ("ADDED", "MODIFIED", "DELETED"):
            obj = self._transform(obj)
        if kind in ("ADDED", "MODIFIED"):
            old = self._cache.upsert(obj)
            if old is None:
                self._emit_add(obj)
            else:
                self._emit_update(old, obj)
        elif kind == "DELETED":
            old = self._cache.delete(object_key(obj))
            self._emit_delete(obj if obj.get("metadata") else (old or obj))
        elif kind != "BOOKMARK":
            log.warning("informer %s: ignoring watch event of type %r", self.name, kind)
            return
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self._last_rv = str(rv)

    # -- handlers ----------------------------------------------------------------------------

    def _emit_add(self, obj: dict) -> None:
        for h in list(self._handlers):
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _emit_update(self, old: dict, new: dict) -> None:
        for h in list(self._handlers):
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _emit_delete(self, obj: dict) -> None:
        for h in list(self._handlers):
            if h.on_delete is not None:
                self._call(h.on_delete, obj)

    def _call(self, fn: Callable[..., Any], *args: dict) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("informer %s: handler %r failed on %s", self.name, fn,
                          object_key(args[-1]))


class _Backoff:
    """Exponential delay: initial, doubled per failure, capped; reset by progress."""

    def __init__(self, initial: float, cap: float) -> None:
        self._initial, self._cap = initial, cap
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self._cap)
        return delay

    def reset(self) -> None:
        self._next = self._initial
