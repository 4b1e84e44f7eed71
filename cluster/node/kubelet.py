"""Kubelet: one emulated node -- registration, Lease, node status, pods, eviction.

The async driver around pure parts (upstream pkg/kubelet, reduced to what the control plane
can observe):
- Registration: create the Node (labels, taints, capacity, conditions, nodeInfo), or, for a
  restarted kubelet, adopt the existing one and only reconcile its labels; retried until it
  succeeds. Then the start-up Events upstream's kubelet records.
- Heartbeats: the Lease (lease.py) renewed every 10 s (by its own timer, or a node pool's
  shared `LeaseTicker`); node status computed every 10 s (and when the Node object changes)
  and patched when it differs, or at least every 5 min.
- Pods (pod_manager.py): an informer on `spec.nodeName=<node>`. A pod first seen is
  admitted or rejected at once, in the order seen (admission.py); one PodDriver task per pod
  uid drives its PodWorker (pod_driver.py); a pod first seen Running (a restarted kubelet's)
  is adopted, its containers carrying on as its status reports them (adoption.py). Pods get
  IPs from the node's podCIDR (ipalloc.py; a pod keeps the one its status reports) and wait,
  unstarted, until the node IPAM controller sets one (`config.pod_cidr` skips the wait);
  hostNetwork pods use the node's address. A pod that leaves the informer ends its task and
  frees its IP.
- Node-pressure eviction every 10 s (eviction.py): MemoryPressure condition and the
  memory-pressure NoSchedule taint, one pod evicted per round while the threshold is met.
- Every loop retries API and connection failures alike (an API server restarting refuses or
  resets connections for a moment); nothing here ends on them.
- `stop()` cancels everything and writes nothing: a stopped kubelet looks exactly like a
  dead node to the control plane (its Lease simply stops renewing). A Kubelet runs once; a
  restarted node is a new Kubelet that adopts the Node, Lease and pods it finds.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from kubemu.cluster.api.errors import AlreadyExists, Conflict
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.events import NORMAL, WARNING, EventRecorder
from kubemu.cluster.node import node_status as ns
from kubemu.cluster.node.config import NodeConfig
from kubemu.cluster.node.endpoint import PodEndpoint
from kubemu.cluster.node.eviction import (
    MEMORY_PRESSURE_TAINT, Candidate, PressureTracker, eviction_message, memory_available,
    rank_memory_pressure,
)
from kubemu.cluster.node.lease import LeaseTicker, NodeLease
from kubemu.cluster.node.pod_manager import PodManager, WorkerFactory
from kubemu.cluster.node.pod_driver import PodDriver, sleep_or_wake
from kubemu.cluster.timing import Timing

__all__ = ["Kubelet", "WorkerFactory"]

_REGISTER_BACKOFF_MAX = 7.0

log = logging.getLogger("kubemu.kubelet")


class Kubelet:
    def __init__(self, client: Any, timing: Timing, config: NodeConfig, *,
                 recorder: EventRecorder | None = None, rng: random.Random | None = None,
                 worker_factory: WorkerFactory | None = None,
                 lease_ticker: LeaseTicker | None = None) -> None:
        self.client = client
        self.timing = timing
        self.config = config
        self.name = config.name
        self.rng = rng or random.Random(config.name)
        self._own_recorder = recorder is None
        self.recorder = recorder or EventRecorder(client, timing, component="kubelet",
                                                  host=config.host or config.name)
        if worker_factory is None:
            from kubemu.cluster.node.pod_worker import PodWorker
            worker_factory = PodWorker
        self.factory = InformerFactory(client, timing)
        self.lease = NodeLease(client, timing, config.name,
                               duration_seconds=config.lease_duration_seconds,
                               renew_interval=config.lease_renew_interval)
        self._lease_ticker = lease_ticker
        self.node: dict | None = None  # newest Node object seen
        self.pressure = PressureTracker(
            transition_period=config.eviction_pressure_transition_period)
        self.allocatable = ns.node_allocatable(config)
        self.pod_manager = PodManager(client, timing, config, recorder=self.recorder,
                                      rng=self.rng, worker_factory=worker_factory,
                                      allocatable=self.allocatable,
                                      memory_pressure=lambda: self.pressure.pressure)
        self._info = ns.node_info(self.rng)
        self._threshold = ns.memory_bytes(config.eviction_memory_threshold)
        self._status_wake = asyncio.Event()
        self._last_report: float | None = None
        self._tasks: list[asyncio.Task] = []
        self._stop = asyncio.Event()
        self._node_ref = {"apiVersion": "v1", "kind": "Node",  # upstream: uid = node name
                          "metadata": {"name": config.name, "uid": config.name}}

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Register, then heartbeat and run pods until `stop()` or cancellation."""
        body = asyncio.ensure_future(self._main())
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({body, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            body.cancel()
            stopped.cancel()
            await self._shutdown()
        if body.done() and not body.cancelled() and body.exception() is not None:
            raise body.exception()  # type: ignore[misc]  # a bug, not an API failure

    async def stop(self) -> None:
        """End everything without writing anything (a dead node)."""
        self._stop.set()
        await self._shutdown()

    def logs(self, namespace: str, name: str, container: str, *,
             previous: bool = False) -> list[str]:
        """A container's log lines; LookupError when the pod is not on this node."""
        sync = self.pod_manager.get(namespace, name)
        if sync is None:
            raise LookupError(f'pods "{name}" not found')
        if sync.worker is None:
            raise LookupError(f'container "{container}" in pod "{name}" is waiting to start: '
                              "ContainerCreating")
        return sync.worker.logs(container, previous=previous)

    def endpoint(self, ip: str) -> PodEndpoint | None:
        """The pod holding `ip` on this node as the overlay sees it: which ports its running
        containers' programs listen on (an empty set with `listening`: every port)."""
        for sync in self.pod_manager.pods.values():
            worker = sync.worker
            if worker is None or worker.pod_ip != ip or worker.finished:
                continue
            ports: set[int] = set()
            listening = False
            for container in worker.containers:
                if not container.running or not container.current.program.listens:
                    continue
                listening = True
                declared = container.current.program.ports
                if not declared:
                    ports = set()
                    break
                ports.update(port.number for port in declared)
            meta = sync.pod.get("metadata") or {}
            return PodEndpoint(ip=ip, namespace=meta.get("namespace", ""),
                               name=meta.get("name", ""), ports=frozenset(ports),
                               listening=listening)
        return None

    @property
    def pods(self) -> dict[str, PodDriver]:
        """The pods this kubelet runs, by uid (read-only use)."""
        return self.pod_manager.pods

    async def _main(self) -> None:
        await self._register()
        if self._lease_ticker is None:
            self._spawn(self.lease.run(), "lease")
        else:
            self._lease_ticker.add(self.lease)
        if self._own_recorder:
            self._spawn(self.recorder.run(), "events")
        nodes = self.factory.informer("v1", "Node", field_selector=f"metadata.name={self.name}")
        nodes.add_handler(on_add=self._on_node, on_update=lambda _old, new: self._on_node(new))
        pods = self.factory.informer("v1", "Pod", field_selector=f"spec.nodeName={self.name}")
        self.factory.start()
        self._spawn(self._status_loop(), "node status")
        self._spawn(self._eviction_loop(), "eviction")
        await pods.wait_synced()
        first = sorted(pods.lister.list(),  # admit in creation order, as upstream
                       key=lambda p: (p["metadata"].get("creationTimestamp", ""),
                                      p["metadata"].get("name", "")))
        for pod in first:
            self.pod_manager.add(pod)
        pods.add_handler(on_add=self.pod_manager.add, on_update=self.pod_manager.update,
                         on_delete=self.pod_manager.delete)
        await asyncio.Future()  # until cancelled

    async def _shutdown(self) -> None:
        if self._lease_ticker is not None:
            self._lease_ticker.remove(self.lease)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await self.factory.stop()
        await self.pod_manager.stop()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Any, what: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=f"kubelet {self.name} {what}")
        self._tasks.append(task)
        return task

    # -- the Node ----------------------------------------------------------------------------

    async def _register(self) -> None:
        backoff = 0.2
        while True:
            try:
                node = await self.client.create(ns.new_node(self.config, wall=self.timing.wall(),
                                                            info=self._info))
                created = True
            except AlreadyExists:
                try:
                    node = await self._adopt()
                except Exception as err:  # noqa: BLE001 - API or connection
                    log.info("node %s: adopting the existing Node failed: %s", self.name, err)
                    await self.timing.sleep(backoff)
                    backoff = min(backoff * 2, _REGISTER_BACKOFF_MAX)
                    continue
                created = False
            except Exception as err:  # noqa: BLE001 - API or connection
                log.info("node %s: registration failed: %s", self.name, err)
                await self.timing.sleep(backoff)
                backoff = min(backoff * 2, _REGISTER_BACKOFF_MAX)
                continue
            break
        self._on_node(node)
        self.lease.node_uid = node["metadata"].get("uid", "")
        self._event(NORMAL, "Starting", "Starting kubelet.")
        self._event(NORMAL, "NodeAllocatableEnforced", "Updated Node Allocatable limit across pods")
        for reason in ("NodeHasSufficientMemory", "NodeHasNoDiskPressure", "NodeHasSufficientPID"):
            self._event(NORMAL, reason, f"Node {self.name} status is now: {reason}")
        if created:
            self._last_report = self.timing.clock.now()
            self._event(NORMAL, "NodeReady", f"Node {self.name} status is now: NodeReady")

    async def _adopt(self) -> dict:
        node = await self.client.get("v1", "Node", self.name)
        updated = ns.reconcile_labels(node, self.config)
        return node if updated is None else await self.client.update(updated)

    def _on_node(self, node: dict) -> None:
        self.node = node
        self.pod_manager.set_pod_cidr(self.config.pod_cidr
                                      or (node.get("spec") or {}).get("podCIDR") or "")
        self._status_wake.set()

    async def _status_loop(self) -> None:
        while True:
            self._status_wake.clear()
            try:
                await self._sync_status()
            except Exception as err:  # noqa: BLE001 - API or connection
                log.info("node %s: status update failed: %s", self.name, err)
            await sleep_or_wake(self.timing, self._status_wake,
                                self.config.node_status_update_frequency)

    async def _sync_status(self) -> None:
        observed = (self.node or {}).get("status") or {}
        desired = ns.node_status(self.config, wall=self.timing.wall(), info=self._info,
                                 memory_pressure=self.pressure.pressure, previous=observed)
        now = self.timing.clock.now()
        due = (self._last_report is None
               or now - self._last_report >= self.config.node_status_report_frequency)
        if not due and not ns.status_differs(observed, desired):
            return
        was_ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in observed.get("conditions") or ())
        node = await self.client.patch("v1", "Node", self.name, {"status": desired},
                                       patch_type="strategic", subresource="status")
        self._last_report = now
        self.node = node
        if not was_ready:
            self._event(NORMAL, "NodeReady", f"Node {self.name} status is now: NodeReady")

    async def _set_taint(self, present: bool) -> None:
        """Add or remove the memory-pressure taint (read-modify-write, retried on conflict);
        no write when the newest Node seen already agrees."""
        for _ in range(5):
            node = self.node or await self.client.get("v1", "Node", self.name)
            taints = (node.get("spec") or {}).get("taints")
            new = (ns.add_taint(taints, MEMORY_PRESSURE_TAINT) if present
                   else ns.remove_taint(taints, MEMORY_PRESSURE_TAINT))
            if new is None:
                return
            patch = {"metadata": {"resourceVersion": node["metadata"].get("resourceVersion")},
                     "spec": {"taints": new}}
            try:
                self.node = await self.client.patch("v1", "Node", self.name, patch)
                return
            except Conflict:
                self.node = await self.client.get("v1", "Node", self.name)

    def _event(self, type_: str, reason: str, message: str) -> None:
        self.recorder.record(self._node_ref, type_, reason, message)

    # -- eviction ----------------------------------------------------------------------------

    async def _eviction_loop(self) -> None:
        while True:
            try:
                await self._eviction_round()
            except Exception as err:  # noqa: BLE001 - API or connection
                log.info("node %s: eviction round failed: %s", self.name, err)
            await self.timing.sleep(self.config.eviction_monitoring_interval)

    async def _eviction_round(self) -> None:
        now = self.timing.clock.now()
        active = self.pod_manager.active()
        used = sum(s.worker.memory_bytes() for s in active)  # type: ignore[union-attr]
        available = memory_available(allocatable=ns.memory_bytes(self.allocatable["memory"]),
                                     threshold=self._threshold, usage=used)
        met = available < self._threshold
        before = self.pressure.pressure
        pressure = self.pressure.observe(now, met)
        if pressure != before:
            reason = "NodeHasInsufficientMemory" if pressure else "NodeHasSufficientMemory"
            self._event(NORMAL, reason, f"Node {self.name} status is now: {reason}")
            self._status_wake.set()
        await self._set_taint(pressure)  # every round: a failed write is retried next time
        if not met:
            return
        self._event(WARNING, "EvictionThresholdMet", "Attempting to reclaim memory")
        candidates = [Candidate(s.uid, s.pod, s.worker.memory_bytes(),  # type: ignore[union-attr]
                                _container_usage(s)) for s in active if not s.deleting]
        for victim in rank_memory_pressure(candidates)[:1]:
            sync = self.pod_manager.pods[victim.key]
            message = eviction_message(victim, threshold=self.config.eviction_memory_threshold,
                                       available=available)
            sync.worker.evict(now, message)  # type: ignore[union-attr]
            sync.record(WARNING, "Evicted", message)
            sync.wake.set()


def _container_usage(sync: PodDriver) -> dict[str, int]:
    """Working set per app container when the worker reports it (`container_memory()`);
    else the pod's usage split evenly over its app containers."""
    worker = sync.worker
    per_container = getattr(worker, "container_memory", None)
    if callable(per_container):
        return dict(per_container())
    names = [c.get("name", "") for c in (sync.pod.get("spec") or {}).get("containers") or ()]
    if not names or worker is None:
        return {}
    share = worker.memory_bytes() // len(names)
    return dict.fromkeys(names, share)
