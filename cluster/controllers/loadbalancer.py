"""LoadBalancerController: the service controller of a cloud provider, for kubemu's emulated
load balancers.

Every Service of type LoadBalancer (without a spec.loadBalancerClass: those belong to another
implementation, as upstream) gets `status.loadBalancer.ingress: [{ip, ipMode: VIP}]` with an
address of `pool` (127.2.0.0/16, never its network nor broadcast address), which kubemu's
listeners bind on loopback. A spec.loadBalancerIP inside the pool and free is honoured;
otherwise addresses go round robin from the one after the last given out, so a freed address
is reused only after the pool wraps. The controller records EnsuringLoadBalancer and
EnsuredLoadBalancer Events (upstream's wording) when it assigns an address, and
DeletingLoadBalancer / DeletedLoadBalancer when a Service stops being a LoadBalancer (its
ingress is cleared).

Invariants: no two Services hold one address -- on the first reconcile (caches synced) every
pool address a Service's status already carries is occupied before anything is assigned, so a
restarted controller keeps the allocation; an address given to a Service is remembered by its
key until the Service is deleted or changes type, so a reconcile that runs before the
informer shows our own status patch re-sends the same address. Gap: no
`service.kubernetes.io/load-balancer-cleanup` finalizer; a deleted Service's address is freed
when the informer reports the deletion.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from kubemu.cluster.api.errors import ApiError, NotFound
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.nodeutil import owned_runtime
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.timing import Timing

__all__ = [
    "CONTROLLER_NAME",
    "DEFAULT_POOL",
    "IPPool",
    "LoadBalancerController",
    "PoolExhausted",
]

CONTROLLER_NAME = "service-lb-controller"
DEFAULT_POOL = "127.2.0.0/16"

log = logging.getLogger("kubemu.controllers.loadbalancer")


class PoolExhausted(Exception):
    """No address of the pool is free."""


class IPPool:
    """The host addresses of one CIDR, each used or free, handed out round robin."""

    def __init__(self, cidr: str) -> None:
        net = ipaddress.IPv4Network(cidr, strict=True)
        self.cidr = net
        self._first = int(net.network_address) + 1
        self.size = max(0, net.num_addresses - 2)
        self._used: set[int] = set()
        self._next = 0

    def contains(self, ip: str) -> bool:
        try:
            return 0 <= int(ipaddress.IPv4Address(ip)) - self._first < self.size
        except ValueError:
            return False

    def allocate_next(self) -> str:
        for i in range(self.size):
            offset = (self._next + i) % self.size
            if offset not in self._used:
                self._used.add(offset)
                self._next = (offset + 1) % self.size
                return str(ipaddress.IPv4Address(self._first + offset))
        raise PoolExhausted(f"no free address in {self.cidr}")

    def occupy(self, ip: str) -> bool:
        """Take `ip`; False when it is outside the pool or already taken."""
        if not self.contains(ip):
            return False
        offset = int(ipaddress.IPv4Address(ip)) - self._first
        if offset in self._used:
            return False
        self._used.add(offset)
        return True

    def release(self, ip: str) -> None:
        if self.contains(ip):
            self._used.discard(int(ipaddress.IPv4Address(ip)) - self._first)

    @property
    def used(self) -> int:
        return len(self._used)


class LoadBalancerController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, pool: str = DEFAULT_POOL) -> None:
        self.client = client
        self.timing = timing
        self.pool = IPPool(pool)
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._own_recorder = recorder is None
        self.recorder = recorder if recorder is not None else EventRecorder(
            client, timing, component=CONTROLLER_NAME)
        self.services = self.factory.informer("v1", "Service")
        self.controller = Controller(CONTROLLER_NAME, reconcile=self.reconcile,
                                     clock=timing.clock, sleep=timing.sleep)
        self.controller.watch(self.services)
        self._by_key: dict[tuple[str, str], str] = {}  # (namespace, name) -> address
        self._rebuilt = False

    async def run(self) -> None:
        """Assign load-balancer addresses until `stop()` (or cancellation)."""
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=self.recorder if self._own_recorder else None):
            await self.controller.run([self.services])

    async def stop(self) -> None:
        await self.controller.stop()

    async def reconcile(self, request: Request) -> Result | None:
        if not self._rebuilt:
            self._rebuild()
        key = (request.namespace, request.name)
        svc = self.services.lister.get(request.name, request.namespace)
        if svc is None:
            self._release(key)
            return None
        if not _wants_lb(svc):
            held = key in self._by_key
            self._release(key)
            if held or (_ours(svc) and _ingress_ips(svc)):
                await self._clear(svc)
            return None
        current = [ip for ip in _ingress_ips(svc) if self.pool.contains(ip)]
        mine = self._by_key.get(key)
        if mine is not None and current == [mine]:
            return None
        if mine is None:
            try:
                mine = self._assign(svc)
            except PoolExhausted as err:
                self.recorder.record(svc, "Warning", "SyncLoadBalancerFailed",
                                     f"Error syncing load balancer: failed to ensure load "
                                     f"balancer: {err}")
                return Result(requeue_after=30.0)
            self._by_key[key] = mine
        self.recorder.record(svc, "Normal", "EnsuringLoadBalancer", "Ensuring load balancer")
        try:
            await self.client.patch("v1", "Service", request.name, {"status": {
                "loadBalancer": {"ingress": [{"ip": mine, "ipMode": "VIP"}]}}},
                namespace=request.namespace, subresource="status")
        except NotFound:
            self._release(key)
            return None
        except ApiError as err:
            self.recorder.record(svc, "Warning", "SyncLoadBalancerFailed",
                                 f"Error syncing load balancer: {err}")
            raise
        self.recorder.record(svc, "Normal", "EnsuredLoadBalancer", "Ensured load balancer")
        log.info("service %s/%s: load balancer at %s", *key, mine)
        return None

    def _assign(self, svc: dict) -> str:
        wanted = (svc.get("spec") or {}).get("loadBalancerIP") or ""
        if wanted and self.pool.occupy(wanted):
            return wanted
        return self.pool.allocate_next()

    async def _clear(self, svc: dict) -> None:
        md = svc["metadata"]
        self.recorder.record(svc, "Normal", "DeletingLoadBalancer", "Deleting load balancer")
        try:
            await self.client.patch("v1", "Service", md["name"],
                                    {"status": {"loadBalancer": {"ingress": None}}},
                                    namespace=md.get("namespace", ""), subresource="status")
        except NotFound:
            return
        self.recorder.record(svc, "Normal", "DeletedLoadBalancer", "Deleted load balancer")

    def _rebuild(self) -> None:
        """Occupy the addresses Services already carry (first reconcile, caches synced)."""
        self._rebuilt = True
        for svc in sorted(self.services.lister.list(),
                          key=lambda s: s["metadata"].get("creationTimestamp", "")):
            if not _wants_lb(svc):
                continue
            md = svc["metadata"]
            for ip in _ingress_ips(svc):
                if self.pool.occupy(ip):
                    self._by_key[(md.get("namespace", ""), md["name"])] = ip
                    break

    def _release(self, key: tuple[str, str]) -> None:
        ip = self._by_key.pop(key, None)
        if ip is not None:
            self.pool.release(ip)


def _ours(svc: dict) -> bool:
    return not (svc.get("spec") or {}).get("loadBalancerClass")


def _wants_lb(svc: dict) -> bool:
    spec = svc.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and _ours(svc) and \
        not (svc["metadata"].get("deletionTimestamp"))


def _ingress_ips(svc: dict) -> list[str]:
    lb = (svc.get("status") or {}).get("loadBalancer") or {}
    return [i["ip"] for i in lb.get("ingress") or [] if isinstance(i, dict) and i.get("ip")]
