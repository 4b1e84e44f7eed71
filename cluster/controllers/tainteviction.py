"""TaintEvictionController: upstream's taint eviction controller (the NoExecute taint manager).

Pods bound to a node with NoExecute taints are evicted unless they tolerate them:
- some taint is not tolerated: delete the pod now;
- all are tolerated, and the first toleration matching each taint names tolerationSeconds:
  delete it after the smallest of those, counted from when this controller first saw the pod
  under NoExecute taints (a swap not-ready <-> unreachable keeps the count running, as
  upstream's scheduled work survives it); the count uses `timing.clock` only, never a
  taint's timeAdded, so scaled and virtual time behave;
- all tolerated forever (no tolerationSeconds): never.
The taints going away (or the pod leaving the node, or being deleted) cancels a scheduled
eviction with the Event "Cancelling deletion of Pod ns/name". An eviction records
TaintManagerEviction "Marking for deletion Pod ns/name", sets the pod condition
DisruptionTarget=True (reason DeletionByTaintManager) and deletes the pod (graceful, uid as
precondition); a failed write raises and is retried with backoff, the deadline kept.

Level-based: handlers only enqueue pod Requests -- a pod when its node or tolerations change,
every pod of a node whose NoExecute taints change -- and `reconcile` decides from the listers,
returning requeue-after for a pending deadline. A scheduled eviction whose node was deleted
still fires (upstream keeps it too; PodGC would force-delete the orphans later anyway). Pods
already terminating are left to finish.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.api.objects import deep_copy, rfc3339
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.events import NORMAL, EventRecorder
from kubemu.cluster.controllers.nodeutil import (
    owned_runtime, pod_informer, pods_on_node, update_pod_condition)
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.controllers.taints import (
    NO_EXECUTE, matching_tolerations, min_toleration_seconds, same_taints, taints_with_effect)
from kubemu.cluster.timing import Timing

__all__ = ["TaintEvictionController", "CONTROLLER_NAME", "DISRUPTION_TARGET"]

CONTROLLER_NAME = "taint-eviction-controller"
DISRUPTION_TARGET = "DisruptionTarget"

log = logging.getLogger("kubemu.controllers.tainteviction")


@dataclass
class _Scheduled:
    created: float  # Kubernetes-clock instant the pod was first seen under NoExecute taints
    fire_at: float


class TaintEvictionController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, workers: int = 2) -> None:
        self.client = client
        self.timing = timing
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._own_recorder = recorder is None
        self.recorder = recorder if recorder is not None else EventRecorder(
            client, timing, component=CONTROLLER_NAME)
        self.nodes = self.factory.informer("v1", "Node")
        self.pods = pod_informer(self.factory)
        self.controller = Controller(CONTROLLER_NAME, reconcile=self.reconcile,
                                     clock=timing.clock, workers=workers, sleep=timing.sleep)
        self.pods.add_handler(self._pod_added, self._pod_updated, self._enqueue_pod)
        self.nodes.add_handler(self._node_added, self._node_updated, self._node_deleted)
        self._scheduled: dict[Request, _Scheduled] = {}

    async def run(self) -> None:
        """Evict pods from NoExecute-tainted nodes until `stop()` (or cancellation)."""
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=self.recorder if self._own_recorder else None):
            await self.controller.run([self.nodes, self.pods])

    async def stop(self) -> None:
        await self.controller.stop()

    def scheduled(self, namespace: str, name: str) -> float | None:
        """The Kubernetes-clock deadline of the pod's pending eviction, if any."""
        entry = self._scheduled.get(Request(namespace, name))
        return None if entry is None else entry.fire_at

    async def reconcile(self, request: Request) -> Result | None:
        pod = self.pods.lister.get(request.name, request.namespace or None)
        node_name = ((pod or {}).get("spec") or {}).get("nodeName")
        if pod is None or not node_name:
            self._cancel(request)
            return None
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            self._scheduled.pop(request, None)
            return None
        now = self.timing.clock.now()
        node = self.nodes.lister.get(node_name)
        entry = self._scheduled.get(request)
        if node is not None:
            taints = taints_with_effect((node.get("spec") or {}).get("taints"), NO_EXECUTE)
            if not taints:
                self._cancel(request)
                return None
            tolerated, used = matching_tolerations(
                taints, (pod.get("spec") or {}).get("tolerations"))
            seconds = min_toleration_seconds(used) if tolerated else 0.0
            if seconds is None:
                self._cancel(request)
                return None
            if entry is None:
                entry = self._scheduled[request] = _Scheduled(created=now, fire_at=now)
            entry.fire_at = entry.created + seconds if tolerated else now
        elif entry is None:
            return None
        if now < entry.fire_at:
            return Result(requeue_after=entry.fire_at - now)
        await self._evict(request, pod)
        return None

    # -- eviction ----------------------------------------------------------------------------

    async def _evict(self, request: Request, pod: dict) -> None:
        self.recorder.record(pod, NORMAL, "TaintManagerEviction",
                             f"Marking for deletion Pod {request.key}")
        log.info("deleting pod %s (NoExecute taint)", request.key, extra={"pod": request.key})
        try:
            fresh = await self.client.get("v1", "Pod", request.name,
                                          namespace=request.namespace)
            status = deep_copy(fresh.get("status") or {})
            condition = {"type": DISRUPTION_TARGET, "status": "True",
                         "reason": "DeletionByTaintManager",
                         "message": "Taint manager: deleting due to NoExecute taint"}
            if update_pod_condition(status, condition, now=rfc3339(self.timing.wall())):
                changed = next(c for c in status["conditions"]
                               if c.get("type") == DISRUPTION_TARGET)
                await self.client.patch("v1", "Pod", request.name,
                                        {"status": {"conditions": [changed]}},
                                        namespace=request.namespace, patch_type="strategic",
                                        subresource="status")
            await self.client.delete("v1", "Pod", request.name, namespace=request.namespace,
                                     preconditions={"uid": fresh["metadata"].get("uid")})
        except NotFound:
            pass
        self._scheduled.pop(request, None)

    def _cancel(self, request: Request) -> None:
        if self._scheduled.pop(request, None) is None:
            return
        ref = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": request.name, "namespace": request.namespace}}
        self.recorder.record(ref, NORMAL, "TaintManagerEviction",
                             f"Cancelling deletion of Pod {request.key}")

    # -- event handlers ----------------------------------------------------------------------

    def _enqueue_pod(self, pod: dict) -> None:
        self.controller.enqueue(Request.from_object(pod))

    def _pod_added(self, pod: dict) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            self._enqueue_pod(pod)

    def _pod_updated(self, old: dict, new: dict) -> None:
        ospec, nspec = old.get("spec") or {}, new.get("spec") or {}
        if (ospec.get("nodeName") != nspec.get("nodeName")
                or ospec.get("tolerations") != nspec.get("tolerations")
                or bool((old.get("metadata") or {}).get("deletionTimestamp"))
                != bool((new.get("metadata") or {}).get("deletionTimestamp"))):
            self._enqueue_pod(new)

    def _node_added(self, node: dict) -> None:
        if taints_with_effect((node.get("spec") or {}).get("taints"), NO_EXECUTE):
            self._enqueue_node_pods(node)

    def _node_updated(self, old: dict, new: dict) -> None:
        before = taints_with_effect((old.get("spec") or {}).get("taints"), NO_EXECUTE)
        after = taints_with_effect((new.get("spec") or {}).get("taints"), NO_EXECUTE)
        if not same_taints(before, after):
            self._enqueue_node_pods(new)

    def _node_deleted(self, node: dict) -> None:
        self._enqueue_node_pods(node)

    def _enqueue_node_pods(self, node: dict) -> None:
        for pod in pods_on_node(self.pods.lister, (node.get("metadata") or {}).get("name", "")):
            self._enqueue_pod(pod)
