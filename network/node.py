"""NodeNetwork: one node's side of the overlay -- its kube-proxy and the map from pod IPs to
nodes -- split at the hop so the hop can be a Ray call.

`dial(src_ip, dst_ip, port)` runs on the source node: kube-proxy turns a Service address into
a backend (or refuses / drops, raising as a TCP client would see it), the pod-network map
(each Node's podCIDR, from a Node informer) names the node that owns the backend IP, and
NetworkPolicy (a `PolicyEngine` fed by Pod, Namespace and NetworkPolicy informers) must allow
the source's egress and the backend's ingress on the backend port, else the connection is
dropped (a timeout).
The caller carries the connection to that node, whose `accept(ip, port)` asks its kubelet for
the pod holding the IP and answers if its program listens on the port. `Fabric` does the same
in one process; node actors on Ray put a remote call between `dial` and `accept`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from dataclasses import dataclass
from typing import Any

from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.node.kubelet import Kubelet
from kubemu.cluster.node.node_status import ACTOR_ANNOTATION
from kubemu.cluster.timing import Timing
from kubemu.network.fabric import ConnectionRefused, ConnectionTimeout, Reply
from kubemu.network.kubeproxy import KubeProxy
from kubemu.network.policy import PolicyEngine
from kubemu.network.proxy import Drop

__all__ = ["NodeNetwork", "Dialed", "EmulatedNode"]

ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass(frozen=True)
class Dialed:
    node: str  # the node owning the backend IP
    ip: str
    port: int
    service: str = ""


class NodeNetwork:
    def __init__(self, client: Any, timing: Timing, node_name: str, *, kubelet: Any,
                 rng: random.Random | None = None) -> None:
        self.node_name = node_name
        self.kubelet = kubelet
        self.timing = timing
        self.factory = InformerFactory(client, timing)
        self.proxy = KubeProxy(client, timing, node_name, factory=self.factory, rng=rng)
        self.policy = PolicyEngine()
        self._cidrs: dict[str, tuple[ipaddress.IPv4Network, str]] = {}  # node -> (cidr, zone)
        self.actors: dict[str, str] = {}  # node -> the Ray actor serving it (annotation)

    async def run(self) -> None:
        nodes = self.factory.informer("v1", "Node")
        nodes.add_handler(self._node, lambda _old, new: self._node(new), self._node_gone)
        policy = self.policy
        for api_version, kind, update, delete in (
                ("v1", "Pod", policy.update_pod, policy.delete_pod),
                ("v1", "Namespace", policy.update_namespace, policy.delete_namespace),
                ("networking.k8s.io/v1", "NetworkPolicy", policy.update_policy,
                 policy.delete_policy)):
            self.factory.informer(api_version, kind).add_handler(
                update, lambda _old, new, _update=update: _update(new), delete)
        self.factory.start()
        try:
            await self.proxy.run()
        finally:
            await self.factory.stop()

    async def stop(self) -> None:
        await self.proxy.stop()

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
        owner = self.node_of(ip)
        if owner is None:
            raise ConnectionTimeout(f"no route to {ip}:{dport}")
        verdict = self.policy.allowed(self.policy.peer_for_ip(src_ip, node=self.node_name),
                                      self.policy.peer_for_ip(ip, node=owner), dport,
                                      protocol)
        if not verdict:  # egress here and ingress there: policies drop, so the client waits
            raise ConnectionTimeout(f"dropped by network policy: {verdict.reason}")
        return Dialed(node=owner, ip=ip, port=dport, service=service)

    def accept(self, ip: str, port: int, *, service: str = "") -> Reply:
        endpoint = self.kubelet.endpoint(ip)
        if endpoint is None:
            raise ConnectionTimeout(f"no route to {ip}:{port}")
        if not endpoint.accepts(port):
            raise ConnectionRefused(f"connect {ip}:{port}: connection refused")
        zone = self._cidrs.get(self.node_name, (None, ""))[1]
        return Reply(pod=endpoint.name, namespace=endpoint.namespace, node=self.node_name,
                     zone=zone, pod_ip=ip, port=port, service=service)

    def node_of(self, ip: str) -> str | None:
        address = ipaddress.ip_address(ip)
        for name, (cidr, _zone) in self._cidrs.items():
            if address in cidr:
                return name
        return None

    async def synced(self) -> bool:
        return await self.factory.wait_synced() and await self.proxy.synced()

    def _node(self, node: dict) -> None:
        meta, spec = node.get("metadata") or {}, node.get("spec") or {}
        actor = (meta.get("annotations") or {}).get(ACTOR_ANNOTATION)
        if actor:
            self.actors[meta.get("name", "")] = actor
        cidr = spec.get("podCIDR")
        if cidr:
            self._cidrs[meta.get("name", "")] = (
                ipaddress.ip_network(cidr, strict=False),
                (meta.get("labels") or {}).get(ZONE_LABEL, ""))

    def _node_gone(self, node: dict) -> None:
        name = (node.get("metadata") or {}).get("name", "")
        self._cidrs.pop(name, None)
        self.actors.pop(name, None)




class EmulatedNode:
    """One emulated node: its kubelet and its network side (kube-proxy, pod-network map)."""

    def __init__(self, client: Any, timing: Timing, config: Any, *,
                 rng: random.Random | None = None) -> None:
        rng = rng or random.Random()
        self.name = config.name
        self.kubelet = Kubelet(client, timing, config, rng=random.Random(rng.random()))
        self.network = NodeNetwork(client, timing, config.name, kubelet=self.kubelet,
                                   rng=random.Random(rng.random()))

    async def run(self) -> None:
        await asyncio.gather(self.kubelet.run(), self.network.run())

    async def stop(self) -> None:
        await self.network.stop()
        await self.kubelet.stop()

    def logs(self, namespace: str, name: str, container: str, *,
             previous: bool = False) -> list[str]:
        return self.kubelet.logs(namespace, name, container, previous=previous)
