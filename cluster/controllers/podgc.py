"""PodGCController: upstream's pod garbage collector (pkg/controller/podgc).

Every `gc_check_period` (20 s) one pass over the shared Pod and Node caches, in upstream's
order:
1. terminated pods (phase neither Pending, Running nor Unknown) beyond
   `terminated_pod_threshold` (12500; 0 disables): the surplus is deleted, evicted pods first,
   then oldest first;
2. terminating pods on a node that is not Ready and tainted node.kubernetes.io/out-of-service
   (non-graceful node shutdown): force-deleted;
3. orphans, pods bound to a node that does not exist: a missing node is quarantined for
   `quarantine_time` (40 s, so a node that is being re-created or a lagging cache never costs
   pods), then confirmed gone with a GET; its pods get condition DisruptionTarget (reason
   DeletionByPodGC) and are force-deleted;
4. terminating pods never scheduled to any node: force-deleted.
"Force-deleted" is upstream's markFailedAndDeletePod: a pod not yet Succeeded/Failed is first
patched to phase Failed (no kubelet will ever do it), then deleted with grace period 0.
Quarantine is measured on `timing.clock`. A failed write is logged and retried next pass.

A pass reads the pods it may act on through indexes of the shared pod cache (terminated,
terminating, and by node) rather than walking every pod: with 100,000 pods four walks took
seconds of the controller manager's loop every 20 s, during which no controller ran.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubemu.cluster.api.errors import ApiError, NotFound
from kubemu.cluster.api.objects import deep_copy, rfc3339
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.nodeutil import (
    NODE_NAME_INDEX, is_node_ready, owned_runtime, pod_informer, update_pod_condition)
from kubemu.cluster.controllers.taints import TAINT_NODE_OUT_OF_SERVICE, taint_key_exists
from kubemu.cluster.timing import Timing

__all__ = ["PodGCController", "CONTROLLER_NAME", "TERMINATED_POD_GC_THRESHOLD",
           "GC_CHECK_PERIOD", "GC_INDEX", "QUARANTINE_TIME", "gc_index"]

CONTROLLER_NAME = "pod-garbage-collector"
TERMINATED_POD_GC_THRESHOLD = 12500
GC_CHECK_PERIOD = 20.0
QUARANTINE_TIME = 40.0
GC_INDEX = "podgc"  # pod cache index: "terminated", "terminating"

log = logging.getLogger("kubemu.controllers.podgc")


class PodGCController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 terminated_pod_threshold: int = TERMINATED_POD_GC_THRESHOLD,
                 gc_check_period: float = GC_CHECK_PERIOD,
                 quarantine_time: float = QUARANTINE_TIME) -> None:
        self.client = client
        self.timing = timing
        self.terminated_pod_threshold = terminated_pod_threshold
        self.gc_check_period = gc_check_period
        self.quarantine_time = quarantine_time
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self.recorder = recorder  # upstream's pod GC records no Events
        self.nodes = self.factory.informer("v1", "Node")
        self.pods = pod_informer(self.factory)
        self.pods.add_indexers({GC_INDEX: gc_index})
        self._missing: dict[str, float] = {}  # node name -> when first seen missing (clock)
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        """Collect pods every `gc_check_period` until `stop()` (or cancellation)."""
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=None):
            synced = asyncio.gather(self.nodes.wait_synced(), self.pods.wait_synced())
            stop = asyncio.ensure_future(self._stopped.wait())
            try:
                await asyncio.wait({synced, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                synced.cancel()
                stop.cancel()
                await asyncio.gather(synced, stop, return_exceptions=True)
            while not self._stopped.is_set():
                try:
                    await self.gc()
                except Exception:
                    log.exception("pod gc pass failed")
                sleep = asyncio.ensure_future(self.timing.sleep(self.gc_check_period))
                stop = asyncio.ensure_future(self._stopped.wait())
                try:
                    await asyncio.wait({sleep, stop}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sleep.cancel()
                    stop.cancel()
                    await asyncio.gather(sleep, stop, return_exceptions=True)

    async def stop(self) -> None:
        self._stopped.set()

    async def gc(self) -> None:
        """One pass (upstream gc), over what the cache holds as it starts."""
        lister = self.pods.lister
        terminated = lister.by_index(GC_INDEX, "terminated")
        terminating = lister.by_index(GC_INDEX, "terminating")
        nodes = {name: lister.by_index(NODE_NAME_INDEX, name)
                 for name in lister.index_values(NODE_NAME_INDEX)
                 if self.nodes.lister.get(name) is None}  # pods of nodes not in the cache
        if self.terminated_pod_threshold > 0:
            await self._gc_terminated(terminated)
        await self._gc_terminating(terminating)
        await self._gc_orphaned(nodes)
        await self._gc_unscheduled_terminating(terminating)

    async def _gc_terminated(self, terminated: list[dict]) -> None:
        surplus = len(terminated) - self.terminated_pod_threshold
        if surplus <= 0:
            return
        log.info("garbage collecting %d terminated pods", surplus)
        for pod in sorted(terminated, key=_eviction_and_creation)[:surplus]:
            await self._force_delete(pod)

    async def _gc_terminating(self, terminating: list[dict]) -> None:
        for pod in sorted(terminating, key=_eviction_and_creation):
            node = self.nodes.lister.get((pod.get("spec") or {}).get("nodeName") or "")
            if node is None or is_node_ready(node):
                continue
            if taint_key_exists((node.get("spec") or {}).get("taints"),
                                TAINT_NODE_OUT_OF_SERVICE):
                await self._force_delete(pod)

    async def _gc_orphaned(self, missing_nodes: dict[str, list[dict]]) -> None:
        """`missing_nodes`: node name -> its pods, for the nodes the node cache lacks."""
        now = self.timing.clock.now()
        missing = set(missing_nodes)
        for name in list(self._missing):
            if name not in missing:
                del self._missing[name]
        deleted: set[str] = set()
        for name in sorted(missing):
            since = self._missing.setdefault(name, now)
            if now - since < self.quarantine_time:
                continue
            del self._missing[name]
            try:
                await self.client.get("v1", "Node", name)
            except NotFound:
                deleted.add(name)
            except ApiError as err:
                log.warning("node %s: existence check failed: %s", name, err)
        condition = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                     "message": "PodGC: node no longer exists"}
        for pod in [p for name in sorted(deleted) for p in missing_nodes[name]]:
            log.info("deleting orphaned pod %s/%s (node %s is gone)",
                     pod["metadata"].get("namespace"), pod["metadata"]["name"],
                     pod["spec"]["nodeName"])
            await self._force_delete(pod, condition)

    async def _gc_unscheduled_terminating(self, terminating: list[dict]) -> None:
        for pod in terminating:
            if not (pod.get("spec") or {}).get("nodeName"):
                await self._force_delete(pod)

    async def _force_delete(self, pod: dict, condition: dict | None = None) -> None:
        """Mark the pod Failed (unless terminal) and delete it with grace period 0."""
        md = pod.get("metadata") or {}
        name, namespace = md.get("name", ""), md.get("namespace") or "default"
        try:
            if _phase(pod) not in ("Succeeded", "Failed"):
                status = deep_copy(pod.get("status") or {})
                patch: dict = {"phase": "Failed"}
                if condition is not None and update_pod_condition(
                        status, condition, now=rfc3339(self.timing.wall())):
                    patch["conditions"] = [c for c in status["conditions"]
                                           if c.get("type") == condition["type"]]
                await self.client.patch("v1", "Pod", name, {"status": patch},
                                        namespace=namespace, patch_type="strategic",
                                        subresource="status")
            await self.client.delete("v1", "Pod", name, namespace=namespace,
                                     grace_period_seconds=0,
                                     preconditions={"uid": md.get("uid")} if md.get("uid")
                                     else None)
        except NotFound:
            pass
        except ApiError as err:
            log.warning("pod %s/%s: force deletion failed: %s", namespace, name, err,
                        extra={"pod": f"{namespace}/{name}"})


def gc_index(pod: dict) -> list[str]:
    """What a pass looks for: "terminated" (phase neither Pending, Running nor Unknown) and
    "terminating" (a deletionTimestamp)."""
    tags = []
    if _phase(pod) not in ("Pending", "Running", "Unknown"):
        tags.append("terminated")
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        tags.append("terminating")
    return tags


def _phase(pod: dict) -> str:
    return (pod.get("status") or {}).get("phase") or "Pending"


def _eviction_and_creation(pod: dict) -> tuple[bool, str, str]:
    """Evicted pods first, then oldest first, then by name (upstream's sort)."""
    status = pod.get("status") or {}
    evicted = status.get("phase") == "Failed" and status.get("reason") == "Evicted"
    md = pod.get("metadata") or {}
    return (not evicted, md.get("creationTimestamp") or "", md.get("name") or "")
