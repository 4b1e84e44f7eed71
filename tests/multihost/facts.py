"""Where a cluster's pieces run, as Ray and the API see it: the facts the multi-host tests
check (store replicas on distinct Ray nodes, emulated nodes spread, one zone per host).

`ray_facts(cluster)` runs in a process connected to the cluster's Ray: live Ray nodes (id ->
IP) and the cluster's live actors (name -> Ray node id) from the GCS's actor table (one
cluster per Ray here: names are unique within it). `node_facts`
reads Node objects through any `ApiClient`. `python -m tests.multihost.facts ADDRESS CLUSTER`
prints `ray_facts` as JSON from another process (a netns host's shell).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

from kubemu.cluster.node.node_status import RAY_NODE_LABEL

__all__ = ["ZONE_LABEL", "hosts_of", "node_facts", "ray_facts"]

ZONE_LABEL = "topology.kubernetes.io/zone"


def ray_facts(cluster: str) -> dict:
    """{"ray_nodes": {node id: ip}, "actors": {actor name: node id}} of `cluster`."""
    import ray
    from kubemu.actors.runtime import namespace

    nodes = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")}
    names = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
             if a.get("namespace") == namespace(cluster)}
    # the GCS actor table (the state API needs the dashboard, which hosts here do not run)
    actors = {a["Name"]: a["Address"]["NodeID"] for a in ray._private.state.actors().values()
              if a["Name"] in names and a["State"] == "ALIVE"}
    return {"ray_nodes": nodes, "actors": actors}


async def node_facts(client) -> list[dict]:
    """[{"name", "zone", "ray_node", "ready"}] of every Node, by name."""
    items = (await client.list("v1", "Node")).get("items") or []
    out = []
    for node in sorted(items, key=lambda n: n["metadata"]["name"]):
        labels = node["metadata"].get("labels") or {}
        ready = next((c["status"] for c in (node.get("status") or {}).get("conditions") or ()
                      if c["type"] == "Ready"), "")
        out.append({"name": node["metadata"]["name"], "zone": labels.get(ZONE_LABEL, ""),
                    "ray_node": labels.get(RAY_NODE_LABEL, ""), "ready": ready})
    return out


def hosts_of(nodes: list[dict], key: str) -> dict[str, set[str]]:
    """{value of `key` (e.g. "zone"): the Ray nodes (label prefixes) of nodes with it}."""
    out: dict[str, set[str]] = defaultdict(set)
    for node in nodes:
        out[node[key]].add(node["ray_node"])
    return dict(out)


if __name__ == "__main__":
    import logging
    import os

    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address=sys.argv[1], logging_level=logging.ERROR, log_to_driver=False,
             configure_logging=False)
    try:
        print(json.dumps(ray_facts(sys.argv[2])))
    finally:
        ray.shutdown()
