"""EventRecorder: client-go's event recorder -- what `kubectl describe` prints under Events.

Components call `record(obj, type, reason, message)` without awaiting: it only queues, so a
reconcile or a pod worker never waits on (or fails because of) an Event write. `run()` writes
queued Events as core/v1 Events in the involved object's namespace ("default" for
cluster-scoped objects, as upstream). Repeats are aggregated as upstream's correlator does:
the same (object uid, type, reason, message) seen again patches the existing Event's `count`
and `lastTimestamp` instead of creating another. The queue is bounded; when it is full new
Events are dropped (Events are best effort upstream too), and a failed write (or one still unanswered after
10 s) is logged and dropped; several writers drain the queue at once, so a burst (a 250-pod scale-up) does not
back up behind one round trip per Event. Names are `<object name>.<16 hex digits>` like upstream's. `for_component(name)` gives a
recorder sharing this one's queue and writer under another source component, so every
controller in the controller manager signs its Events as upstream's do
("deployment-controller", "node-controller").
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

from kubemu.cluster.api.errors import ApiError
from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.timing import Timing

__all__ = ["EventRecorder", "ComponentRecorder", "NORMAL", "WARNING"]

NORMAL = "Normal"
WARNING = "Warning"
_QUEUE_LIMIT = 5000
_WRITERS = 8  # Event writes in flight: one round trip each, so a burst drains in parallel
_WRITE_TIMEOUT = 10.0  # seconds: a write stuck on a dead connection frees its writer
_REMEMBERED = 4096  # aggregation keys kept (oldest forgotten first)

log = logging.getLogger("kubemu.events")


class EventRecorder:
    def __init__(self, client: Any, timing: Timing, *, component: str, host: str = "") -> None:
        self.client = client
        self.timing = timing
        self.component = component
        self.host = host
        self.dropped = 0
        self._queue: asyncio.Queue[tuple[dict, float, str]] = asyncio.Queue(_QUEUE_LIMIT)
        self._seen: OrderedDict[tuple, tuple[str, str, int]] = OrderedDict()
        self._serial = 0

    def for_component(self, component: str) -> ComponentRecorder:
        """A recorder writing through this one, with `component` as the Event source."""
        return ComponentRecorder(self, component)

    def record(self, obj: dict, type_: str, reason: str, message: str, *,
               field_path: str | None = None, component: str | None = None) -> None:
        """Queue an Event about `obj` (type "Normal" or "Warning")."""
        involved = _reference(obj)
        if field_path:
            involved["fieldPath"] = field_path
        event = {"involvedObject": involved, "type": type_, "reason": reason,
                 "message": message}
        try:
            self._queue.put_nowait((event, self.timing.wall(), component or self.component))
        except asyncio.QueueFull:
            self.dropped += 1

    async def run(self) -> None:
        """Write queued Events (several at a time) until cancelled."""
        writers = [asyncio.ensure_future(self._writer()) for _ in range(_WRITERS)]
        try:
            await asyncio.gather(*writers)
        finally:
            for writer in writers:
                writer.cancel()
            await asyncio.gather(*writers, return_exceptions=True)

    async def _writer(self) -> None:
        while True:
            event, when, component = await self._queue.get()
            try:
                await asyncio.wait_for(self._write(event, when, component), _WRITE_TIMEOUT)
            except (ApiError, asyncio.TimeoutError) as exc:
                log.debug("event %s dropped: %r", event["reason"], exc)
            except Exception:  # an Event is never worth crashing a component
                log.exception("event %s dropped", event["reason"])

    async def flush(self) -> None:
        """Write everything queued so far (for orderly shutdown and tests)."""
        while not self._queue.empty():
            event, when, component = self._queue.get_nowait()
            try:
                await self._write(event, when, component)
            except ApiError:
                pass

    async def _write(self, event: dict, when: float, component: str) -> None:
        involved = event["involvedObject"]
        namespace = involved.get("namespace") or "default"
        key = (component, involved.get("uid"), involved.get("fieldPath"), event["type"],
               event["reason"], event["message"])
        stamp = rfc3339(when)
        seen = self._seen.get(key)
        if seen is not None:
            name, ns, count = seen
            try:
                await self.client.patch("v1", "Event", name, {
                    "count": count + 1, "lastTimestamp": stamp}, namespace=ns,
                    patch_type="merge")
                self._remember(key, (name, ns, count + 1))
                return
            except ApiError:
                pass  # gone (expired or deleted): create afresh
        self._serial += 1
        name = f"{involved.get('name') or 'event'}.{int(when * 1e9) + self._serial:016x}"
        body = {"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": namespace},
                **event, "source": {"component": component,
                                    **({"host": self.host} if self.host else {})},
                "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
                "reportingComponent": component, "reportingInstance": self.host}
        await self.client.create(body, namespace=namespace)
        self._remember(key, (name, namespace, 1))

    def _remember(self, key: tuple, value: tuple[str, str, int]) -> None:
        self._seen[key] = value
        self._seen.move_to_end(key)
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)


class ComponentRecorder:
    """An EventRecorder's view under another source component."""

    def __init__(self, recorder: EventRecorder, component: str) -> None:
        self.recorder = recorder
        self.component = component

    def record(self, obj: dict, type_: str, reason: str, message: str, *,
               field_path: str | None = None) -> None:
        self.recorder.record(obj, type_, reason, message, field_path=field_path,
                             component=self.component)


def _reference(obj: dict) -> dict:
    meta = obj.get("metadata") or {}
    ref = {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj.get("kind", ""),
           "name": meta.get("name", ""), "uid": meta.get("uid", "")}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    if meta.get("resourceVersion"):
        ref["resourceVersion"] = meta["resourceVersion"]
    return ref
