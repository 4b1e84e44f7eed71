"""Fabric: the overlay network in one process -- a connection from a pod (or a node, or the
host) to an IP:port, resolved the way Kubernetes resolves it.

`connect(src_node=, src_ip=, dst_ip=, port=)`:
1. the source node's kube-proxy rules DNAT a Service address to a backend (`Route`), refuse
   it (REJECT: `ConnectionRefused`) or drop it (DROP: `ConnectionTimeout`); any other
   address is delivered as addressed;
2. the backend pod is found by IP (pods register with their node); an unknown IP times out;
3. NetworkPolicy (when a `PolicyEngine` is attached) must allow the source's egress and the
   destination's ingress on the backend port, else the connection times out (policies drop);
4. the link between the two nodes may be partitioned, lossy or slow (`LinkFaults`);
5. the pod's program answers if it listens on the port (`ConnectionRefused` otherwise), and
   the reply names the pod, namespace, node and zone that served it, and the Service
   that routed it.
Delays are awaited through the injected `sleep` (Kubernetes time is not involved: network
timings are never scaled). Node actors on Ray put a hop between step 1 and step 5; this module
is the same logic with the hop in-process.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kubemu.cluster.node.endpoint import PodEndpoint
from kubemu.network.links import LinkFaults
from kubemu.network.policy import PolicyEngine
from kubemu.network.proxy import Drop, ProxyRules

__all__ = ["Fabric", "NodeNet", "PodEndpoint", "Reply", "ConnectionRefused",
           "ConnectionTimeout", "failure"]


class ConnectionRefused(ConnectionError):
    """Nothing listens there (or kube-proxy REJECTs: a Service without endpoints)."""


class ConnectionTimeout(TimeoutError):
    """The packets went nowhere: a DROP rule, a policy, a partition, loss, an unknown IP."""


@dataclass
class NodeNet:
    """One node's side of the fabric: its kube-proxy rules and the pods it hosts."""

    name: str
    zone: str
    rules: ProxyRules
    address: str = ""
    pods: dict[str, PodEndpoint] = field(default_factory=dict)  # by pod IP


@dataclass(frozen=True)
class Reply:
    pod: str
    namespace: str
    node: str
    zone: str
    pod_ip: str
    port: int
    service: str = ""  # "ns/name" when a Service routed the connection
    echo: str | None = None  # what a TCP client sent, echoed back by the pod's program

    def body(self) -> dict:
        body = {"pod": self.pod, "namespace": self.namespace, "node": self.node,
                "zone": self.zone, "podIP": self.pod_ip, "port": self.port,
                "service": self.service}
        if self.echo is not None:
            body["echo"] = self.echo
        return body

    @classmethod
    def of(cls, body: dict) -> Reply:
        """The reply a hop answered (`{"ok": True, ...}`); a failed hop's body raises what
        the client would see."""
        if not body.get("ok"):
            error = ConnectionRefused if body.get("error") == "refused" else ConnectionTimeout
            raise error(body.get("message", ""))
        return cls(pod=body["pod"], namespace=body["namespace"], node=body["node"],
                   zone=body["zone"], pod_ip=body["podIP"], port=body["port"],
                   service=body.get("service", ""), echo=body.get("echo"))


def failure(exc: ConnectionError | TimeoutError) -> dict:
    """The body a failed connection answers with: "refused" or "timeout", and why."""
    kind = "refused" if isinstance(exc, ConnectionRefused) else "timeout"
    return {"ok": False, "error": kind, "message": str(exc)}


class Fabric:
    def __init__(self, *, policy: PolicyEngine | None = None, links: LinkFaults | None = None,
                 rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] | None = None) -> None:
        self.nodes: dict[str, NodeNet] = {}
        self.policy = policy
        self.links = links or LinkFaults()
        self.rng = rng or random.Random()
        self._sleep = sleep
        self._clock = clock or (lambda: asyncio.get_running_loop().time())
        self._owner: dict[str, str] = {}  # pod IP -> node name

    def add_node(self, node: NodeNet) -> None:
        self.nodes[node.name] = node
        for ip in node.pods:
            self._owner[ip] = node.name

    def remove_node(self, name: str) -> None:
        node = self.nodes.pop(name, None)
        if node is not None:
            for ip in node.pods:
                if self._owner.get(ip) == name:
                    del self._owner[ip]

    def add_pod(self, node: str, pod: PodEndpoint) -> None:
        self.nodes[node].pods[pod.ip] = pod
        self._owner[pod.ip] = node

    def remove_pod(self, node: str, ip: str) -> None:
        self.nodes[node].pods.pop(ip, None)
        if self._owner.get(ip) == node:
            del self._owner[ip]

    async def connect(self, *, src_node: str, src_ip: str, dst_ip: str, port: int,
                      protocol: str = "TCP", external: bool = False) -> Reply:
        source = self.nodes.get(src_node)
        if source is None:
            raise ConnectionTimeout(f"node {src_node} is not on the network")
        decision = source.rules.route(dst_ip, port, protocol, src_ip=src_ip,
                                      now=self._clock(), external=external)
        if isinstance(decision, Drop):
            if decision.reason == "REJECT":
                raise ConnectionRefused(decision.message)
            raise ConnectionTimeout(decision.message)
        ip, dport, service = dst_ip, port, ""
        if decision is not None:
            ip, dport, service = decision.pod_ip, decision.port, decision.service
        owner = self._owner.get(ip)
        target = self.nodes.get(owner) if owner is not None else None
        pod = target.pods.get(ip) if target is not None else None
        if target is None or pod is None:
            raise ConnectionTimeout(f"no route to {ip}:{dport}")
        if self.policy is not None:
            src = self.policy.peer_for_ip(src_ip, node=src_node)
            dst = self.policy.peer_for_ip(ip, node=target.name)
            verdict = self.policy.allowed(src, dst, dport, protocol)
            if not verdict:
                raise ConnectionTimeout(f"dropped by network policy: {verdict.reason}")
        link = self.links.decide(source.name, source.zone, target.name, target.zone, self.rng)
        if link.delay:
            await self._sleep(2 * link.delay)  # there and back
        if link.dropped:
            raise ConnectionTimeout(f"{source.name} -> {target.name}: {link.reason}")
        if not pod.accepts(dport):
            raise ConnectionRefused(f"connect {ip}:{dport}: connection refused")
        return Reply(pod=pod.name, namespace=pod.namespace, node=target.name,
                     zone=target.zone, pod_ip=ip, port=dport, service=service)


