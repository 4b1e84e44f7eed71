"""Controller: the informer -> workqueue -> reconcile loop (client-go / controller-runtime).

Event handlers only enqueue `Request`s: `watch(informer)` enqueues the object's own Request on
every add, update and delete, and `watch(informer, map_to=...)` enqueues whatever Requests the
mapping names instead (`owner_requests("ReplicaSet")`: a Pod event wakes its controlling
ReplicaSet). The `WorkQueue` de-duplicates, so a burst of events for one object while it is
being reconciled collapses into one more reconcile of its latest state.

`run(informers)` waits until every informer has synced (a reconciler must never act on a
partial cache), then starts the queue's timer (`queue.run_timer(sleep)`) and `workers` worker
tasks. A worker takes a Request, awaits `reconcile(request)` and settles the key:
- it raised: log it (controller and key; an API error such as a 409 Conflict, the routine
  loss of a write race to a stale cache, without a traceback) and `add_rate_limited` --
  per-key exponential backoff -- except a write refused because the namespace is being
  deleted: that key is dropped, as upstream's controllers do (retrying cannot succeed, and
  the namespace's deletion removes the object);
- it returned `Result(requeue_after=s)`: `forget` the backoff and `add_after(s)`;
- it returned None or `Result()`: `forget`;
and always `done`, so a key re-added meanwhile is queued again. The queue guarantees no two
workers hold one key at once.

`stop()` shuts the queue down (later events are ignored), cancels the timer, and lets each
worker finish the reconcile it is in, never starting another; it returns an awaitable that is
done once `run()` has wound down. Cancelling `run()` instead cancels the workers mid-reconcile.
Time comes from the injected clock (the queue's delays) and `sleep` (the timer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from kubemu.cluster.api.errors import ApiError, Conflict
from kubemu.cluster.client.workqueue import ShutDown, WorkQueue
from kubemu.cluster.clock import Clock
from kubemu.cluster.controllers.podcontrol import is_namespace_terminating
from kubemu.cluster.controllers.reconcile import Request, Result

__all__ = ["Controller", "MapFunc", "Source", "owner_requests"]

log = logging.getLogger("kubemu.controllers")

MapFunc = Callable[[dict], Iterable[Request]]


class Source(Protocol):
    """What a Controller needs of an informer: handlers and the first sync."""

    def add_handler(self, on_add: Callable[[dict], Any] | None = None,
                    on_update: Callable[[dict, dict], Any] | None = None,
                    on_delete: Callable[[dict], Any] | None = None) -> Any: ...

    async def wait_synced(self, timeout: float | None = None) -> bool: ...


class Controller:
    """Runs `reconcile` for every queued Request with backoff, requeue-after and workers."""

    def __init__(self, name: str, *,
                 reconcile: Callable[[Request], Awaitable[Result | None]], clock: Clock,
                 workers: int = 1, queue: WorkQueue | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if workers < 1:
            raise ValueError("a controller needs at least one worker")
        self.name = name
        self.queue = queue if queue is not None else WorkQueue(clock)
        self.reconciles = 0  # reconcile calls started
        self.errors = 0  # reconcile calls that raised
        self._reconcile = reconcile
        self._workers = workers
        self._sleep = sleep
        self._stop_requested = asyncio.Event()
        self._timer: asyncio.Task | None = None
        self._running = False
        self._finished: asyncio.Future[None] | None = None

    # -- event sources -----------------------------------------------------------------------

    def watch(self, informer: Source, *, map_to: MapFunc | None = None) -> None:
        """Enqueue the Request of every object `informer` reports (or `map_to`'s Requests;
        on an update, those of both the old and the new object)."""
        if map_to is None:
            informer.add_handler(
                on_add=lambda obj: self.enqueue(Request.from_object(obj)),
                on_update=lambda old, new: self.enqueue(Request.from_object(new)),
                on_delete=lambda obj: self.enqueue(Request.from_object(obj)))
            return
        mapper = map_to

        def on_update(old: dict, new: dict) -> None:
            self._enqueue_all(mapper(old))
            self._enqueue_all(mapper(new))

        informer.add_handler(on_add=lambda obj: self._enqueue_all(mapper(obj)),
                             on_update=on_update,
                             on_delete=lambda obj: self._enqueue_all(mapper(obj)))

    def enqueue(self, request: Request) -> None:
        """Queue `request` (a no-op if it is queued already or the controller stopped)."""
        self.queue.add(request)

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self, informers: Iterable[Source] = ()) -> None:
        """Wait for the informers' first sync, then reconcile until `stop()`."""
        if self._running:
            raise RuntimeError(f"controller {self.name} is already running")
        self._running = True
        self._finished = asyncio.get_running_loop().create_future()
        workers: list[asyncio.Task] = []
        try:
            if not await self._wait_synced(list(informers)):
                return
            self._timer = asyncio.create_task(self.queue.run_timer(self._sleep),
                                              name=f"controller {self.name} timer")
            workers = [asyncio.create_task(self._worker(), name=f"controller {self.name} #{i}")
                       for i in range(self._workers)]
            log.info("controller %s: started %d workers", self.name, self._workers,
                     extra={"controller": self.name})
            await self._stop_requested.wait()
        except asyncio.CancelledError:
            for task in workers:
                task.cancel()
            raise
        finally:
            self._shut_down()
            pending = [t for t in (self._timer, *workers) if t is not None]
            await asyncio.gather(*pending, return_exceptions=True)
            self._running = False
            if not self._finished.done():
                self._finished.set_result(None)

    def stop(self) -> Awaitable[None]:
        """Shut the queue down and end `run()` once every worker finished its current
        reconcile; await the answer to wait for that (a no-op wait if not running)."""
        self._stop_requested.set()
        self._shut_down()
        if self._running and self._finished is not None:
            return self._finished
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    # -- workers -----------------------------------------------------------------------------

    async def _worker(self) -> None:
        while not self._stop_requested.is_set():
            try:
                request = await self.queue.get()
            except ShutDown:
                return
            if self._stop_requested.is_set():  # handed out after stop(): leave it
                self.queue.done(request)
                return
            try:
                await self._process(request)
            finally:
                self.queue.done(request)

    async def _process(self, request: Any) -> None:
        self.reconciles += 1
        try:
            result = await self._reconcile(request)
        except ApiError as exc:  # the API said no (409 race, 403 terminating namespace...):
            self.errors += 1    # routine for a level-based controller; retry, no traceback
            if is_namespace_terminating(exc):  # upstream drops these: the namespace's
                self.queue.forget(request)     # deletion removes the object anyway
                log.debug("controller %s: %s: %s (dropped)", self.name, request, exc)
                return
            level = logging.INFO if isinstance(exc, Conflict) else logging.WARNING
            log.log(level, "controller %s: %s: %s (requeue)", self.name, request, exc,
                    extra={"controller": self.name, "key": str(request)})
            self.queue.add_rate_limited(request)
            return
        except Exception:
            self.errors += 1
            log.exception("controller %s: reconcile of %s failed (requeue %d)", self.name,
                          request, self.queue.num_requeues(request) + 1,
                          extra={"controller": self.name, "key": str(request)})
            self.queue.add_rate_limited(request)
            return
        self.queue.forget(request)
        if result is not None and result.requeue_after is not None:
            self.queue.add_after(request, result.requeue_after)

    # -- helpers -----------------------------------------------------------------------------

    def _enqueue_all(self, requests: Iterable[Request]) -> None:
        for request in requests:
            self.enqueue(request)

    def _shut_down(self) -> None:
        self.queue.shut_down()
        if self._timer is not None:
            self._timer.cancel()

    async def _wait_synced(self, informers: list[Source]) -> bool:
        """True once every informer synced; False if `stop()` came first."""
        if self._stop_requested.is_set():
            return False
        if not informers:
            return True
        synced = asyncio.ensure_future(
            asyncio.gather(*(informer.wait_synced() for informer in informers)))
        stopped = asyncio.ensure_future(self._stop_requested.wait())
        try:
            await asyncio.wait({synced, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (synced, stopped):
                if not task.done():
                    task.cancel()
            await asyncio.gather(synced, stopped, return_exceptions=True)
        if self._stop_requested.is_set() or synced.cancelled():
            return False
        return all(synced.result())


def owner_requests(kind: str, *, api_version: str | None = None) -> MapFunc:
    """A `map_to` naming the controlling owner of `kind` (an ownerReference with
    controller=true) in the object's namespace; with `api_version`, its group must match."""
    group = _group(api_version) if api_version is not None else None

    def owners(obj: dict) -> list[Request]:
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or ""
        for ref in meta.get("ownerReferences") or ():
            if not ref.get("controller") or ref.get("kind") != kind:
                continue
            if group is not None and _group(ref.get("apiVersion") or "") != group:
                continue
            return [Request(namespace, ref.get("name") or "")]  # at most one controller
        return []

    return owners


def _group(api_version: str) -> str:
    group, sep, _ = api_version.rpartition("/")
    return group if sep else ""
