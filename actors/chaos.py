"""Chaos: kill a cluster's actors and hosts, and fault its links, from any process on its Ray.

`Chaos(cluster, client)` works from any process connected to the cluster's Ray (`net.join_ray`
connects one); actors are found by name in the cluster's Ray namespace. Decisions:
- `kill(component)`: "store" | "apiserver" | "scheduler" | "controller-manager" | "dns" (one
  replica, picked by the seeded `rng`) or an actor name ("store-2", "kubelet-node-3",
  "node-pool-1"). `leader=True` picks the leader: the store replica reporting state leader
  with the highest term; for the scheduler and the controller manager the holder of their
  Lease in kube-system (its identity is the actor's name). `restart=True` SIGKILLs the
  actor's process (its pid and Ray node asked through `__ray_call__`; the signal sent from
  here on this host, from a task pinned to its Ray node elsewhere) so Ray restarts it as
  after a crash; `restart=False` is `ray.kill(no_restart=True)`: gone for good.
- `kill_node(name)`: the node's actor (Node annotation kubemu.io/actor). A pooled node is
  refused with the pool's name: killing it kills every node of the pool (`kill <pool>`).
- `kill_host(ray_node_id)`: a task pinned to that Ray node SIGKILLs its parent, the raylet;
  every actor there dies with it. The driver's own node (the head here) is refused.
- Link faults go to every node actor's `LinkFaults` (as `net.Overlay` does) with the
  pseudo-zone "control-plane" (`chaos_transport.CONTROL_PLANE`): `isolate(zone)` is the
  partition zone|* and so also cuts the zone's kubelets off the API server (their nodes go
  NotReady); `partition(zones=(a, b))` keeps both sides on the control plane; name
  "control-plane" to cut only that. Each faulted actor gets its API client guarded
  (`chaos_transport.install_guard`) unless it already is.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
from dataclasses import dataclass
from typing import Any

import ray
from kubemu.actors.chaos_transport import CONTROL_PLANE, install_guard
from kubemu.actors.runtime import namespace as ray_namespace
from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.node.node_status import ACTOR_ANNOTATION

__all__ = ["COMPONENTS", "Chaos", "ChaosError", "Killed"]

# component -> pattern of its replicas' Ray actor names
COMPONENTS = {"store": r"store-\d+", "apiserver": r"apiserver-\d+",
              "scheduler": r"scheduler-\d+", "controller-manager": r"controller-manager-\d+",
              "dns": r"dns"}
LEASES = {"scheduler": "kube-scheduler", "controller-manager": "kube-controller-manager"}
ZONE_LABEL = "topology.kubernetes.io/zone"
CALL_TIMEOUT = 10.0


class ChaosError(Exception):
    """A fault that cannot be injected, worded as the one line a user sees."""


@dataclass(frozen=True)
class Killed:
    actor: str  # Ray actor name
    component: str  # "store", "scheduler", ..., "node", or the name given
    pid: int | None  # the process SIGKILLed (None after ray.kill)
    restart: bool  # Ray restarts it (max_restarts permitting)
    leader: bool  # it was the leader when killed


class Chaos:
    def __init__(self, cluster: str, client: Any, *, rng: random.Random | None = None) -> None:
        self.cluster = cluster
        self.client = client
        self.namespace = ray_namespace(cluster)
        self.rng = rng or random.Random(0)

    # ---- killing ---------------------------------------------------------------------------

    def actors(self) -> list[str]:
        """Names of the cluster's live (or restarting) actors."""
        return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                      if a.get("namespace") == self.namespace)

    async def kill(self, component: str, *, leader: bool = False,
                   restart: bool = True) -> Killed:
        """Kill one replica of `component` (or the actor so named); see the module doc."""
        names = self.actors()
        if component in COMPONENTS:
            replicas = [n for n in names if re.fullmatch(COMPONENTS[component], n)]
            if not replicas:
                raise ChaosError(f"no {component} actor runs in Ray namespace {self.namespace}")
            target = (await self.leader(component) if leader
                      else self.rng.choice(sorted(replicas)))
        else:
            if component not in names:
                raise ChaosError(f"no actor named {component!r} in Ray namespace "
                                 f"{self.namespace} (components: {', '.join(COMPONENTS)}; "
                                 f"actors: {', '.join(names) or 'none'})")
            kind = next((c for c, p in COMPONENTS.items() if re.fullmatch(p, component)), "")
            if leader and (kind not in ("store", *LEASES)
                           or await self.leader(kind) != component):
                raise ChaosError(f"{component} is not the leader")
            target = component
        return await self._kill_actor(target, component=component, restart=restart,
                                      leader=leader)

    async def leader(self, component: str) -> str:
        """The actor name of `component`'s current leader."""
        if component == "store":
            return await self._store_leader()
        if component in LEASES:
            try:
                lease = await self.client.get("coordination.k8s.io/v1", "Lease",
                                              LEASES[component], namespace="kube-system")
            except NotFound:
                raise ChaosError(f"no Lease kube-system/{LEASES[component]}: "
                                 f"no {component} has led yet") from None
            holder = (lease.get("spec") or {}).get("holderIdentity") or ""
            # a restarted replica holds it as "<actor>_<random>" (a new candidate)
            holder = holder.split("_", 1)[0]
            if holder not in self.actors():
                raise ChaosError(f"the {component} Lease is held by {holder or 'nobody'}, "
                                 f"which is not a live actor")
            return holder
        raise ChaosError(f"{component} has no leader: every replica serves (drop --leader)")

    async def kill_node(self, name: str, *, restart: bool = False) -> Killed:
        """Kill node `name`'s actor (for good unless `restart`)."""
        try:
            node = await self.client.get("v1", "Node", name)
        except NotFound:
            raise ChaosError(f'nodes "{name}" not found') from None
        actor = _annotations(node).get(ACTOR_ANNOTATION)
        if not actor:
            raise ChaosError(f"node {name} names no actor (annotation {ACTOR_ANNOTATION})")
        nodes = (await self.client.list("v1", "Node")).get("items") or []
        sharing = sorted(n["metadata"]["name"] for n in nodes
                         if _annotations(n).get(ACTOR_ANNOTATION) == actor)
        if len(sharing) > 1:
            raise ChaosError(f"node {name} runs in pool actor {actor} with "
                             f"{', '.join(s for s in sharing if s != name)}: killing it kills "
                             f"the whole pool; to do that, kill {actor}")
        return await self._kill_actor(actor, component="node", restart=restart, leader=False)

    async def kill_host(self, ray_node_id: str) -> str:
        """SIGKILL the raylet of Ray node `ray_node_id` (a unique prefix will do); its id."""
        alive = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
        matches = [n for n in alive if n.startswith(ray_node_id)]
        if len(matches) != 1:
            raise ChaosError(f"{'no' if not matches else 'more than one'} live Ray node "
                             f"matches {ray_node_id!r} (live: "
                             f"{', '.join(n[:16] for n in alive)})")
        target = matches[0]
        if target == ray.get_runtime_context().get_node_id():
            raise ChaosError(f"Ray node {target[:16]} is this driver's own node (the head "
                             f"here): killing its raylet would end this session; pick a "
                             f"worker node")
        _kill_raylet.options(scheduling_strategy=_on_node(target)).remote(target)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while any(n["NodeID"] == target and n.get("Alive") for n in ray.nodes()):
            if loop.time() > deadline:
                raise ChaosError(f"Ray node {target[:16]} still alive 60 s after its raylet "
                                 f"was signalled")
            await asyncio.sleep(0.2)  # polling Ray's node table: it has no event for this
        return target

    # ---- link faults -----------------------------------------------------------------------

    async def partition(self, *, zones: tuple[str, str] | None = None,
                        nodes: tuple[str, str] | None = None) -> None:
        """Cut the links between two zones or two nodes ("*": every other; "control-plane":
        the API server)."""
        await self._fault("partition", 0.0, zones=zones, nodes=nodes)

    async def isolate(self, zone: str | None = None, *, node: str | None = None) -> None:
        """Cut a zone (or node) from everything, the control plane included."""
        await self._fault("partition", 0.0, zones=(zone, "*") if zone else None,
                          nodes=(node, "*") if node else None)

    async def latency(self, seconds: float, *, zone: str | None = None,
                      zones: tuple[str, str] | None = None, node: str | None = None,
                      nodes: tuple[str, str] | None = None) -> None:
        """Add `seconds` of one-way delay (control-plane requests included with zone|*)."""
        if seconds < 0:
            raise ChaosError("latency must not be negative")
        await self._fault("latency", seconds, zones=zones or ((zone, "*") if zone else None),
                          nodes=nodes or ((node, "*") if node else None))

    async def loss(self, fraction: float, *, zone: str | None = None,
                   zones: tuple[str, str] | None = None, node: str | None = None,
                   nodes: tuple[str, str] | None = None) -> None:
        """Drop `fraction` (0..1) of connections (and control-plane requests with zone|*)."""
        if not 0 <= fraction <= 1:
            raise ChaosError("loss is a fraction between 0 and 1")
        await self._fault("loss", fraction, zones=zones or ((zone, "*") if zone else None),
                          nodes=nodes or ((node, "*") if node else None))

    async def heal(self) -> None:
        """Clear every link fault on every node actor."""
        await self._broadcast("heal", "", "", 0.0, "zone", await self._nodes())

    # ---- helpers ---------------------------------------------------------------------------

    async def _kill_actor(self, name: str, *, component: str, restart: bool,
                          leader: bool) -> Killed:
        try:
            handle = ray.get_actor(name, namespace=self.namespace)
        except ValueError:
            raise ChaosError(f"actor {name} is not running in {self.namespace}") from None
        if not restart:
            ray.kill(handle, no_restart=True)
            return Killed(name, component, None, False, leader)
        try:
            pid, node_id = await asyncio.wait_for(
                asyncio.wrap_future(handle.__ray_call__.remote(_whereabouts).future()),
                CALL_TIMEOUT)
        except (TimeoutError, ray.exceptions.RayActorError) as exc:
            raise ChaosError(f"actor {name} did not answer: {str(exc).splitlines()[0]}"
                             ) from None
        if node_id == ray.get_runtime_context().get_node_id():
            os.kill(pid, signal.SIGKILL)
        else:
            await asyncio.wrap_future(_kill_pid.options(
                scheduling_strategy=_on_node(node_id)).remote(pid).future())
        return Killed(name, component, pid, True, leader)

    async def _store_leader(self) -> str:
        names = [n for n in self.actors() if re.fullmatch(COMPONENTS["store"], n)]
        handles = {n: ray.get_actor(n, namespace=self.namespace) for n in names}
        futures = {n: asyncio.wrap_future(h.status.remote().future()) for n, h in handles.items()}
        await asyncio.wait(futures.values(), timeout=2.0)
        statuses = {n: f.result() for n, f in futures.items()
                    if f.done() and not f.cancelled() and f.exception() is None}
        for f in futures.values():
            f.cancel()
        leaders = [(s["term"], n) for n, s in statuses.items() if s.get("state") == "leader"]
        if not leaders:
            raise ChaosError(f"no store replica is leader now (answers: "
                             f"{ {n: s.get('state') for n, s in statuses.items()} })")
        return max(leaders)[1]

    async def _nodes(self) -> list[dict]:
        items = (await self.client.list("v1", "Node")).get("items") or []
        return sorted(items, key=lambda n: n["metadata"]["name"])

    async def _fault(self, op: str, value: float, *, zones: tuple[str, str] | None,
                     nodes: tuple[str, str] | None) -> None:
        if (zones is None) == (nodes is None):
            raise ChaosError("name zones or nodes (exactly one of them)")
        pair = tuple(zones or nodes or ())
        if len(pair) != 2:
            raise ChaosError(f"two names, not {len(pair)}: {pair}")
        items = await self._nodes()
        if zones is not None:
            known = {(n["metadata"].get("labels") or {}).get(ZONE_LABEL, "") for n in items}
            a, b = (_known(z, known | {CONTROL_PLANE}, "zone", prefix="zone-") for z in pair)
            await self._broadcast(op, a, b, value, "zone", items)
        else:
            known = {n["metadata"]["name"] for n in items}
            a, b = (_known(n, known, "node") for n in pair)
            await self._broadcast(op, a, b, value, "node", items)

    async def _broadcast(self, op: str, a: str, b: str, value: float, scope: str,
                         items: list[dict]) -> None:
        """Guard and fault every node actor once; a dead actor carries nothing: skipped."""
        actors = sorted({a_ for n in items if (a_ := _annotations(n).get(ACTOR_ANNOTATION))})

        async def one(name: str) -> None:
            try:
                handle = ray.get_actor(name, namespace=self.namespace)
            except ValueError:
                return
            try:
                if op != "heal":
                    await handle.__ray_call__.remote(install_guard)
                await handle.links.remote(op, a, b, value, scope)
            except ray.exceptions.RayActorError:
                return

        await asyncio.gather(*(one(name) for name in actors))


def _whereabouts(actor: Any) -> tuple[int, str]:
    """Run inside an actor: (its pid, its Ray node id)."""
    return os.getpid(), ray.get_runtime_context().get_node_id()


@ray.remote(num_cpus=0, max_retries=0)
def _kill_pid(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


@ray.remote(num_cpus=0, max_retries=0)
def _kill_raylet(node_id: str) -> None:
    """Run on the doomed node: SIGKILL the raylet that started this worker."""
    import psutil  # Ray ships psutil

    raylet = psutil.Process(os.getppid())
    if not any(arg == f"--node_id={node_id}" for arg in raylet.cmdline()):
        raise RuntimeError(f"the parent of this worker is not node {node_id[:16]}'s raylet")
    raylet.send_signal(signal.SIGKILL)


def _on_node(node_id: str) -> Any:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)


def _annotations(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _known(name: str, known: set[str], what: str, *, prefix: str = "") -> str:
    if name == "*" or name in known:
        return name
    if prefix and f"{prefix}{name}" in known:
        return f"{prefix}{name}"
    raise ChaosError(f"no {what} named {name!r} (known: {', '.join(sorted(known)) or 'none'})")
