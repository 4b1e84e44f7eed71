"""Placement: which Ray node (host) runs which of a cluster's actors.

The plan is pure (`plan`: hosts + counts -> assignment) so it is tested with plain lists, and
the Ray side only turns it into scheduling options:

- **Store replicas** go on distinct Ray nodes when there are enough: a placement group of one
  bundle per replica, STRICT_SPREAD when there are at least as many alive nodes as replicas,
  SPREAD when there are fewer (as few replicas share a node as Ray can manage), and no group at
  all on a single node (every actor there, as a one-host cluster always was). A bundle needs
  some resource, so each reserves one byte of `memory`; the replicas themselves take none.
  For a detached cluster the group is detached too (it would otherwise die with the driver
  and take the replicas with it); `remove_store_group` frees it at `down`.
- **Emulated nodes** (or node pools) are dealt round-robin over the Ray nodes in a stable
  order, each pinned there by a NodeAffinitySchedulingStrategy. The affinity is hard: Ray
  2.60 ignores a *soft* one for actors that reserve no resources (they land anywhere), and a
  hard one is also what a machine does: when a host dies its emulated nodes die with it for
  good (Ray cannot restart them elsewhere), go NotReady, and Kubernetes moves their pods.
- **The control plane** (API servers, DNS, schedulers, controller managers) runs on the Ray
  node of the process that ran `kubemu up`, like a kubeadm control-plane host: losing a
  worker host loses emulated nodes and store replicas, never the whole control plane.
- **--zone-per-host**: zone i (zones in sorted order) goes to Ray node i mod hosts, so losing a
  host loses exactly a zone, as in a real cloud. Node pools are then built per zone so that a
  pool never straddles two hosts.

Hosts are Ray nodes ordered by (address, node id), the head first when it has the lowest
address; the kubelet itself labels its Node with the Ray node it really runs on
(`kubemu.io/ray-node`, cluster/node/node_status.py), so the labels stay true by
construction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RayHost", "Plan", "plan", "store_strategy", "spread", "zone_hosts",
           "pools_by_zone", "pool_size", "SINGLE_ACTOR_NODES", "POOL_LIMIT", "alive_hosts", "store_group", "remove_store_group",
           "node_strategy", "store_group_name"]


@dataclass(frozen=True)
class RayHost:
    node_id: str  # hex Ray node id
    address: str = ""  # NodeManagerAddress
    hostname: str = ""


@dataclass(frozen=True)
class Plan:
    """Where things go: the store's placement strategy ("" when all on one node) and, per
    node actor (by its index in the list planned), the Ray node id it prefers."""
    store: str
    actors: list[str] = field(default_factory=list)


def plan(hosts: Sequence[str], *, store_replicas: int, actor_zones: Sequence[str],
         zone_per_host: bool = False) -> Plan:
    """The placement of `store_replicas` replicas and of node actors whose zones are
    `actor_zones` (one entry per actor: a node's zone, or the zone of a pool's nodes) over
    `hosts` (Ray node ids, in their stable order)."""
    if not hosts:
        raise ValueError("no Ray node to place the cluster on")
    if zone_per_host:
        by_zone = zone_hosts(actor_zones, hosts)
        actors = [by_zone[z] for z in actor_zones]
    else:
        actors = spread(len(actor_zones), hosts)
    return Plan(store=store_strategy(store_replicas, len(hosts)), actors=actors)


def store_strategy(replicas: int, hosts: int) -> str:
    """STRICT_SPREAD with a host per replica, SPREAD with fewer hosts, "" with one."""
    if hosts <= 1 or replicas <= 1:
        return ""
    return "STRICT_SPREAD" if hosts >= replicas else "SPREAD"


def spread(count: int, hosts: Sequence[str]) -> list[str]:
    """`count` items dealt round-robin over `hosts`."""
    return [hosts[i % len(hosts)] for i in range(count)]


def zone_hosts(zones: Sequence[str], hosts: Sequence[str]) -> dict[str, str]:
    """Zone i (in sorted order) -> hosts[i mod len(hosts)]."""
    return {zone: hosts[i % len(hosts)] for i, zone in enumerate(sorted(set(zones)))}


SINGLE_ACTOR_NODES = 20  # up to this many nodes: one actor each (kill one, lose one node)
POOL_LIMIT = 100  # nodes one pool actor hosts at most when sized automatically


def pool_size(nodes: int, hosts: int) -> int:
    """Nodes per actor when the user did not choose: one actor per node for small clusters
    (each node dies alone, as a machine does); beyond, pools -- an actor costs ~40 MiB, a
    pooled node a few -- at least two per host so both cores of a host work, and none over
    POOL_LIMIT nodes (one event loop renews every pooled node's Lease)."""
    if nodes <= SINGLE_ACTOR_NODES:
        return 1
    pools = min(nodes, max(2 * max(hosts, 1), -(-nodes // POOL_LIMIT)))
    return -(-nodes // pools)


def pools_by_zone(nodes: Sequence[dict], size: int) -> list[list[dict]]:
    """Node configs cut into pools of at most `size`, each pool within one zone (zones in
    sorted order, nodes in their order within a zone)."""
    zones: dict[str, list[dict]] = {}
    for node in nodes:
        zones.setdefault(node["zone"], []).append(node)
    return [members[i:i + size] for zone in sorted(zones)
            for members in (zones[zone],) for i in range(0, len(members), size)]


# ---- Ray ------------------------------------------------------------------------------------

def alive_hosts() -> list[RayHost]:
    """The alive Ray nodes of the connected cluster, in their stable order."""
    import ray

    found = [RayHost(node_id=n["NodeID"], address=n.get("NodeManagerAddress", ""),
                     hostname=n.get("NodeManagerHostname", ""))
             for n in ray.nodes() if n.get("Alive")]
    return sorted(found, key=lambda h: (_address_key(h.address), h.node_id))


def store_group_name(cluster: str) -> str:
    return f"kubemu-{cluster}-store"


async def store_group(cluster: str, *, replicas: int, strategy: str, detached: bool,
                      timeout: float = 60.0) -> list[dict]:
    """Create the store's placement group (`strategy`, one bundle per replica) and return
    each replica's actor options; [{}...] (no group) when `strategy` is ""."""
    if not strategy:
        return [{} for _ in range(replicas)]
    from ray.util.placement_group import placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    remove_store_group(cluster)  # a group a crashed run left behind
    group = placement_group([{"memory": 1} for _ in range(replicas)], strategy=strategy,
                            name=store_group_name(cluster),
                            lifetime="detached" if detached else None)
    try:
        await asyncio.wait_for(group.ready(), timeout)
    except asyncio.TimeoutError:
        remove_store_group(cluster)
        raise TimeoutError(f"the store's {strategy} placement group over {replicas} Ray "
                           f"nodes was not placed within {timeout:g}s") from None
    return [{"scheduling_strategy": PlacementGroupSchedulingStrategy(
        group, placement_group_bundle_index=i)} for i in range(replicas)]


def remove_store_group(cluster: str) -> None:
    """Free the store's placement group of `cluster`, if there is one."""
    from ray.util import get_placement_group, remove_placement_group

    try:
        group = get_placement_group(store_group_name(cluster))
    except ValueError:
        return
    remove_placement_group(group)


def node_strategy(node_id: str) -> Any:
    """Run on Ray node `node_id` (hard: see the module docstring)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)


def _address_key(address: str) -> tuple:
    parts = address.split(".")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        return (0, *map(int, parts))
    return (1, address)
