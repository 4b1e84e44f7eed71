"""PodDriver: one pod's task on the node (upstream's pod worker goroutine plus status manager).

The pod state machine (`PodWorker`) is pure; this is its driver. One `PodDriver` per pod uid
owns one asyncio task that loops: `step(now)`, forward Event actions to the recorder (the pod
as involved object, with fieldPath), write `status()` when it differs from what it last
wrote, act on `DeletePod`, then sleep (Kubernetes time) until `next_wakeup()` or until the
informer hands it a newer pod object, whichever comes first.

Status writes are what upstream's status manager sends: a strategic merge patch of
`pods/status` with `metadata.uid`, so a pod deleted and recreated under the same name is
never written (the API server rejects a uid change: Invalid on metadata.uid), and
conditions merge by type, so conditions other components own (DisruptionTarget from the
taint manager, PodScheduled from the scheduler) survive. Keys this driver wrote before and
no longer reports are nulled. `DeletePod` (the worker's containers are all stopped) deletes
with grace 0 and a uid precondition. NotFound, Conflict or a rejected uid mean the pod is
gone: the task ends quietly. Other API errors (an invalid status is a bug: logged as a
warning) and connection failures retry after `retry` seconds; nothing here raises out of
the task.

Like upstream's status manager (needsReconcile), the driver reconciles: when the informer
hands it a pod newer than its last write whose phase or kubelet-owned conditions differ from
what it wrote -- another writer changed them, as the node lifecycle controller sets Ready
False on every pod of a node it thinks is down (MarkPodsNotReady) -- it writes its whole
status again, so a node that comes back does not leave its running pods unready for good.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from kubemu.cluster.api.errors import Conflict, Invalid, NotFound
from kubemu.cluster.node.pod_status import KUBELET_CONDITIONS
from kubemu.cluster.scheduler.nodeinfo import Resources, pod_requests
from kubemu.cluster.timing import Timing

__all__ = ["TERMINAL_PHASES", "PodDriver", "Worker", "drifted", "sleep_or_wake"]

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
_MIN_STEP = 0.001  # never spin: a wakeup at or before `now` still waits this long

log = logging.getLogger("kubemu.kubelet.pods")


class Worker(Protocol):
    """What the driver needs of a pod worker (cluster/node/pod_worker.py's PodWorker)."""

    uid: str

    def update(self, pod: dict, now: float) -> None: ...
    def step(self, now: float) -> list: ...
    def next_wakeup(self) -> float | None: ...
    def status(self) -> dict: ...
    def memory_bytes(self) -> int: ...
    def evict(self, now: float, message: str) -> None: ...
    def reject(self, reason: str, message: str) -> None: ...
    def logs(self, container: str, *, previous: bool = False) -> list[str]: ...


class PodDriver:
    def __init__(self, pod: dict, *, client: Any, timing: Timing, recorder: Any,
                 retry: float = 1.0) -> None:
        meta = pod.get("metadata") or {}
        self.uid: str = meta.get("uid", "")
        self.namespace: str = meta.get("namespace", "")
        self.name: str = meta.get("name", "")
        self.pod = pod
        self.worker: Worker | None = None
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.admitted = False  # counts against the node's allocatable while active
        self.ended = False  # deleted by us, or found gone
        self._client, self._timing, self._recorder = client, timing, recorder
        self._retry = retry
        self._written: dict | None = None
        self._written_at = 0  # the resourceVersion of our last write: older objects are stale
        self._pending_delete: str | None = None
        self._requests: tuple[dict | None, Resources] | None = None  # (spec, its requests)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def phase(self) -> str:
        if self.worker is not None:
            return self.worker.phase
        return (self.pod.get("status") or {}).get("phase", "")

    @property
    def active(self) -> bool:
        """Admitted and not finished: uses the node's resources (upstream GetActivePods)."""
        return self.admitted and not self.ended and self.phase not in TERMINAL_PHASES

    @property
    def requests(self) -> Resources:
        """What the pod asks of the node (`pod_requests`), parsed once per spec: admission
        sums it over every active pod of the node for each new one."""
        spec = self.pod.get("spec")
        if self._requests is None or self._requests[0] is not spec:
            self._requests = (spec, pod_requests(self.pod))
        return self._requests[1]

    @property
    def deleting(self) -> bool:
        return bool((self.pod.get("metadata") or {}).get("deletionTimestamp"))

    def update(self, pod: dict) -> None:
        """A newer object of this pod from the informer."""
        self.pod = pod
        if (self._written is not None and _revision(pod) > self._written_at
                and drifted(pod.get("status"), self._written)):
            self._written = None  # another writer changed what we own: write it all again
        if self.worker is not None:
            self.worker.update(pod, self._timing.clock.now())
        self.wake.set()

    def record(self, type_: str, reason: str, message: str, field_path: str | None = None) -> None:
        if self._recorder is not None:
            self._recorder.record(self.pod, type_, reason, message, field_path=field_path)

    async def run(self, worker: Worker) -> None:
        """Drive `worker` until the pod is deleted or gone (cancel to stop)."""
        self.worker = worker
        while not self.ended:
            self.wake.clear()
            now = self._timing.clock.now()
            delete = self._pending_delete  # a DeletePod whose write failed is retried
            for action in worker.step(now):
                if hasattr(action, "reason"):  # Event(type, reason, message, field_path)
                    self.record(action.type, action.reason, action.message,
                                getattr(action, "field_path", None))
                elif hasattr(action, "uid"):  # DeletePod(uid), emitted once
                    delete = self._pending_delete = action.uid
            wake_at = worker.next_wakeup()
            try:
                await self.write_status()
                if delete is not None:
                    await self._delete(delete)
                    return
            except Exception as err:  # noqa: BLE001 - API or connection
                if _gone(err):
                    log.debug("pod %s (%s) is gone: %s", self.key, self.uid, err)
                    self.ended = True
                    return
                level = logging.WARNING if isinstance(err, Invalid) else logging.INFO
                log.log(level, "pod %s: write failed, retrying: %s", self.key, err)
                wake_at = min(wake_at, now + self._retry) if wake_at is not None \
                    else now + self._retry
                self._written = None  # unknown what the server has: write it all next time
            await self._wait(wake_at)

    async def write_status(self) -> bool:
        """Patch pods/status when the worker's status changed; True when written."""
        if self.worker is None:
            return False
        status = self.worker.status()
        if status == self._written:
            return False
        body = {"metadata": {"uid": self.uid}, "status": _with_nulls(self._written, status)}
        written = await self._client.patch("v1", "Pod", self.name, body,
                                           namespace=self.namespace, patch_type="strategic",
                                           subresource="status")
        self._written, self._written_at = status, _revision(written)
        return True

    async def _delete(self, uid: str) -> None:
        await self._client.delete("v1", "Pod", self.name, namespace=self.namespace,
                                  grace_period_seconds=0, preconditions={"uid": uid})
        self.ended = True

    async def _wait(self, wake_at: float | None) -> None:
        if self.wake.is_set():
            return
        delay = None if wake_at is None else max(_MIN_STEP, wake_at - self._timing.clock.now())
        await sleep_or_wake(self._timing, self.wake, delay)


async def sleep_or_wake(timing: Timing, event: asyncio.Event, delay: float | None) -> None:
    """Wait `delay` Kubernetes seconds (forever when None) or until `event` is set."""
    if event.is_set():
        return
    if delay is None:
        await event.wait()
        return
    waiter = asyncio.ensure_future(event.wait())
    sleeper = asyncio.ensure_future(timing.sleep(delay))
    try:
        await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        sleeper.cancel()


def _gone(err: Exception) -> bool:
    """The pod was deleted, or deleted and recreated (its uid no longer matches)."""
    if isinstance(err, NotFound | Conflict):
        return True
    causes = err.details.get("causes") or () if isinstance(err, Invalid) else ()
    return any(c.get("field") == "metadata.uid" for c in causes)


def drifted(observed: Mapping | None, written: Mapping) -> bool:
    """The API's pod status disagrees with what this driver wrote on the phase or on the
    status of a kubelet-owned condition (conditions other writers own are theirs)."""
    observed = observed or {}
    if observed.get("phase") != written.get("phase"):
        return True
    seen = {c.get("type"): c.get("status") for c in observed.get("conditions") or ()}
    return any(seen.get(c.get("type")) != c.get("status")
               for c in written.get("conditions") or () if c.get("type") in KUBELET_CONDITIONS)


def _revision(pod: Mapping | None) -> int:
    try:
        return int(((pod or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


def _with_nulls(old: Mapping | None, new: Mapping) -> dict:
    """`new` plus a null for every key `old` had that `new` lacks (maps, recursively, and the
    items of `conditions`, which a strategic merge patch merges by `type`), so the patch
    removes what this writer no longer reports: a Ready condition turning True loses the
    reason and message it had while False, as upstream's two-way merge patch does."""
    out = dict(new)
    for key, value in (old or {}).items():
        if key not in new:
            out[key] = None
        elif isinstance(value, Mapping) and isinstance(new[key], Mapping):
            out[key] = _with_nulls(value, new[key])
        elif key == "conditions" and isinstance(value, list) and isinstance(new[key], list):
            before = {c.get("type"): c for c in value if isinstance(c, Mapping)}
            out[key] = [_with_nulls(before.get(c.get("type")), c) if isinstance(c, Mapping)
                        else c for c in new[key]]
    return out
