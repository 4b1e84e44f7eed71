"""Component actors: the scheduler, the controller manager and each emulated node on Ray.

One actor class hosts any one component (`kind`: "scheduler", "controller-manager", "node",
or "node-pool": several nodes in one actor, for larger clusters):
it builds an `ApiClient` over HTTPS from its `ApiAccess`, the component from the sans-I/O
code in `cluster/` with `Timing.real(time_scale)`, and runs the component's `run()` as a task
for the actor's life. So the scheduler on Ray is the same object the simulation runs
in-process; only the transport and the clock differ. Actors take no CPU reservation
(`num_cpus=0`) so a 2-core machine holds the whole cluster. A node actor stopped (or killed for
good) leaves its Node and pods exactly as they were: to the control plane it is a dead
node, which is the point.

The scheduler and the controller manager run leader-elected, as upstream's --leader-elect
default: each replica (`scheduler-1..N`, `controller-manager-1..N`) wraps its component in
`LeaderElected` over the Lease `kube-system/kube-scheduler` or
`kube-system/kube-controller-manager`, with the actor's name as its identity (Ray names are
unique, so no two live replicas share one). Only the holder runs the component; standbys wait
and take over once the leader's lease expires (a killed actor) or is released (a stopped one).

Recovery: actors have `max_restarts=-1`, so Ray re-creates a killed actor (kill -9, a crash)
with its constructor arguments. Ray (2.60) runs an async actor's `__init__` on the actor's
event loop, so the constructor schedules the start itself and a restarted actor serves again
with no call from anyone; `start()` only waits for it (and starts it where `__init__` had no
loop; a failed start ends the process, and Ray tries again). The component resumes from the
API. A restarted scheduler or controller manager relists and rejoins the election as a new
candidate (its identity gets a random suffix, as upstream's hostname_<uuid> is new per
process): the dead incarnation's lease must expire first, and a standby, which has watched
it longer, takes over; without one the restarted replica does, a lease duration later. A
restarted node's kubelet adopts its Node, Lease and Running pods (same IPs and containers:
cluster/node/adoption.py), its NodePort/LB listeners bind again and its tunnel listens on a
new port, which peers learn through `tunnel_address` once their stream to the dead
incarnation breaks. `stop_components` (`kubemu down`) and chaos `--no-restart` end an actor
for good with `ray.kill(no_restart=True)`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from typing import Any

import ray
from kubemu.actors import heap
from kubemu.actors.access import ApiAccess
from kubemu.actors.chaos_transport import guard_node_client
from kubemu.actors.overlay import NodeOverlay, node_actor_name
from kubemu.actors.runtime import SelfStart, namespace
from kubemu.actors.tunnel import Tunnels
from kubemu.cluster.controllers.manager import ControllerManager
from kubemu.cluster.leaderelected import LeaderElected
from kubemu.cluster.node.config import NodeConfig
from kubemu.cluster.scheduler.scheduler import Scheduler
from kubemu.cluster.timing import Timing
from kubemu.network.node import EmulatedNode, EmulatedNodePool

__all__ = ["ComponentActor", "start_component", "stop_components", "node_actor_name",
           "LEASES"]

# The Lease each leader-elected kind holds in kube-system (upstream's lock names).
LEASES = {"scheduler": "kube-scheduler", "controller-manager": "kube-controller-manager"}

log = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=1000)
class ComponentActor(NodeOverlay):
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
        self.tunnels = Tunnels(self._tunneled)  # the overlay hop to other node actors
        self._starting = SelfStart(self._start, started=lambda: self.component is not None)

    def heap_top(self, limit: int = 30) -> list[str]:
        """Where this process's memory was allocated (`heap.top_allocations`; tracing on)."""
        return heap.top_allocations(limit)

    async def start(self) -> dict:
        """Wait until the component runs (it starts by itself: see the module docstring)."""
        await self._starting.wait()
        return {"kind": self.kind, "pid": os.getpid(), "host": socket.gethostname()}

    async def _start(self) -> None:
        if self.component is not None:
            return
        self.client = client = self.access.client(user_agent=f"kubemu-{self.kind}")
        if self.kind in ("node", "node-pool"):  # chaos can cut a zone off the API server
            guard_node_client(client, self)
        self.component = self._build(client)
        self.task = asyncio.get_running_loop().create_task(self.component.run())
        if self.kind in ("node", "node-pool"):
            await self.tunnel_address()
            self.listeners_task = asyncio.get_running_loop().create_task(
                self._host_listeners())

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
        await self._starting.settle()
        if self.component is not None:
            try:
                async with asyncio.timeout(10):
                    await self.component.stop()
            except (TimeoutError, Exception) as exc:  # stopping must not fail
                log.warning("%s stop: %s", self.kind, exc)
        await self.tunnels.close()
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
            if _restarted():  # a new candidate, as upstream's hostname_<uuid> per process
                identity = f"{identity}_{os.urandom(4).hex()}"
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

    def _build_elected(self, client: Any) -> Any:
        """A fresh scheduler or controller manager for one term of leadership."""
        if self.kind == "scheduler":
            return Scheduler(client, self.timing, rng=random.Random(self.rng.random()))
        return ControllerManager(client, self.timing, rng=random.Random(self.rng.random()),
                                 ca_cert=self.access.ca_pem.decode(),
                                 **({"cluster_cidr": self.options["cluster_cidr"]}
                                    if self.options.get("cluster_cidr") else {}))


async def start_component(*, cluster: str, kind: str, name: str, access: ApiAccess,
                          time_scale: float, options: dict | None = None,
                          seed: int | None = None, scheduling_strategy: Any = None) -> Any:
    """Start one component actor named `name` in the cluster's Ray namespace (on the Ray
    node `scheduling_strategy` picks, when given: actors/placement.py)."""
    placed = {"scheduling_strategy": scheduling_strategy} if scheduling_strategy else {}
    handle = ComponentActor.options(name=name, namespace=namespace(cluster), **placed).remote(
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


def _restarted() -> bool:
    """Whether this actor is an incarnation Ray restarted (after a crash or a kill)."""
    try:
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)
    except Exception:  # noqa: BLE001 - not inside an actor
        return False


def _with_ray_node(config: NodeConfig) -> NodeConfig:
    import dataclasses
    context = ray.get_runtime_context()
    return dataclasses.replace(config, ray_node=context.get_node_id()[:16],
                               host=socket.gethostname(),
                               actor=config.actor or context.get_actor_name() or "")

