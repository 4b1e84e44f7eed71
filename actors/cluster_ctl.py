"""Cluster control: what `kubemu status` and `kubemu down` do to a cluster another process
started, found through its `cluster.json` (actors/bootstrap.py says what that holds).

Both join the cluster's Ray the way `kubemu chaos` and `kubemu net` do (`net.join_ray` with the
record's pid: the foreground `kubemu up` or a detached cluster's Ray head, whose raylet child
names the GCS address; `join` first adopts the raylet's auth mode, which Ray caches), and know the cluster's actors by their names in its namespace
(`kubemu-<name>`): `store-N`, `apiserver-N`, `dns`, `controller-manager-N`, `scheduler-N`,
`kubelet-<node>`, `node-pool-N`. The names `up` started are in the record (`actors`), so an
actor that is gone for good shows as DEAD rather than vanishing from the table.

`actor_states` reads each actor's state from Ray's GCS (ALIVE, RESTARTING, PENDING_CREATION,
DEAD), its restart count and the Ray node it runs on. `stop_detached` rebuilds the handles of
a detached cluster and runs `bootstrap.down` on them, which also stops the Ray head kubemu
started for it; a foreground cluster is stopped by signalling its process instead (cli_up.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import ray
from kubemu.actors.runtime import namespace

__all__ = ["KINDS", "join", "kind_of", "cluster_actor_names", "actor_states", "stop_detached",
           "purge"]

# name prefix -> kind, in the order status lists them
KINDS = (("store-", "store"), ("apiserver-", "apiserver"), ("dns", "dns"),
         ("controller-manager-", "controller-manager"), ("scheduler-", "scheduler"),
         ("kubelet-", "node"), ("node-pool-", "node-pool"))


def kind_of(actor: str) -> str:
    """The component kind of an actor of a cluster, by its name."""
    return next((kind for prefix, kind in KINDS if actor.startswith(prefix)), "other")


def join(record: dict) -> bool:
    """Join the Ray of the cluster of `record` (`net.join_ray`; True: this call connected)."""
    from kubemu.actors.net import join_ray

    pid = int(record.get("pid") or 0)
    return join_ray(record["name"], pid=pid)


def cluster_actor_names(cluster: str) -> list[str]:
    """The named actors (alive or restarting) in `cluster`'s Ray namespace, by kind."""
    ns = namespace(cluster)
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
             if a.get("namespace") == ns]
    return _ordered(names)


def actor_states(cluster: str, expected: list[str] | None = None) -> list[dict]:
    """[{name, kind, state, restarts, node, address}] for each actor of `cluster` (and each
    `expected` name, DEAD when Ray no longer knows it)."""
    from ray._private import (
        state as ray_state,  # the GCS actor table (no dashboard needed)
    )

    ns = namespace(cluster)
    hosts = {n["NodeID"]: n.get("NodeManagerAddress", "") for n in ray.nodes()}
    out = []
    for name in _ordered(set(cluster_actor_names(cluster)) | set(expected or ())):
        row = {"name": name, "kind": kind_of(name), "state": "DEAD", "restarts": 0,
               "node": "", "address": ""}
        try:
            handle = ray.get_actor(name, namespace=ns)
            info = ray_state.actors(actor_id=handle._actor_id.hex()) or {}
        except ValueError:
            info = {}
        if info:
            node = (info.get("Address") or {}).get("NodeID") or ""
            row.update(state=str(info.get("State", "UNKNOWN")),
                       restarts=int(info.get("NumRestarts") or 0), node=node[:16],
                       address=hosts.get(node, ""))
        out.append(row)
    return out


async def stop_detached(record: dict, *, home: Any = None) -> None:
    """Stop the detached cluster of `record` (this process is connected to its Ray): every
    actor, the store's placement group, the files, and the Ray head kubemu started."""
    from kubemu.actors import bootstrap

    name = record["name"]
    ns = namespace(name)
    handles: dict[str, list] = {"store": [], "apiserver": [], "dns": [], "rest": []}
    for actor in cluster_actor_names(name):
        try:
            handle = ray.get_actor(actor, namespace=ns)
        except ValueError:
            continue
        kind = kind_of(actor)
        handles[kind if kind in ("store", "apiserver", "dns") else "rest"].append(handle)
    from kubemu.actors.kubeconfig import cluster_dir, kubeconfig_path

    directory = cluster_dir(name, home=home)
    info = bootstrap.ClusterInfo(
        name=name, server=record.get("server", ""), token="", ca_pem=b"",
        kubeconfig=kubeconfig_path(name, home=home), directory=directory,
        pid=int(record.get("pid") or 0), started=record.get("started", ""),
        store_replicas=max(int(record.get("storeReplicas") or 3), len(handles["store"])),
        owns_ray=True, detached=True, head_pid=int(record.get("rayHeadPid") or 0),
        ray_temp_dir=record.get("rayTempDir") or "")
    info.component_handles = handles["rest"]
    info.apiserver_handles = handles["apiserver"]
    info.dns_handle = handles["dns"][0] if handles["dns"] else None
    await bootstrap.down(info)


def purge(name: str, *, home: Any = None) -> Path | None:
    """Delete `<home>/<name>` (kubeconfig, record, store data, logs); the path, or None when
    there was nothing."""
    from kubemu.actors.kubeconfig import cluster_dir

    directory = cluster_dir(name, home=home)
    if not directory.exists():
        return None
    shutil.rmtree(directory)
    return directory


def _ordered(names: Any) -> list[str]:
    rank = {kind: i for i, (_, kind) in enumerate(KINDS)}
    return sorted(set(names), key=lambda n: (rank.get(kind_of(n), len(rank)), len(n), n))
