"""Kill -9 a node actor: Ray restarts it and its kubelet adopts its pods -- still Running, same
pod IPs, same containers (restartCount, startedAt) -- traffic to them over a ClusterIP works
again, and the node's NodePort answers curl again."""

from __future__ import annotations

import json
import subprocess

import ray

from tests.chaos.kill import actor, crash, restarted
from tests.e2e.test_workloads import get_json, wait_for

NODE, CLIENT_NODE = "node-5", "node-1"


def test_killed_node_actor_restarts_with_its_pods_running_as_before(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: {NODE}}}
      containers: [{{name: c, image: nginx, ports: [{{containerPort: 80}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{port: 8000, targetPort: 80}}]
""")
    api_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s",
                        timeout=130)
    service = get_json(api_cluster, "service", "web", "-n", ns)["spec"]
    cluster_ip, node_port = service["clusterIP"], service["ports"][0]["nodePort"]
    address = _internal_ip(api_cluster, NODE)
    client = _node_actor(api_cluster, CLIENT_NODE)
    source = _internal_ip(api_cluster, CLIENT_NODE)

    def served() -> dict | None:  # a connection to the ClusterIP, answered on NODE
        reply = _connect(client, source, cluster_ip)
        return reply if reply and reply.get("ok") and reply["node"] == NODE else None

    wait_for(served, timeout=60, what="the ClusterIP answering from the node's pods")
    wait_for(lambda: _curl(address, node_port), timeout=60, what="the NodePort answering")
    before = _pods(api_cluster, ns)
    assert len(before) == 2

    victim = _node_actor(api_cluster, NODE)
    old = ray.get(victim.ping.remote())["pid"]
    crash(old)
    restarted(victim, old, ready=lambda state: state["running"])

    wait_for(served, timeout=90, what="the ClusterIP answering again after the restart")
    wait_for(lambda: _curl(address, node_port), timeout=90,
             what="the NodePort answering again after the restart")
    wait_for(lambda: _ready(api_cluster, NODE), timeout=90, what=f"{NODE} Ready again")
    after = wait_for(lambda: (p := _pods(api_cluster, ns)) and all(
        s["ready"] for s in p.values()) and p, timeout=90, what="the pods Ready again")
    assert {name: _same(s) for name, s in after.items()} == \
        {name: _same(s) for name, s in before.items()}


def _pods(api_cluster, ns: str) -> dict[str, dict]:
    """name -> node, phase, podIP, and the container's id, restarts, start, readiness."""
    out = {}
    for pod in get_json(api_cluster, "pods", "-n", ns, "-l", "app=web")["items"]:
        status = pod["status"]
        [container] = status.get("containerStatuses") or [{}]
        out[pod["metadata"]["name"]] = {
            "node": pod["spec"].get("nodeName"), "phase": status.get("phase"),
            "podIP": status.get("podIP"), "containerID": container.get("containerID"),
            "restartCount": container.get("restartCount"),
            "startedAt": ((container.get("state") or {}).get("running") or {}).get("startedAt"),
            "ready": container.get("ready")}
    return out


def _same(state: dict) -> dict:
    return {k: v for k, v in state.items() if k != "ready"}


def _node_actor(api_cluster, node: str):
    name = get_json(api_cluster, "node", node)["metadata"]["annotations"]["kubemu.io/actor"]
    return actor(api_cluster, name)


def _internal_ip(api_cluster, node: str) -> str:
    return next(a["address"] for a in get_json(api_cluster, "node", node)["status"]["addresses"]
                if a["type"] == "InternalIP")


def _connect(client, source: str, ip: str) -> dict | None:
    try:
        return ray.get(client.connect.remote(source, ip, 8000), timeout=20)
    except (ray.exceptions.RayError, ray.exceptions.GetTimeoutError):
        return None


def _curl(address: str, port: int) -> dict | None:
    done = subprocess.run(["curl", "-s", "--max-time", "5", f"http://{address}:{port}/"],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0 or not done.stdout.strip():
        return None
    reply = json.loads(done.stdout)
    return reply if reply.get("ok") else None


def _ready(api_cluster, node: str) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in get_json(api_cluster, "node", node)["status"]["conditions"])
