"""Bootstrap, second half: the control plane and the emulated nodes of a starting cluster.

`start_control_plane` creates the addons (the kube-dns Service), the controller managers and
the schedulers (`controller-manager-1..N`, `scheduler-1..N`, leader-elected under their actor
names), then the nodes: one actor each (`kubelet-<node>`), or pools of `nodes_per_actor`
(`node-pool-1..`), each placed on the Ray node actors/placement.py plans (round-robin, or by
zone with `zone_per_host`). It waits until every node has registered; `wait_nodes_ready`
waits, with a deadline and without failing, until they post Ready. Both report their count
through `progress(step, done, total)`, which is how `kubemu up` draws its progress.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kubemu.actors import placement
from kubemu.actors.access import ApiAccess
from kubemu.actors.addons import ensure_addons
from kubemu.actors.components import node_actor_name, start_component
from kubemu.cluster.controllers.nodeipam import cluster_cidr_for

__all__ = ["Progress", "start_control_plane", "wait_nodes_ready", "node_ready", "no_progress"]

Progress = Callable[[str, int, int], None]  # (step, done, total)


def no_progress(step: str, done: int, total: int) -> None:
    """The default `progress`: report nothing."""


async def start_control_plane(*, cluster: str, access: ApiAccess, time_scale: float,
                              nodes: list[dict], hosts: list[str], nodes_per_actor: int = 1,
                              schedulers: int = 1, controller_managers: int = 1,
                              zone_per_host: bool = False, timeout: float = 90.0,
                              control_host: str | None = None,
                              progress: Progress = no_progress) -> list[Any]:
    """Start the controller managers, schedulers and node actors of `cluster` (nodes over the
    Ray node ids `hosts`); return every handle started, once each node has registered. A
    component that fails to start raises its error after the others have started (their
    handles are attached to the error as `.handles`, for the caller to stop). The schedulers
    and controller managers run on the Ray node `control_host` (with the API servers, as on a
    kubeadm control-plane host), so losing a worker host loses nodes, never the control plane."""
    client = access.client(user_agent="kubemu-bootstrap")
    try:
        await ensure_addons(client)
    finally:
        await client.close()
    progress("control plane", 0, schedulers + controller_managers)
    pinned = placement.node_strategy(control_host) if control_host and len(hosts) > 1 else None
    starts = [start_component(cluster=cluster, kind=kind, name=f"{kind}-{i}",
                              access=access, time_scale=time_scale,
                              options={"identity": f"{kind}-{i}",
                                       "cluster_cidr": cluster_cidr_for(len(nodes))},
                              seed=1000 * i + offset,
                              scheduling_strategy=pinned)
              for kind, count, offset in (("controller-manager", controller_managers, 1),
                                          ("scheduler", schedulers, 2))
              for i in range(1, count + 1)]
    if nodes_per_actor == 1:
        units = [[cfg] for cfg in nodes]
    elif zone_per_host:
        units = placement.pools_by_zone(nodes, nodes_per_actor)
    else:
        units = [nodes[i:i + nodes_per_actor] for i in range(0, len(nodes), nodes_per_actor)]
    where = placement.plan(hosts, store_replicas=1, actor_zones=[u[0]["zone"] for u in units],
                           zone_per_host=zone_per_host).actors
    strategies = [placement.node_strategy(h) if len(hosts) > 1 else None for h in where]
    for i, (unit, strategy) in enumerate(zip(units, strategies)):
        if nodes_per_actor == 1:
            starts.append(start_component(
                cluster=cluster, kind="node", name=node_actor_name(unit[0]["name"]),
                access=access, time_scale=time_scale, options={"node": unit[0]}, seed=i,
                scheduling_strategy=strategy))
        else:
            starts.append(start_component(
                cluster=cluster, kind="node-pool", name=f"node-pool-{i + 1}", access=access,
                time_scale=time_scale, options={"nodes": unit}, seed=i,
                scheduling_strategy=strategy))
    results = await asyncio.gather(*starts, return_exceptions=True)
    handles = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        failed[0].handles = handles  # type: ignore[attr-defined]
        raise failed[0]
    progress("control plane", schedulers + controller_managers,
             schedulers + controller_managers)
    if nodes:
        try:
            await _wait_nodes(access, len(nodes), ready=False, timeout=timeout,
                              progress=progress)
        except BaseException as exc:
            exc.handles = handles  # type: ignore[attr-defined]
            raise
    return handles


async def wait_nodes_ready(access: ApiAccess, count: int, *, timeout: float = 90.0,
                           progress: Progress = no_progress) -> int:
    """Wait (at most `timeout` seconds) until `count` nodes are Ready; how many are."""
    return await _wait_nodes(access, count, ready=True, timeout=timeout, progress=progress)


def node_ready(node: dict) -> bool:
    """Whether a Node's Ready condition is True."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or ())


async def _wait_nodes(access: ApiAccess, count: int, *, ready: bool, timeout: float,
                      progress: Progress) -> int:
    """Poll the Nodes until `count` are registered (or Ready); TimeoutError for registered,
    the count reached for Ready."""
    step = "nodes Ready" if ready else "nodes registered"
    client = access.client(user_agent="kubemu-bootstrap")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    done, trouble = 0, ""
    try:
        while True:
            try:  # a busy API server (a thousand nodes registering) may answer slowly
                items = (await client.list("v1", "Node")).get("items") or []
            except Exception as exc:  # noqa: BLE001 - poll again until the deadline
                trouble = f" (last error: {type(exc).__name__}: {exc})".replace(": )", ")")
            else:
                done = sum(map(node_ready, items)) if ready else len(items)
                progress(step, min(done, count), count)
                if done >= count:
                    return done
            if loop.time() > deadline:
                if ready:
                    return done
                raise TimeoutError(f"only {done} of {count} nodes registered within "
                                   f"{timeout:.0f}s{trouble}")
            await asyncio.sleep(0.2)
    finally:
        await client.close()
