"""Component actors: the scheduler, the controller manager and each emulated node on Ray.

One actor class hosts any one component (`kind`: "scheduler", "controller-manager", "node",
or "node-pool": several nodes in one actor, for larger clusters):
it builds an `ApiClient` over HTTPS from its `ApiAccess`, the component from the sans-I/O
code in `cluster/` with `Timing.real(time_scale)`, and runs the component's `run()` as a task
for the actor's life. So the scheduler on Ray is the same object the simulation runs
in-process; only the transport and the clock differ. Actors take no CPU reservation
(`num_cpus=0`) so a 2-core machine holds the whole cluster. A node actor that stops (or is
killed) leaves its Node and pods exactly as they were: to the control plane it is a dead
node, which is the point.

The scheduler and the controller manager run leader-elected, as upstream's --leader-elect
default: each replica (`scheduler-1..N`, `controller-manager-1..N`) wraps its component in
`LeaderElected` over the Lease `kube-system/kube-scheduler` or
`kube-system/kube-controller-manager`, with the actor's name as its identity (Ray names are
unique, so no two live replicas share one). Only the holder runs the component; standbys wait
and take over once the leader's lease expires (a killed actor) or is released (a stopped one).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from typing import Any

import ray
from kubemu.actors.access import ApiAccess
from kubemu.actors.runtime import namespace
from kubemu.cluster.controllers.manager import ControllerManager
from kubemu.cluster.leaderelected import LeaderElected
from kubemu.cluster.node.config import NodeConfig
from kubemu.cluster.scheduler.scheduler import Scheduler
from kubemu.cluster.timing import Timing
from kubemu.network.fabric import ConnectionRefused, ConnectionTimeout, Reply, failure
from kubemu.network.listeners import HostListeners
from kubemu.network.node import Dialed, EmulatedNode, EmulatedNodePool

__all__ = ["ComponentActor", "start_component", "stop_components", "node_actor_name",
           "LEASES"]

# The Lease each leader-elected kind holds in kube-system (upstream's lock names).
LEASES = {"scheduler": "kube-scheduler", "controller-manager": "kube-controller-manager"}

log = logging.getLogger(__name__)


def node_actor_name(node: str) -> str:
    return f"kubelet-{node}"


@ray.remote(num_cpus=0, max_restarts=0, max_concurrency=1000)
class ComponentActor:
    def __init__(self, *, kind: str, access: ApiAccess, time_scale: float = 1.0,
                 options: dict | None = None, seed: int | None = None,
                 ray_namespace: str | None = None) -> None:
        self.kind = kind
        self.ray_namespace = ray_namespace  # the cluster's: where the other nodes are
        self.access = access
        self.timing = Timing.real(time_scale)
        self.options = dict(options or {})
        self.rng = random.Random(seed)
        self.component: Any = None
        self.client: Any = None
        self.task: asyncio.Task | None = None
        self.listeners_task: asyncio.Task | None = None

    async def start(self) -> dict:
        if self.component is None:
            self.client = client = self.access.client(user_agent=f"kubemu-{self.kind}")
            self.component = self._build(client)
            self.task = asyncio.get_running_loop().create_task(self.component.run())
            if self.kind in ("node", "node-pool"):
                self.listeners_task = asyncio.get_running_loop().create_task(
                    self._host_listeners())
        return {"kind": self.kind, "pid": os.getpid(), "host": socket.gethostname()}

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
                    if rules.version == seen.get(name):
                        continue
                    seen[name] = rules.version
                    await node_ports[name].sync(rules.node_ports())
                    if name != first:
                        continue
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

    async def ping(self) -> dict:
        running = self.task is not None and not self.task.done()
        answer = {"kind": self.kind, "running": running, "pid": os.getpid()}
        if isinstance(self.component, LeaderElected):
            answer["leading"] = self.component.leading
        return answer

    async def logs(self, namespace_: str, name: str, container: str,
                   previous: bool = False) -> list[str]:
        if self.kind not in ("node", "node-pool") or self.component is None:
            raise ValueError("only a node actor keeps container logs")
        return self.component.logs(namespace_, name, container, previous=previous)

    async def stop(self) -> None:
        if self.component is not None:
            try:
                async with asyncio.timeout(10):
                    await self.component.stop()
            except (TimeoutError, Exception) as exc:  # stopping must not fail
                log.warning("%s stop: %s", self.kind, exc)
        tasks = [t for t in (self.listeners_task, self.task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.client is not None:
            await self.client.close()
        self.component = self.task = self.client = self.listeners_task = None

    def _build(self, client: Any) -> Any:
        if self.kind in LEASES:
            identity = self.options.get("identity") or f"{self.kind}-{os.getpid()}"
            return LeaderElected(client, self.timing, lambda: self._build_elected(client),
                                 lease=LEASES[self.kind], identity=identity,
                                 rng=random.Random(self.rng.random()))
        if self.kind == "node":
            config = NodeConfig(**self.options["node"])
            if not config.ray_node:
                config = _with_ray_node(config)
            return EmulatedNode(client, self.timing, config, rng=self.rng)
        if self.kind == "node-pool":
            configs = [_with_ray_node(NodeConfig(**cfg)) for cfg in self.options["nodes"]]
            return EmulatedNodePool(client, self.timing, configs, rng=self.rng)
        raise ValueError(f"unknown component kind {self.kind!r}")

    # ---- the overlay: connections between node actors ---------------------------------------

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
                   concurrency: int = 16, node: str | None = None) -> dict:
        """Open `count` connections from src_ip to dst_ip:port, `concurrency` at a time, from
        inside this actor (a load generator in a pod): latencies in seconds, the wall time
        it took, failures, and replies per serving node."""
        latencies: list[float] = []
        by_node: dict[str, int] = {}
        failed = 0
        todo = iter(range(count))

        async def worker() -> None:
            nonlocal failed
            for _ in todo:
                began = time.perf_counter()
                reply = await self.connect(src_ip, dst_ip, port, node=node)
                latencies.append(time.perf_counter() - began)
                if reply["ok"]:
                    by_node[reply["node"]] = by_node.get(reply["node"], 0) + 1
                else:
                    failed += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
        return {"latencies": latencies, "elapsed": time.perf_counter() - began,
                "failed": failed, "by_node": by_node}

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
        try:
            peer = ray.get_actor(pods.actors.get(dialed.node) or node_actor_name(dialed.node),
                                 namespace=self.ray_namespace)
        except ValueError as exc:  # no actor for that node (it died)
            raise ConnectionTimeout(f"no route to {dialed.ip}:{dialed.port}: {exc}") from None
        return Reply.of(await peer.accept.remote(dialed.ip, dialed.port, dialed.service,
                                                 dialed.node, payload))

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

    def _build_elected(self, client: Any) -> Any:
        """A fresh scheduler or controller manager for one term of leadership."""
        if self.kind == "scheduler":
            return Scheduler(client, self.timing, rng=random.Random(self.rng.random()))
        return ControllerManager(client, self.timing, rng=random.Random(self.rng.random()),
                                 ca_cert=self.access.ca_pem.decode())


async def start_component(*, cluster: str, kind: str, name: str, access: ApiAccess,
                          time_scale: float, options: dict | None = None,
                          seed: int | None = None) -> Any:
    """Start one component actor named `name` in the cluster's Ray namespace."""
    handle = ComponentActor.options(name=name, namespace=namespace(cluster)).remote(
        kind=kind, access=access, time_scale=time_scale, options=options, seed=seed,
        ray_namespace=namespace(cluster))
    await handle.start.remote()
    return handle


async def stop_components(handles: list[Any]) -> None:
    async def one(h: Any) -> None:
        try:
            await asyncio.wait_for(h.stop.remote(), 15)
        except Exception as exc:  # already dead
            log.debug("component stop: %s", exc)
        ray.kill(h, no_restart=True)

    await asyncio.gather(*(one(h) for h in handles))


def _with_ray_node(config: NodeConfig) -> NodeConfig:
    import dataclasses
    context = ray.get_runtime_context()
    return dataclasses.replace(config, ray_node=context.get_node_id()[:16],
                               host=socket.gethostname(),
                               actor=config.actor or context.get_actor_name() or "")
