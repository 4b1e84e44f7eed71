"""Several raylets on this machine (`ray.cluster_utils.Cluster`: a head and 2 workers, one
CPU each), a cluster started across them, and the facts of where everything landed.

Run as a child process (`python -m tests.multihost.raylets WORKDIR API_PORT`): a process
holds one Ray connection, and the pytest process may hold the session's (tests/
cluster_fixtures.py `ray_session`), so this Ray must live elsewhere. `RAY_TMPDIR` (set by the
caller to WORKDIR) keeps this Ray's address file and sessions out of /tmp/ray, where `ray.init
("auto")` of other processes on the machine would find them. Prints one JSON line: {"ray_nodes",
"actors", "nodes", "seconds"}, or {"error": ...} when bootstrap cannot start the cluster.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid

__all__ = ["main"]

RAYLETS = 3
NODES, ZONES = 6, 3


def main(workdir: str, api_port: int) -> dict:
    import ray
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    began = time.monotonic()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        for _ in range(RAYLETS - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        return asyncio.run(_up_and_look(workdir, api_port, began))
    finally:
        ray.shutdown()
        cluster.shutdown()


async def _up_and_look(workdir: str, api_port: int, began: float) -> dict:
    from kubemu.actors import bootstrap

    from tests.multihost.facts import node_facts, ray_facts

    name = f"raylets-{uuid.uuid4().hex[:6]}"
    try:
        info = await bootstrap.up(name=name, home=workdir, api_port=api_port, dns_port=0,
                                  nodes=NODES, zones=ZONES, time_scale=10,
                                  zone_per_host=True)
    except TypeError as exc:  # bootstrap without placement options (yet)
        return {"error": f"bootstrap.up: {exc}"}
    try:
        client = info.access.client(user_agent="multihost-test")
        try:
            nodes = await node_facts(client)
        finally:
            await client.close()
        return {**ray_facts(name), "nodes": nodes, "seconds": time.monotonic() - began}
    finally:
        await bootstrap.down(info)


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))), flush=True)
