"""PodManager: the kubelet's pods -- admission order, pod IPs, one PodDriver task per uid.

Fed by the kubelet's `spec.nodeName=<node>` Pod informer (its handlers are `add`, `update`,
`delete`). A pod uid first seen is admitted or rejected at once, synchronously, so pods are
admitted strictly in the order seen and against exactly the pods admitted before (the kubelet
hands over its initial list sorted by creationTimestamp, as upstream's HandlePodAdditions).
Pods already Succeeded/Failed are not admitted again and never count against the node.
Then one task per pod: wait for an address (the node's podCIDR, set by the node IPAM
controller; hostNetwork pods use the node's own address; a rejected or finished pod gets
none), build its PodWorker and drive it (pod_driver.py). A pod deleted before it ever got an
address still gets a worker, so its deletion completes. The same name with a new uid is a
new pod; a pod that leaves the informer ends its task and frees its IP.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable
from typing import Any

from kubemu.cluster.controllers.events import WARNING
from kubemu.cluster.node.admission import Rejection, admit
from kubemu.cluster.node.config import NodeConfig
from kubemu.cluster.node.ipalloc import IPExhausted, PodIPAllocator
from kubemu.cluster.node.pod_driver import (
    TERMINAL_PHASES, PodDriver, Worker, sleep_or_wake,
)
from kubemu.cluster.timing import Timing

__all__ = ["PodManager", "WorkerFactory", "SeededBits"]

WorkerFactory = Callable[..., Worker]
SANDBOX_RETRY = 10.0  # seconds between attempts when the pod CIDR is exhausted


class SeededBits:
    """A pod worker's own random bits (its container IDs), from a seed drawn off the kubelet's
    generator: reproducible whatever order pods run in, in a few dozen bytes per pod where a
    `random.Random` holds 2.5 KB of state (250 MB at 100,000 pods)."""

    __slots__ = ("_seed", "_drawn")

    def __init__(self, seed: int) -> None:
        self._seed, self._drawn = seed, 0

    def getrandbits(self, k: int) -> int:
        """k (<= 512) bits, different at every call."""
        if not 0 <= k <= 512:
            raise ValueError(f"at most 512 bits at a time, not {k}")
        self._drawn += 1
        digest = hashlib.blake2b(b"%d:%d" % (self._seed, self._drawn)).digest()
        return int.from_bytes(digest, "big") >> (512 - k)


class PodManager:
    def __init__(self, client: Any, timing: Timing, config: NodeConfig, *, recorder: Any,
                 rng: random.Random, worker_factory: WorkerFactory,
                 allocatable: dict[str, str], memory_pressure: Callable[[], bool]) -> None:
        self.client, self.timing, self.config = client, timing, config
        self.recorder = recorder
        self.rng = rng
        self.allocatable = allocatable
        self._worker_factory = worker_factory
        self._memory_pressure = memory_pressure
        self.pods: dict[str, PodDriver] = {}  # by uid
        self._by_key: dict[str, str] = {}  # namespace/name -> uid
        self.ips: PodIPAllocator | None = None
        self._cidr_ready = asyncio.Event()

    def set_pod_cidr(self, cidr: str) -> None:
        """The node's pod CIDR is known: pods waiting for an address may start. Addresses
        the pods already report (a restarted kubelet's) are kept first."""
        if self.ips is not None or not cidr:
            return
        self.ips = PodIPAllocator(cidr)
        for sync in self.pods.values():
            ip = (sync.pod.get("status") or {}).get("podIP")
            if ip:
                self.ips.reserve(sync.uid, ip)
        self._cidr_ready.set()

    def active(self) -> list[PodDriver]:
        """Admitted pods not yet finished, with a running worker."""
        return [s for s in self.pods.values() if s.worker is not None and s.active]

    def get(self, namespace: str, name: str) -> PodDriver | None:
        return self.pods.get(self._by_key.get(f"{namespace}/{name}", ""))

    async def stop(self) -> None:
        tasks = [s.task for s in self.pods.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- informer handlers -------------------------------------------------------------------

    def add(self, pod: dict) -> None:
        uid = (pod.get("metadata") or {}).get("uid", "")
        sync = self.pods.get(uid)
        if sync is not None:
            sync.update(pod)
            return
        sync = PodDriver(pod, client=self.client, timing=self.timing, recorder=self.recorder)
        self.pods[uid] = sync
        self._by_key[sync.key] = uid
        rejection = None
        if sync.phase not in TERMINAL_PHASES:
            rejection = admit(pod, allocatable=self.allocatable,
                              admitted=[s.requests for s in self.pods.values() if s.active],
                              memory_pressure=self._memory_pressure())
            sync.admitted = rejection is None
        if self.ips is not None and (ip := (pod.get("status") or {}).get("podIP")):
            self.ips.reserve(uid, ip)
        sync.task = asyncio.get_running_loop().create_task(
            self._run(sync, rejection), name=f"kubelet {self.config.name} pod {sync.key}")

    def update(self, old: dict, new: dict) -> None:
        if (old.get("metadata") or {}).get("uid") != (new.get("metadata") or {}).get("uid"):
            self.delete(old)
        self.add(new)

    def delete(self, pod: dict) -> None:
        uid = (pod.get("metadata") or {}).get("uid", "")
        sync = self.pods.pop(uid, None)
        if sync is None:
            return
        if self._by_key.get(sync.key) == uid:
            del self._by_key[sync.key]
        if sync.task is not None:
            sync.task.cancel()
        if self.ips is not None:
            self.ips.release(uid)

    # -- one pod -----------------------------------------------------------------------------

    async def _run(self, sync: PodDriver, rejection: Rejection | None) -> None:
        spec = sync.pod.get("spec") or {}
        if rejection is not None or sync.phase in TERMINAL_PHASES:
            pod_ip = ""
        elif spec.get("hostNetwork"):
            pod_ip = self.config.address
        else:
            pod_ip = await self._pod_ip(sync)
        worker = self._worker_factory(
            sync.pod, node_name=self.config.name, pod_ip=pod_ip, host_ip=self.config.address,
            now=self.timing.clock.now(), wall_of=self.timing.wall_of,
            rng=SeededBits(self.rng.getrandbits(64)), create_delay=self.config.create_delay)
        if rejection is not None:  # the worker emits the Warning Event
            worker.reject(rejection.reason, "Pod was rejected: " + rejection.message)
        await sync.run(worker)

    async def _pod_ip(self, sync: PodDriver) -> str:
        """The pod's address once the node has a pod CIDR ("" when deleted first)."""
        while True:
            if sync.deleting:
                return (self.ips.ip_of(sync.uid) or "") if self.ips is not None else ""
            if self.ips is None:
                sync.wake.clear()
                await _first(self._cidr_ready.wait(), sync.wake.wait())
                continue
            try:
                return self.ips.allocate(sync.uid)
            except IPExhausted as err:
                sync.record(WARNING, "FailedCreatePodSandBox",
                            'Failed to create pod sandbox: plugin type="host-local" failed '
                            f"(add): failed to allocate for range 0: {err}")
                sync.wake.clear()
                await sleep_or_wake(self.timing, sync.wake, SANDBOX_RETRY)


async def _first(*aws: Any) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
