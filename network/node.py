"""NodeNetwork: one node's side of the overlay -- its kube-proxy, split at the hop so the hop
can be a Ray call or a tunnel between node actors.

`connect(src_ip, dst_ip, port, hop=)` runs on the source node:
1. `dial`: kube-proxy turns a Service address into a backend (or refuses / drops, raising as
   a TCP client would see it); the `PodNetwork` names the node owning the backend IP; and
   NetworkPolicy must allow the source's egress and the backend's ingress on the backend
   port, else the connection is dropped (a timeout);
2. the link to that node may be partitioned, lossy or slow (`PodNetwork.links`; traffic
   within one node never crosses a link);
3. the backend's node answers: this node's own `accept` when the backend is local, else
   `hop(dialed, payload)`, which carries the connection to the node that owns it and returns
   its `Reply` (raising its failure).
`accept(ip, port)` asks the node's kubelet for the pod holding the IP and answers if its
program listens on the port; a TCP payload is echoed back.

`EmulatedNode` is one node (kubelet + network, its own informers); `EmulatedNodePool` hosts
many nodes in one process: one kubelet pool, one shared `PodNetwork` over one informer
factory, and a kube-proxy per node (own compiled rules; the caches and the parsed Services
and slices are shared). Both expose `networks`, node name -> `NodeNetwork`, which is all
the node actor needs.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.clock import derive_rng
from kubemu.cluster.node.kubelet import Kubelet
from kubemu.cluster.node.pool import NodePool
from kubemu.cluster.timing import Timing
from kubemu.network.fabric import ConnectionRefused, ConnectionTimeout, Reply
from kubemu.network.kubeproxy import KubeProxy
from kubemu.network.podnetwork import PodNetwork
from kubemu.network.proxy import Drop
from kubemu.network.proxy_table import ServiceTable

__all__ = ["NodeNetwork", "Dialed", "EmulatedNode", "EmulatedNodePool", "Hop"]


@dataclass(frozen=True)
class Dialed:
    node: str  # the node owning the backend IP
    ip: str
    port: int
    service: str = ""


Hop = Callable[[Dialed, "str | None"], Awaitable[Reply]]


class NodeNetwork:
    def __init__(self, client: Any, timing: Timing, node_name: str, *, kubelet: Any,
                 pod_network: PodNetwork | None = None, rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 services: ServiceTable | None = None) -> None:
        """Without `pod_network` the node keeps its own (and its own informer factory);
        without `services`, its kube-proxy its own parsed Services and slices."""
        self.node_name = node_name
        self.kubelet = kubelet
        self.timing = timing
        self._own = pod_network is None
        self.pods = pod_network or PodNetwork(InformerFactory(client, timing))
        self.factory = self.pods.factory
        self._rng = rng or random.Random()
        self._sleep = sleep  # link latency is network time: never scaled
        self.proxy = KubeProxy(client, timing, node_name, factory=self.factory,
                               rng=random.Random(self._rng.random()), table=services)

    @property
    def address(self) -> str:
        """The node's InternalIP."""
        return self.kubelet.config.address

    async def run(self) -> None:
        if self._own:
            self.pods.attach()
            self.factory.start()
        try:
            await self.proxy.run()
        finally:
            if self._own:
                await self.factory.stop()

    async def stop(self) -> None:
        await self.proxy.stop()

    async def connect(self, src_ip: str, dst_ip: str, port: int, *, hop: Hop,
                      protocol: str = "TCP", external: bool = False,
                      from_node_port: bool = False, payload: str | None = None) -> Reply:
        dialed = self.dial(src_ip, dst_ip, port, protocol=protocol, external=external,
                           from_node_port=from_node_port)
        if dialed.node == self.node_name:
            return self.accept(dialed.ip, dialed.port, service=dialed.service,
                               payload=payload)
        pods = self.pods
        link = pods.links.decide(self.node_name, pods.zone_of(self.node_name), dialed.node,
                                 pods.zone_of(dialed.node), self._rng)
        if link.delay:
            await self._sleep(2 * link.delay)  # there and back
        if link.dropped:
            raise ConnectionTimeout(f"{self.node_name} -> {dialed.node}: {link.reason}")
        return await hop(dialed, payload)

    def dial(self, src_ip: str, dst_ip: str, port: int, *, protocol: str = "TCP",
             external: bool = False, from_node_port: bool = False) -> Dialed:
        decision = self.proxy.rules.route(dst_ip, port, protocol, src_ip=src_ip,
                                          now=self.timing.clock.now(), external=external,
                                          from_node_port=from_node_port)
        if isinstance(decision, Drop):
            if decision.reason == "REJECT":
                raise ConnectionRefused(decision.message)
            raise ConnectionTimeout(decision.message)
        ip, dport, service = dst_ip, port, ""
        if decision is not None:
            ip, dport, service = decision.pod_ip, decision.port, decision.service
        owner = self.pods.node_of(ip)
        if owner is None:
            raise ConnectionTimeout(f"no route to {ip}:{dport}")
        policy = self.pods.policy
        verdict = policy.allowed(policy.peer_for_ip(src_ip, node=self.node_name),
                                 policy.peer_for_ip(ip, node=owner), dport, protocol)
        if not verdict:  # egress here and ingress there: policies drop, so the client waits
            raise ConnectionTimeout(f"dropped by network policy: {verdict.reason}")
        return Dialed(node=owner, ip=ip, port=dport, service=service)

    def accept(self, ip: str, port: int, *, service: str = "",
               payload: str | None = None) -> Reply:
        endpoint = self.kubelet.endpoint(ip)
        if endpoint is None:
            raise ConnectionTimeout(f"no route to {ip}:{port}")
        if not endpoint.accepts(port):
            raise ConnectionRefused(f"connect {ip}:{port}: connection refused")
        return Reply(pod=endpoint.name, namespace=endpoint.namespace, node=self.node_name,
                     zone=self.pods.zone_of(self.node_name), pod_ip=ip, port=port,
                     service=service, echo=payload)

    def routes(self, dst_ip: str, port: int, protocol: str = "TCP") -> bool:
        """Whether kube-proxy here would send a connection to dst_ip:port to a backend."""
        decision = self.proxy.rules.route(dst_ip, port, protocol, src_ip=self.address,
                                          now=self.timing.clock.now())
        return decision is not None and not isinstance(decision, Drop)

    async def synced(self) -> bool:
        return await self.factory.wait_synced() and await self.proxy.synced()


class EmulatedNode:
    """One emulated node: its kubelet and its network side (kube-proxy, pod-network map)."""

    def __init__(self, client: Any, timing: Timing, config: Any, *,
                 rng: random.Random | None = None) -> None:
        rng = rng or random.Random()
        self.name = config.name
        self.kubelet = Kubelet(client, timing, config, rng=random.Random(rng.random()))
        self.network = NodeNetwork(client, timing, config.name, kubelet=self.kubelet,
                                   rng=random.Random(rng.random()))
        self.networks = {self.name: self.network}

    async def run(self) -> None:
        await asyncio.gather(self.kubelet.run(), self.network.run())

    async def stop(self) -> None:
        await self.network.stop()
        await self.kubelet.stop()

    def logs(self, namespace: str, name: str, container: str, *,
             previous: bool = False) -> list[str]:
        return self.kubelet.logs(namespace, name, container, previous=previous)


class EmulatedNodePool:
    """Many emulated nodes in one process: kubelets (a `NodePool`) and a kube-proxy per
    node over one shared `PodNetwork`, `ServiceTable` and informer factory."""

    def __init__(self, client: Any, timing: Timing, configs: Sequence[Any], *,
                 rng: random.Random | None = None) -> None:
        seed = (rng or random.Random()).getrandbits(64)
        self.kubelets = NodePool(client, timing, configs, rng=derive_rng(seed, "kubelets"))
        self.factory = InformerFactory(client, timing)
        self.pods = PodNetwork(self.factory)
        self.services = ServiceTable()
        self.networks = {
            name: NodeNetwork(client, timing, name, kubelet=kubelet, pod_network=self.pods,
                              rng=derive_rng(seed, name), services=self.services)
            for name, kubelet in self.kubelets.kubelets.items()}

    async def run(self) -> None:
        self.pods.attach()
        self.services.attach(self.factory)
        self.factory.start()
        try:
            await asyncio.gather(self.kubelets.run(),
                                 *(network.run() for network in self.networks.values()))
        finally:
            await self.factory.stop()

    async def stop(self) -> None:
        await asyncio.gather(*(network.stop() for network in self.networks.values()))
        await self.kubelets.stop()

    def logs(self, namespace: str, name: str, container: str, *,
             previous: bool = False) -> list[str]:
        return self.kubelets.logs(namespace, name, container, previous=previous)
