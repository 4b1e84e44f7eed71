"""NodeLifecycleController: upstream's node lifecycle controller (monitorNodeHealth and
TaintBasedEvictions, TaintNodesByCondition).

Three loops over the shared Node, kube-node-lease Lease and Pod informers:
- health monitor, every `monitor_period` (5 s): for each node, `HealthMonitor` (nodehealth.py)
  notes whether its Lease renewTime or Ready heartbeat changed since the last pass; a node
  silent for `grace_period` (40 s; `startup_grace_period` 60 s before it ever posted Ready)
  gets Ready/MemoryPressure/DiskPressure/PIDPressure Unknown ("Kubelet stopped posting node
  status.") by a status PUT guarded by its resourceVersion (a conflict re-reads the node: a
  kubelet that just posted is alive). A node whose Ready the controller itself turns from True
  gets the NodeNotReady Event and its pods' Ready condition set False (MarkPodsNotReady;
  retried next pass on failure). Then, from the Ready status it observed: False -> queue the
  node.kubernetes.io/not-ready:NoExecute taint, Unknown -> unreachable:NoExecute (a node
  carrying the other one has them swapped at once), True -> both removed. Zone states and
  master disruption mode follow (nodedisruption.py). New nodes get a RegisteredNode Event (and
  start untainted, as upstream), deleted ones RemovingNode.
- NoExecute tainter: drains the per-zone rate-limited queue, tainting from the node's Ready
  status at that moment (timeAdded = now); it sleeps until the next token or a new node.
- NoSchedule taints (level-based `Controller` on Node events): the condition taints
  (not-ready, unreachable, memory/disk/pid-pressure, network-unavailable) and
  node.kubernetes.io/unschedulable follow status and spec.unschedulable.
Durations use only `timing.clock`; timestamps written into objects use `timing.wall()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from kubemu.cluster.api.errors import ApiError, Conflict, NotFound
from kubemu.cluster.api.objects import deep_copy, rfc3339
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.events import NORMAL, WARNING, EventRecorder
from kubemu.cluster.controllers.nodedisruption import (
    ENTER_MASTER_DISRUPTION, EXIT_MASTER_DISRUPTION, DisruptionMonitor, TaintQueue)
from kubemu.cluster.controllers.nodehealth import (
    EXCLUDE_DISRUPTION_LABEL, NOT_READY_TAINT, UNREACHABLE_TAINT, HealthMonitor,
    no_schedule_taint_diff, ready_status, unknown_conditions, zone_key)
from kubemu.cluster.controllers.nodeutil import (
    get_condition, owned_runtime, pod_informer, pods_on_node, record_node_status_change,
    swap_node_taints, update_pod_condition)
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.controllers.taints import taint_exists
from kubemu.cluster.timing import Timing

__all__ = ["NodeLifecycleController", "CONTROLLER_NAME", "NODE_LEASE_NAMESPACE"]

CONTROLLER_NAME = "node-controller"
NODE_LEASE_NAMESPACE = "kube-node-lease"
_UPDATE_RETRIES = 3

log = logging.getLogger("kubemu.controllers.nodelifecycle")


class NodeLifecycleController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, grace_period: float = 40.0,
                 startup_grace_period: float = 60.0, monitor_period: float = 5.0,
                 eviction_qps: float = 0.1, secondary_eviction_qps: float = 0.01,
                 large_cluster_threshold: int = 50,
                 unhealthy_zone_threshold: float = 0.55) -> None:
        self.client = client
        self.timing = timing
        self.monitor_period = monitor_period
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._own_recorder = recorder is None
        self.recorder = recorder if recorder is not None else EventRecorder(
            client, timing, component=CONTROLLER_NAME)
        self.nodes = self.factory.informer("v1", "Node")
        self.leases = self.factory.informer("coordination.k8s.io/v1", "Lease",
                                            namespace=NODE_LEASE_NAMESPACE)
        self.pods = pod_informer(self.factory)
        self.health = HealthMonitor(grace_period=grace_period,
                                    startup_grace_period=startup_grace_period)
        self.taint_queue = TaintQueue(qps=eviction_qps)
        self.disruption = DisruptionMonitor(
            self.taint_queue, eviction_qps=eviction_qps,
            secondary_eviction_qps=secondary_eviction_qps,
            large_cluster_threshold=large_cluster_threshold,
            unhealthy_zone_threshold=unhealthy_zone_threshold)
        self.no_schedule = Controller("node-lifecycle-noschedule",
                                      reconcile=self.reconcile_no_schedule,
                                      clock=timing.clock, sleep=timing.sleep)
        self.no_schedule.watch(self.nodes)
        self._known: dict[str, dict] = {}  # nodes seen by the last pass
        self._retry: set[str] = set()  # nodes whose pods could not all be marked not ready
        self._wakeup = asyncio.Event()
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        """Monitor node health and keep taints until `stop()` (or cancellation)."""
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=self.recorder if self._own_recorder else None):
            loop = asyncio.get_running_loop()
            tasks = [loop.create_task(self.no_schedule.run([self.nodes])),
                     loop.create_task(self._monitor_loop()),
                     loop.create_task(self._tainting_loop())]
            try:
                await self._stopped.wait()
            finally:
                await self.no_schedule.stop()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        self._stopped.set()
        await self.no_schedule.stop()

    # -- health monitor ----------------------------------------------------------------------

    async def monitor_node_health(self) -> None:
        """One pass over every node (upstream monitorNodeHealth)."""
        now = self.timing.clock.now()
        nodes = self.nodes.lister.list()
        await self._track_added_and_deleted(nodes, now)
        zone_ready: dict[str, list[str | None]] = defaultdict(list)
        for cached in nodes:
            name = cached["metadata"]["name"]
            needs_retry = name in self._retry
            self._retry.discard(name)
            try:
                node, observed, current = await self._update_health(cached, now)
            except NotFound:
                continue
            except ApiError as err:
                log.warning("node %s: health update failed: %s", name, err,
                            extra={"node": name})
                self._retry.add(name)
                continue
            if EXCLUDE_DISRUPTION_LABEL not in ((node.get("metadata") or {}).get("labels")
                                                or {}):
                zone_ready[zone_key(node)].append(current)
            if current is None:
                continue
            await self._process_taint_eviction(node, observed, now)
            became_not_ready = current != "True" and observed == "True"
            if became_not_ready:
                record_node_status_change(self.recorder, node, "NodeNotReady")
            if (became_not_ready or (needs_retry and observed != "True")) and \
                    not await self._mark_pods_not_ready(node):
                self._retry.add(name)
        transition = self.disruption.handle(dict(zone_ready), now)
        if transition == ENTER_MASTER_DISRUPTION:
            log.info("all nodes are not ready: entering master disruption mode")
            for node in nodes:
                await self._mark_reachable(node)
        elif transition == EXIT_MASTER_DISRUPTION:
            log.info("some nodes are ready: leaving master disruption mode")
            self.health.reset([n["metadata"]["name"] for n in nodes], now)
        self._wakeup.set()

    async def _track_added_and_deleted(self, nodes: list[dict], now: float) -> None:
        names = {n["metadata"]["name"] for n in nodes}
        for name in [n for n in self._known if n not in names]:
            gone = self._known.pop(name)
            self.recorder.record(gone, NORMAL, "RemovingNode",
                                 f"Removing Node {name} from Controller")
            self.health.forget(name)
            self.taint_queue.remove(name)
            self._retry.discard(name)
        for node in nodes:
            name = node["metadata"]["name"]
            if name not in self._known:
                self.recorder.record(node, NORMAL, "RegisteredNode",
                                     f"Registered Node {name} in Controller")
                self.disruption.add_zone(zone_key(node), now)
                await self._mark_reachable(node)
            self._known[name] = node

    async def _update_health(self, node: dict,
                             now: float) -> tuple[dict, str, str | None]:
        """(node, Ready status as posted, Ready status after this pass); marks a silent
        node's conditions Unknown (upstream tryUpdateNodeHealth)."""
        name = node["metadata"]["name"]
        for attempt in range(_UPDATE_RETRIES):
            lease = self.leases.lister.get(name, NODE_LEASE_NAMESPACE)
            grace = self.health.observe(node, lease, now)
            current = ready_status(node)
            observed = current or "Unknown"
            if not self.health.expired(name, now, grace):
                return node, observed, current
            conditions = unknown_conditions(node, now=rfc3339(self.timing.wall()))
            if conditions is None:
                return node, observed, current
            status = {**(node.get("status") or {}), "conditions": conditions}
            try:
                written = await self.client.update({**node, "status": status},
                                                   subresource="status")
            except Conflict:
                if attempt == _UPDATE_RETRIES - 1:
                    raise
                node = await self.client.get("v1", "Node", name)
                continue
            self.health.transitioned(name, now)
            log.info("node %s: kubelet stopped posting status; marked Unknown", name,
                     extra={"node": name})
            return written, observed, ready_status(written)
        raise AssertionError("unreachable")

    async def _process_taint_eviction(self, node: dict, observed: str, now: float) -> None:
        """Queue, swap or remove the node's NoExecute taint from its observed Ready."""
        taints = (node.get("spec") or {}).get("taints")
        if observed == "True":
            await self._mark_reachable(node)
            return
        wanted, other = ((NOT_READY_TAINT, UNREACHABLE_TAINT) if observed == "False"
                         else (UNREACHABLE_TAINT, NOT_READY_TAINT))
        if taint_exists(taints, other):
            await swap_node_taints(self.client, node, add=[wanted], remove=[other],
                                   time_added=rfc3339(self.timing.wall()))
            return
        name = node["metadata"]["name"]
        if not taint_exists(taints, wanted):
            self.taint_queue.remove(name)
        if self.taint_queue.add(zone_key(node), name, now):
            log.info("node %s: Ready is %s; queued for tainting", name, observed,
                     extra={"node": name})

    async def _mark_reachable(self, node: dict) -> None:
        name = node["metadata"]["name"]
        if await swap_node_taints(self.client, node,
                                  remove=[UNREACHABLE_TAINT, NOT_READY_TAINT],
                                  time_added=rfc3339(self.timing.wall())):
            self.taint_queue.remove(name)

    async def _mark_pods_not_ready(self, node: dict) -> bool:
        """Set Ready=False on the node's pods (upstream MarkPodsNotReady); True if all
        writes succeeded."""
        name = node["metadata"]["name"]
        ok = True
        for pod in pods_on_node(self.pods.lister, name):
            status = deep_copy(pod.get("status") or {})
            ready = get_condition(status.get("conditions"), "Ready")
            if ready is None or not update_pod_condition(
                    status, {**ready, "status": "False"}, now=rfc3339(self.timing.wall())):
                continue
            try:
                await self.client.update({**pod, "status": status}, subresource="status")
            except NotFound:
                continue
            except ApiError as err:
                log.warning("pod %s/%s: marking not ready failed: %s",
                            pod["metadata"].get("namespace"), pod["metadata"]["name"], err)
                ok = False
                continue
            self.recorder.record(pod, WARNING, "NodeNotReady", "Node is not ready")
        return ok

    async def _monitor_loop(self) -> None:
        synced = await asyncio.gather(self.nodes.wait_synced(), self.leases.wait_synced(),
                                      self.pods.wait_synced())
        if not all(synced):
            return
        while True:
            try:
                await self.monitor_node_health()
            except Exception:
                log.exception("node health pass failed")
            await self.timing.sleep(self.monitor_period)

    # -- NoExecute tainter -------------------------------------------------------------------

    async def tainting_pass(self) -> None:
        """Taint the nodes the zone limiters let through (upstream
        doNoExecuteTaintingPass)."""
        for zone, name in self.taint_queue.take(self.timing.clock.now()):
            if not await self._taint_no_execute(name):
                self.taint_queue.retry(zone, name)

    async def _taint_no_execute(self, name: str) -> bool:
        node = self.nodes.lister.get(name)
        if node is None:
            return True
        status = ready_status(node)
        if status == "False":
            add, remove = NOT_READY_TAINT, UNREACHABLE_TAINT
        elif status == "Unknown":
            add, remove = UNREACHABLE_TAINT, NOT_READY_TAINT
        else:
            return True  # ready again (or never reported): nothing to taint
        log.info("node %s: adding taint %s", name, add["key"], extra={"node": name})
        return await swap_node_taints(self.client, node, add=[add], remove=[remove],
                                      time_added=rfc3339(self.timing.wall()))

    async def _tainting_loop(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                await self.tainting_pass()
            except Exception:
                log.exception("NoExecute tainting pass failed")
            await self._wait(self.taint_queue.next_in(self.timing.clock.now())
                             if len(self.taint_queue) else None)

    async def _wait(self, seconds: float | None) -> None:
        """Until woken by a health pass, or `seconds` of Kubernetes time if not None."""
        waiters = [asyncio.ensure_future(self._wakeup.wait())]
        if seconds is not None:
            waiters.append(asyncio.ensure_future(self.timing.sleep(max(seconds, 0.01))))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    # -- NoSchedule taints -------------------------------------------------------------------

    async def reconcile_no_schedule(self, request: Request) -> Result | None:
        """Make the node's condition and unschedulable NoSchedule taints match it."""
        node = self.nodes.lister.get(request.name)
        if node is None:
            return None
        add, remove = no_schedule_taint_diff(node)
        if not add and not remove:
            return None
        if not await swap_node_taints(self.client, node, add=add, remove=remove,
                                      time_added=rfc3339(self.timing.wall())):
            raise RuntimeError(f"node {request.name}: NoSchedule taints not updated")
        return None
