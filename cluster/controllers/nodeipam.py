"""NodeIpamController: upstream's node IPAM controller with the RangeAllocator.

Every Node gets `spec.podCIDR` and `spec.podCIDRs` (one IPv4 range; dual stack is not
emulated): a /`node_cidr_mask_size` (24) block of `cluster_cidr` (10.244.0.0/16), so node N
hands out pod IPs from 10.244.N.0/24. `CidrSet` is upstream's cidrset: a bitmap of the
blocks, allocated round robin from the block after the last one given out (a freed block is
reused only once the allocator wraps around), occupied explicitly for blocks nodes already
hold.

Invariants: no two nodes are given the same block -- on the first reconcile (the caches are
synced by then) every podCIDR the nodes already carry is occupied before anything is
allocated, so a restarted controller never hands out a block in use; a block allocated for a
node is remembered by node name until the node is deleted or turns out to carry another
block, so a reconcile that runs before the informer shows our own patch re-sends the same
block instead of taking a second one. A deleted node's block is released and nodes waiting
for a block are retried. When the range is exhausted the node gets the Event
CIDRNotAvailable (upstream's wording; "Node n status is now: CIDRNotAvailable") and waits; a
failed patch gives CIDRAssignmentFailed and a retry with backoff.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from kubemu.cluster.api.errors import ApiError, Invalid, NotFound
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.nodeutil import owned_runtime, record_node_status_change
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.timing import Timing

__all__ = ["NodeIpamController", "CidrSet", "CidrExhausted", "CONTROLLER_NAME",
           "DEFAULT_CLUSTER_CIDR", "LARGE_CLUSTER_CIDR", "cluster_cidr_for"]

CONTROLLER_NAME = "node-ipam-controller"
DEFAULT_CLUSTER_CIDR = "10.244.0.0/16"  # kubeadm's usual --pod-network-cidr: 256 nodes
LARGE_CLUSTER_CIDR = "10.240.0.0/12"  # 4,096 /24s; holds 10.244.0.0/16, clear of 10.96.0.0/12
_MAX_PREFIX_DIFF = 16

log = logging.getLogger("kubemu.controllers.nodeipam")


def cluster_cidr_for(nodes: int, *, node_mask_size: int = 24) -> str:
    """The cluster CIDR a cluster of `nodes` nodes is given: kubeadm's /16 while a /24 per
    node fits, else a /12 (as large clusters pass a wider --cluster-cidr)."""
    fits = 1 << (node_mask_size - 16)
    return DEFAULT_CLUSTER_CIDR if nodes <= fits else LARGE_CLUSTER_CIDR


class CidrExhausted(Exception):
    """No block of the cluster CIDR is free."""


class CidrSet:
    """The node-sized blocks of one cluster CIDR, each used or free (upstream cidrset)."""

    def __init__(self, cluster_cidr: str, node_mask_size: int) -> None:
        self.cluster = ipaddress.IPv4Network(cluster_cidr, strict=True)
        if not self.cluster.prefixlen <= node_mask_size <= self.cluster.max_prefixlen:
            raise ValueError(f"node mask size {node_mask_size} does not fit {cluster_cidr}")
        if node_mask_size - self.cluster.prefixlen > _MAX_PREFIX_DIFF:
            raise ValueError(f"node mask size {node_mask_size} is too big for {cluster_cidr}")
        self.node_mask_size = node_mask_size
        self.max_cidrs = 1 << (node_mask_size - self.cluster.prefixlen)
        self._used: set[int] = set()
        self._next = 0

    def allocate_next(self) -> str:
        for i in range(self.max_cidrs):
            candidate = (self._next + i) % self.max_cidrs
            if candidate not in self._used:
                self._used.add(candidate)
                self._next = (candidate + 1) % self.max_cidrs
                return self._cidr(candidate)
        raise CidrExhausted("CIDR allocation failed; there are no remaining CIDRs left to "
                            "allocate in the accepted range")

    def occupy(self, cidr: str) -> None:
        """Mark every block `cidr` covers as used; ValueError if outside the cluster CIDR."""
        self._used.update(self._indices(cidr))

    def release(self, cidr: str) -> None:
        self._used.difference_update(self._indices(cidr))

    def is_used(self, cidr: str) -> bool:
        return all(i in self._used for i in self._indices(cidr))

    @property
    def used(self) -> int:
        return len(self._used)

    def _cidr(self, index: int) -> str:
        size = 1 << (self.cluster.max_prefixlen - self.node_mask_size)
        address = self.cluster.network_address + index * size
        return f"{address}/{self.node_mask_size}"

    def _indices(self, cidr: str) -> range:
        net = ipaddress.IPv4Network(cidr, strict=False)
        if not net.subnet_of(self.cluster):
            raise ValueError(f"cidr {cidr} is out the range of cluster cidr {self.cluster}")
        shift = self.cluster.max_prefixlen - self.node_mask_size
        base = int(self.cluster.network_address)
        first = (int(net.network_address) - base) >> shift
        last = (int(net.broadcast_address) - base) >> shift
        return range(first, last + 1)


class NodeIpamController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None,
                 cluster_cidr: str = DEFAULT_CLUSTER_CIDR,
                 node_cidr_mask_size: int = 24) -> None:
        self.client = client
        self.timing = timing
        self.cidrs = CidrSet(cluster_cidr, node_cidr_mask_size)
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._own_recorder = recorder is None
        self.recorder = recorder if recorder is not None else EventRecorder(
            client, timing, component=CONTROLLER_NAME)
        self.nodes = self.factory.informer("v1", "Node")
        self.controller = Controller(CONTROLLER_NAME, reconcile=self.reconcile,
                                     clock=timing.clock, sleep=timing.sleep)
        self.controller.watch(self.nodes)
        self._by_node: dict[str, str] = {}  # node name -> the block it holds or was given
        self._waiting: set[str] = set()  # nodes that found the range exhausted
        self._rebuilt = False

    async def run(self) -> None:
        """Assign pod CIDRs until `stop()` (or cancellation)."""
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=self.recorder if self._own_recorder else None):
            await self.controller.run([self.nodes])

    async def stop(self) -> None:
        await self.controller.stop()

    async def reconcile(self, request: Request) -> Result | None:
        if not self._rebuilt:
            self._rebuild()
        name = request.name
        node = self.nodes.lister.get(name)
        if node is None:
            self._waiting.discard(name)
            self._release(name)
            return None
        spec = node.get("spec") or {}
        held = (spec.get("podCIDRs") or [spec.get("podCIDR")])[0]
        if held:
            self._waiting.discard(name)
            if self._by_node.get(name) != held:
                self._release(name)
                self._occupy(name, held)
            return None
        cidr = self._by_node.get(name)
        if cidr is None:
            try:
                cidr = self.cidrs.allocate_next()
            except CidrExhausted as err:
                log.warning("node %s: %s", name, err, extra={"node": name})
                record_node_status_change(self.recorder, node, "CIDRNotAvailable")
                self._waiting.add(name)
                return None
            self._by_node[name] = cidr
        self._waiting.discard(name)
        try:
            await self.client.patch("v1", "Node", name,
                                    {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
        except NotFound:
            self._release(name)
        except Invalid as err:  # it got another block meanwhile: its next event occupies it
            log.info("node %s: podCIDR not set: %s", name, err, extra={"node": name})
            self._release(name)
        except ApiError:
            record_node_status_change(self.recorder, node, "CIDRAssignmentFailed")
            self._release(name)
            raise
        else:
            log.info("node %s: assigned podCIDR %s", name, cidr, extra={"node": name})
        return None

    def _rebuild(self) -> None:
        """Occupy the blocks existing nodes hold (first reconcile, caches synced)."""
        self._rebuilt = True
        for node in self.nodes.lister.list():
            spec = node.get("spec") or {}
            held = (spec.get("podCIDRs") or [spec.get("podCIDR")])[0]
            if held:
                self._occupy(node["metadata"]["name"], held)

    def _occupy(self, name: str, cidr: str) -> None:
        try:
            self.cidrs.occupy(cidr)
        except ValueError as err:
            log.warning("node %s: %s", name, err, extra={"node": name})
            return
        self._by_node[name] = cidr

    def _release(self, name: str) -> None:
        cidr = self._by_node.pop(name, None)
        if cidr is None or cidr in self._by_node.values():
            return
        self.cidrs.release(cidr)
        for waiting in sorted(self._waiting):
            self.controller.enqueue(Request("", waiting))
