"""Node pools on Ray carry traffic as lone nodes do: a cluster of 4 nodes hosted 2 per actor
routes a ClusterIP from a pod to backends on every node (within the pool and across to the
other pool's actor), and each pooled node listens on its own NodePorts."""

from __future__ import annotations

import asyncio
import collections
import json
import subprocess
import uuid

import pytest
import ray

from tests.cluster_fixtures import free_port
from tests.e2e.test_workloads import wait_for

MANIFESTS = [
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": {"name": "web", "namespace": "default"},
     "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "web"}},
              "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                  "topologySpreadConstraints": [{
                      "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                      "whenUnsatisfiable": "DoNotSchedule",
                      "labelSelector": {"matchLabels": {"app": "web"}}}],
                  "containers": [{"name": "c", "image": "nginx",
                                  "ports": [{"containerPort": 80}]}]}}}},
    {"apiVersion": "v1", "kind": "Service",
     "metadata": {"name": "web", "namespace": "default"},
     "spec": {"type": "NodePort", "selector": {"app": "web"},
              "ports": [{"port": 80, "targetPort": 80}]}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client", "namespace": "default"},
     "spec": {"containers": [{"name": "c", "image": "busybox",
                              "command": ["sleep", "infinity"]}]}},
]


@pytest.fixture(scope="module")
def pooled(ray_session, tmp_path_factory):
    from kubemu.actors import bootstrap

    info = asyncio.run(bootstrap.up(
        name=f"pools-{uuid.uuid4().hex[:6]}", home=tmp_path_factory.mktemp("pools"),
        api_port=free_port(), dns_port=0, nodes=4, zones=2, nodes_per_actor=2,
        time_scale=10))
    try:
        yield info
    finally:
        asyncio.run(bootstrap.down(info))


async def _deploy(info) -> tuple[dict, str, int, list[dict]]:
    client = info.access.client(user_agent="test")
    loop = asyncio.get_running_loop()
    try:
        for obj in MANIFESTS:
            await client.create(obj, namespace="default")
        deadline = loop.time() + 120
        while True:
            pods = (await client.list("v1", "Pod", namespace="default"))["items"]
            running = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
            if len(running) == 5:
                break
            assert loop.time() < deadline, "pods did not all run"
            await asyncio.sleep(0.2)
        svc = await client.get("v1", "Service", "web", namespace="default")
        nodes = (await client.list("v1", "Node"))["items"]
        return (next(p for p in running if p["metadata"]["name"] == "client"),
                svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"], nodes)
    finally:
        await client.close()


def test_pooled_nodes_route_across_pools_and_listen_on_node_ports(pooled):
    from kubemu.actors.runtime import namespace

    client, cluster_ip, node_port, nodes = asyncio.run(_deploy(pooled))
    actors = {n["metadata"]["name"]: n["metadata"]["annotations"]["kubemu.io/actor"]
              for n in nodes}
    assert len(set(actors.values())) == 2  # 4 nodes, 2 per actor
    actor = ray.get_actor(actors[client["spec"]["nodeName"]],
                          namespace=namespace(pooled.name))

    async def send(count: int) -> list[dict]:
        return await asyncio.gather(*(actor.connect.remote(client["status"]["podIP"],
                                                           cluster_ip, 80)
                                      for _ in range(count)))

    def every_node_serving() -> list[dict] | None:  # once every kube-proxy is programmed
        replies = asyncio.run(send(200))
        ok = all(r["ok"] for r in replies) and len({r["node"] for r in replies}) == 4
        return replies if ok else None

    replies = wait_for(every_node_serving, what="200 connections served by all 4 nodes")
    served = collections.Counter(r["node"] for r in replies)
    assert set(served) == set(actors), served  # every node, in both pools

    for node in nodes:
        address = next(a["address"] for a in node["status"]["addresses"]
                       if a["type"] == "InternalIP")
        done = subprocess.run(["curl", "-s", "--max-time", "5", "--retry", "20",
                               "--retry-connrefused", "--retry-delay", "1",
                               f"http://{address}:{node_port}/"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (address, done.stderr)
        assert json.loads(done.stdout)["service"] == "default/web"
