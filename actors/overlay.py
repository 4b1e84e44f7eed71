"""The overlay side of node actors: connections between node actors, and host listeners.

`NodeOverlay` is mixed into the component actor for the "node" and "node-pool" kinds. A
connection leaving one of the actor's nodes is routed by that node's kube-proxy
(`network.node.NodeNetwork.connect`); when the backend lives on another actor's node, the hop
goes over a `Tunnels` stream to that actor (a Ray call only to learn its tunnel address, or as
the slow road while no tunnel is up). Host listeners make NodePorts and LoadBalancer ingress
IPs real sockets on this host. `load` and `wait_routable` are the benchmark's probes: a load
generator inside the actor (so only the hop is measured) and the moment each node's rules route
an address.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgpack
import ray
from kubemu.actors.tunnel import TunnelDown, Tunnels
from kubemu.network.fabric import ConnectionRefused, ConnectionTimeout, Reply, failure
from kubemu.network.listeners import HostListeners
from kubemu.network.node import Dialed

__all__ = ["HOP_TIMEOUT", "NodeOverlay", "node_actor_name"]

HOP_TIMEOUT = 10.0  # seconds a connection waits for the peer node actor's answer

log = logging.getLogger(__name__)


def node_actor_name(node: str) -> str:
    return f"kubelet-{node}"


class NodeOverlay:
    """Overlay methods of a node or node-pool actor (needs `kind`, `component`,
    `ray_namespace` and `tunnels` on the actor)."""

    kind: str
    component: Any
    ray_namespace: str | None
    tunnels: Tunnels

    async def _host_listeners(self) -> None:
        """Keep host listeners for this actor's nodes: <node InternalIP>:<nodePort> for every
        NodePort Service on each node, and every LoadBalancer ingress IP:port (shared with
        the other node actors; here through the first node). A connection goes through
        that node's kube-proxy as external traffic."""
        networks = self.component.networks
        node_ports = {name: HostListeners(network.address, lambda port, client, a=network.address,
                                          n=name: self.connect(client, a, port, external=True,
                                                               from_node_port=True, node=n))
                      for name, network in networks.items()}
        first = next(iter(networks))
        balancers: dict[str, HostListeners] = {}
        seen: dict[str, int] = {}
        try:
            while True:
                for name, network in networks.items():
                    rules = network.proxy.rules
                    if name != first:  # NodePorts follow the Services alone
                        if rules.service_version != seen.get(name):
                            seen[name] = rules.service_version
                            await node_ports[name].sync(rules.node_ports())
                        continue
                    if rules.version == seen.get(name):
                        continue
                    seen[name] = rules.version
                    await node_ports[name].sync(rules.node_ports())
                    wanted: dict[str, set[int]] = {}
                    for ip, port in rules.load_balancer_ips():
                        wanted.setdefault(ip, set()).add(port)
                    for ip in set(balancers) | set(wanted):
                        if ip not in balancers:
                            balancers[ip] = HostListeners(
                                ip, lambda port, client, ip=ip: self.connect(
                                    client, ip, port, external=True, node=first),
                                shared=True)
                        await balancers[ip].sync(wanted.get(ip, ()))
                        if ip not in wanted:
                            del balancers[ip]
                await asyncio.sleep(0.1)
        finally:
            for listeners in (*node_ports.values(), *balancers.values()):
                await listeners.close()

    async def tunnel_address(self) -> tuple[str, int]:
        """Where peer node actors open their tunnel to this one (listening from the first
        call on): this Ray node's IP, which peers on other hosts reach (as the store
        replicas' peer links do); 127.0.0.1 would only serve peers on this host."""
        return await self.tunnels.listen(ray.util.get_node_ip_address())

    async def connect(self, src_ip: str, dst_ip: str, port: int, protocol: str = "TCP",
                      external: bool = False, from_node_port: bool = False,
                      node: str | None = None, payload: str | None = None) -> dict:
        """A connection leaving `node` (default: the node of this actor owning src_ip, else
        its first): kube-proxy picks the backend, the node owning it answers (another actor's
        when it is elsewhere). {"ok": True, pod, node, zone, ...} or {"ok": False, "error":
        "refused"|"timeout", "message"}."""
        try:
            network = self._source(node, src_ip)
            reply = await network.connect(src_ip, dst_ip, port, hop=self._hop,
                                          protocol=protocol, external=external,
                                          from_node_port=from_node_port, payload=payload)
        except (ConnectionRefused, ConnectionTimeout) as exc:
            return failure(exc)
        return {"ok": True, **reply.body()}

    async def accept(self, ip: str, port: int, service: str = "", node: str | None = None,
                     payload: str | None = None) -> dict:
        """A connection arriving at this actor for a pod of `node`."""
        try:
            network = self._target(node, ip)
            reply = network.accept(ip, port, service=service, payload=payload)
        except (ConnectionRefused, ConnectionTimeout) as exc:
            return failure(exc)
        return {"ok": True, **reply.body()}

    async def links(self, op: str, a: str = "", b: str = "", value: float = 0.0,
                    scope: str = "zone") -> None:
        """Set this actor's link faults: "partition" a|b, "latency" (value: seconds one
        way), "loss" (value: a fraction), or "heal" (clear them all)."""
        faults = next(iter(self._networks().values())).pods.links
        if op == "heal":
            faults.heal()
        elif op == "partition":
            faults.partition(a, b, scope=scope)
        elif op == "latency":
            faults.latency(a, b, value, scope=scope)
        elif op == "loss":
            faults.loss(a, b, value, scope=scope)
        else:
            raise ValueError(f"unknown link fault {op!r}: partition, latency, loss or heal")

    async def nodes(self) -> list[str]:
        """The nodes this actor hosts."""
        return list(self._networks())

    async def load(self, src_ip: str, dst_ip: str, port: int, count: int,
                   concurrency: int = 16, node: str | None = None,
                   rate: float | None = None) -> dict:
        """Open `count` connections from src_ip to dst_ip:port from inside this actor (a load
        generator in a pod). Closed loop (rate None): `concurrency` at a time, latency from
        each start. Open loop (`rate` connections/s): connection i is due at t0 + i/rate
        whatever earlier ones do, at most `concurrency` in flight, latency from the due time
        (no coordinated omission); "late" counts starts >1 ms behind it, "started_in" is
        first to last start. Also latencies (s), wall "elapsed", failures, replies per node."""
        latencies: list[float] = []
        by_node: dict[str, int] = {}
        failed = late = 0

        async def one(due: float) -> None:
            nonlocal failed
            reply = await self.connect(src_ip, dst_ip, port, node=node)
            latencies.append(time.perf_counter() - due)
            if reply["ok"]:
                by_node[reply["node"]] = by_node.get(reply["node"], 0) + 1
            else:
                failed += 1

        began = last = time.perf_counter()
        if rate is None:
            todo = iter(range(count))

            async def worker() -> None:
                for _ in todo:
                    await one(time.perf_counter())
            await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
        else:
            slots = asyncio.Semaphore(max(1, concurrency))
            running: set[asyncio.Task] = set()

            async def paced(due: float) -> None:
                try:
                    await one(due)
                finally:
                    slots.release()
            for i in range(count):
                due = began + i / rate
                if (ahead := due - time.perf_counter()) > 0:
                    await asyncio.sleep(ahead)  # pacing: the schedule, not a synchronisation
                await slots.acquire()
                last = time.perf_counter()
                late += last - due > 0.001
                task = asyncio.get_running_loop().create_task(paced(due))
                running.add(task)
                task.add_done_callback(running.discard)
            await asyncio.gather(*running)
        return {"latencies": latencies, "elapsed": time.perf_counter() - began,
                "failed": failed, "by_node": by_node, "late": late,
                "started_in": last - began}

    async def wait_routable(self, dst_ip: str, port: int, timeout: float = 30.0) -> dict:
        """For each node of this actor, the first wall time (time.time()) at which its
        kube-proxy routes dst_ip:port to a backend (checked every 5 ms; nodes that did not
        within `timeout` are left out)."""
        networks = self._networks()
        reached: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while len(reached) < len(networks) and time.monotonic() < deadline:
            now = time.time()
            for name, network in networks.items():
                if name not in reached and network.routes(dst_ip, port):
                    reached[name] = now
            await asyncio.sleep(0.005)
        return reached

    async def _hop(self, dialed: Dialed, payload: str | None) -> Reply:
        networks = self._networks()
        if dialed.node in networks:  # a node of this pool
            return networks[dialed.node].accept(dialed.ip, dialed.port,
                                                service=dialed.service, payload=payload)
        pods = next(iter(networks.values())).pods
        name = pods.actors.get(dialed.node) or node_actor_name(dialed.node)
        request = msgpack.packb([dialed.ip, dialed.port, dialed.service, dialed.node, payload])
        try:
            return Reply.of(msgpack.unpackb(await self.tunnels.request(
                name, lambda: self._tunnel_address_of(name), request, timeout=HOP_TIMEOUT)))
        except TunnelDown as exc:  # no tunnel (yet): the slow road
            log.debug("tunnel to %s: %s", name, exc)
        except TimeoutError:
            raise ConnectionTimeout(f"connect {dialed.ip}:{dialed.port}: timed out") from None
        try:
            peer = ray.get_actor(name, namespace=self.ray_namespace)
        except ValueError as exc:  # no actor for that node (it died)
            raise ConnectionTimeout(f"no route to {dialed.ip}:{dialed.port}: {exc}") from None
        return Reply.of(await peer.accept.remote(dialed.ip, dialed.port, dialed.service,
                                                 dialed.node, payload))

    async def _tunnel_address_of(self, name: str) -> tuple[str, int]:
        peer = ray.get_actor(name, namespace=self.ray_namespace)
        host, port = await peer.tunnel_address.remote()
        return host, port

    def _tunneled(self, body: bytes) -> bytes:
        """A connection arriving through a tunnel: what `accept` answers, as msgpack."""
        ip, port, service, node, payload = msgpack.unpackb(body)
        try:
            reply = self._target(node, ip).accept(ip, port, service=service, payload=payload)
        except (ConnectionRefused, ConnectionTimeout) as exc:
            return msgpack.packb(failure(exc))
        return msgpack.packb({"ok": True, **reply.body()})

    def _networks(self) -> dict[str, Any]:
        if self.kind not in ("node", "node-pool") or self.component is None:
            raise ConnectionTimeout("this actor is not a running node")
        return self.component.networks

    def _source(self, node: str | None, src_ip: str) -> Any:
        networks = self._networks()
        if node is not None:
            if node not in networks:
                raise ConnectionTimeout(f"node {node} is not served by this actor")
            return networks[node]
        for network in networks.values():
            if network.address == src_ip:
                return network
        owner = next(iter(networks.values())).pods.node_of(src_ip)
        return networks.get(owner) or next(iter(networks.values()))

    def _target(self, node: str | None, ip: str) -> Any:
        networks = self._networks()
        if node in networks:
            return networks[node]
        owner = next(iter(networks.values())).pods.node_of(ip)
        if owner not in networks:
            raise ConnectionTimeout(f"no route to {ip}: not a pod of this actor's nodes")
        return networks[owner]

