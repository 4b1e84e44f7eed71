"""A node whose actor dies: the control plane notices, taints it, and replaces its pods.

The node's actor is killed for good (`ray.kill(no_restart=True)`: forceful, nothing of it gets
to say goodbye; a bare SIGKILL would have Ray restart it, see tests/chaos). With Kubernetes
time 10x faster, the 40 s node grace period is 4 s and the pods' 30 s tolerationSeconds 3 s.
Afterwards a fresh actor (under a new Ray name: Ray keeps a dead actor's name) for the
same node re-registers it, so later tests see 6 Ready nodes.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
import ray

from tests.e2e.test_workloads import get_json, wait_for


def ready_status(node: dict) -> str:
    for cond in node["status"].get("conditions") or ():
        if cond["type"] == "Ready":
            return cond["status"]
    return ""


@pytest.fixture
def ns(api_cluster):
    name = f"nf-{uuid.uuid4().hex[:6]}"
    api_cluster.kubectl("create", "namespace", name)
    yield name
    api_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_a_dead_nodes_pods_are_replaced_elsewhere(api_cluster, ns):
    from kubemu.actors.bootstrap import node_configs
    from kubemu.actors.components import node_actor_name, start_component
    from kubemu.actors.runtime import namespace

    manifest = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: spread, namespace: {ns}}}
spec:
  replicas: 6
  selector: {{matchLabels: {{app: spread}}}}
  template:
    metadata: {{labels: {{app: spread}}}}
    spec:
      tolerations:
      - {{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute,
          tolerationSeconds: 30}}
      containers: [{{name: c, image: nginx}}]
"""
    api_cluster.kubectl("apply", "-f", "-", input=manifest)
    api_cluster.kubectl("rollout", "status", "deployment/spread", "-n", ns, "--timeout=90s",
                        timeout=100)
    pods = get_json(api_cluster, "pods", "-n", ns, "-l", "app=spread")["items"]
    victim = pods[0]["spec"]["nodeName"]
    on_victim = {p["metadata"]["name"] for p in pods if p["spec"]["nodeName"] == victim}
    actor_name = node_actor_name(victim)
    handle = ray.get_actor(actor_name, namespace=namespace(api_cluster.name))
    ray.kill(handle, no_restart=True)
    try:
        node = wait_for(lambda: (n := get_json(api_cluster, "node", victim)) and
                        ready_status(n) == "Unknown" and n, timeout=60,
                        what=f"{victim} Ready=Unknown")
        reason = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        assert reason["reason"] == "NodeStatusUnknown"
        node = wait_for(lambda: (n := get_json(api_cluster, "node", victim)) and any(
            t["key"] == "node.kubernetes.io/unreachable" and t["effect"] == "NoExecute"
            for t in n["spec"].get("taints") or ()) and n, what="the unreachable taint")

        def replaced() -> list[dict] | None:
            pods = get_json(api_cluster, "pods", "-n", ns, "-l", "app=spread")["items"]
            live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            ok = len(live) == 6 and all(p["spec"].get("nodeName") not in (None, victim)
                                        for p in live)
            return live if ok else None

        live = wait_for(replaced, timeout=90, what="pods replaced on other nodes")
        assert not on_victim & {p["metadata"]["name"] for p in live}
        api_cluster.kubectl("rollout", "status", "deployment/spread", "-n", ns,
                            "--timeout=90s", timeout=100)
    finally:
        cfg = next(c for c in node_configs(6, zones=3) if c["name"] == victim)
        api_cluster.info.component_handles.append(asyncio.run(start_component(cluster=api_cluster.name, kind="node",
                                    name=f"{actor_name}-again",
                                    access=api_cluster.info.access, time_scale=10.0,
                                    options={"node": cfg})))
        wait_for(lambda: ready_status(get_json(api_cluster, "node", victim)) == "True",
                 timeout=60, what=f"{victim} Ready again")
        wait_for(lambda: not any(t["key"].startswith("node.kubernetes.io/") for t in
                                 get_json(api_cluster, "node", victim)["spec"].get(
                                     "taints") or ()), what="taints removed")
