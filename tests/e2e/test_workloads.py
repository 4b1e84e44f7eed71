"""Workloads on a live cluster through real kubectl: Deployments roll and roll back,
the scheduler places (or refuses) pods with upstream's messages, containers crash-loop and
are probed, and the garbage collector follows ownerReferences.

The session cluster has 6 nodes (4 cpu, 8Gi) in zones zone-a..zone-c and runs Kubernetes time
10x faster, so backoffs and grace periods pass quickly; every wait is a condition polled
with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest


def wait_for(check: Callable[[], Any], *, timeout: float = 60.0, what: str = "condition",
             interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout:g}s (last: {last!r})")


@pytest.fixture
def ns(api_cluster):
    name = f"w-{uuid.uuid4().hex[:6]}"
    api_cluster.kubectl("create", "namespace", name)
    yield name
    api_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def get_json(api_cluster, *args: str) -> dict:
    return json.loads(api_cluster.kubectl("get", *args, "-o", "json").stdout)


def deployment(name: str, ns: str, *, replicas: int, image: str = "nginx:1.27",
               extra_spec: str = "") -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}{extra_spec}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: web
        image: {image}
        ports: [{{containerPort: 80}}]
        resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}
"""


class DeploymentWatch:
    """Records every status of one Deployment seen on a watch, in a background thread."""

    def __init__(self, api_cluster, ns: str, name: str) -> None:
        self.statuses: list[dict] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run,
                                        args=(self._run(api_cluster, ns, name),), daemon=True)
        self._thread.start()
        assert self._ready.wait(30), "the watch did not start"

    async def _run(self, api_cluster, ns: str, name: str) -> None:
        client = api_cluster.client()
        try:
            while not self._stop.is_set():
                stream = client.watch("apps/v1", "Deployment", namespace=ns,
                                      field_selector=f"metadata.name={name}",
                                      timeout_seconds=5)
                self._ready.set()
                async for event in stream:
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.statuses.append(dict(event["object"].get("status") or {},
                                                  generation=event["object"]["metadata"]
                                                  .get("generation")))
                    if self._stop.is_set():
                        break
        finally:
            await client.close()

    def stop(self) -> list[dict]:
        self._stop.set()
        self._thread.join(15)
        return self.statuses


def test_deployment_becomes_available_rolls_and_rolls_back(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=deployment("web", ns, replicas=10))
    api_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s",
                        timeout=130)
    status = get_json(api_cluster, "deployment", "web", "-n", ns)["status"]
    assert status["availableReplicas"] == 10 and status["readyReplicas"] == 10
    out = api_cluster.kubectl("get", "deployment", "web", "-n", ns).stdout
    assert "10/10" in out

    watch = DeploymentWatch(api_cluster, ns, "web")
    api_cluster.kubectl("set", "image", "deployment/web", "web=nginx:1.28", "-n", ns)
    api_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s",
                        timeout=130)
    statuses = watch.stop()
    # default strategy: maxUnavailable 25% of 10 = 2 (rounded down), maxSurge 3 (rounded up)
    seen = [s.get("availableReplicas", 0) for s in statuses]
    assert len(statuses) > 3, statuses
    assert min(seen) >= 10 - 2, seen
    assert max(s.get("replicas", 0) for s in statuses) <= 10 + 3
    pods = get_json(api_cluster, "pods", "-n", ns, "-l", "app=web")["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert {p["spec"]["containers"][0]["image"] for p in live} == {"nginx:1.28"}
    rses = get_json(api_cluster, "replicasets", "-n", ns, "-l", "app=web")["items"]
    assert len(rses) == 2
    assert all("pod-template-hash" in rs["metadata"]["labels"] for rs in rses)

    api_cluster.kubectl("rollout", "undo", "deployment/web", "-n", ns)
    api_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s",
                        timeout=130)
    dep = get_json(api_cluster, "deployment", "web", "-n", ns)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    history = api_cluster.kubectl("rollout", "history", "deployment/web", "-n", ns).stdout
    assert "2" in history and "3" in history


def pod_manifest(name: str, ns: str, *, spec: str, annotations: str = "") -> str:
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            + (f"  annotations:\n{annotations}" if annotations else "") + f"spec:\n{spec}")


def test_a_pod_too_big_stays_pending_with_the_upstream_message(api_cluster, ns):
    spec = ("  containers:\n  - name: c\n    image: nginx\n"
            "    resources: {requests: {cpu: '64'}}\n")
    api_cluster.kubectl("apply", "-f", "-", input=pod_manifest("huge", ns, spec=spec))

    def condition() -> dict | None:
        pod = get_json(api_cluster, "pod", "huge", "-n", ns)
        for cond in pod["status"].get("conditions") or ():
            if cond["type"] == "PodScheduled" and cond["status"] == "False":
                return cond
        return None

    cond = wait_for(condition, what="PodScheduled=False")
    assert cond["reason"] == "Unschedulable"
    assert cond["message"].startswith("0/6 nodes are available: 6 Insufficient cpu."), cond
    assert get_json(api_cluster, "pod", "huge", "-n", ns)["status"]["phase"] == "Pending"
    described = api_cluster.kubectl("describe", "pod", "huge", "-n", ns).stdout
    assert "FailedScheduling" in described and "Insufficient cpu" in described


def placed_nodes(api_cluster, ns: str, selector: str, count: int) -> list[dict]:
    def running() -> list[dict] | None:
        pods = get_json(api_cluster, "pods", "-n", ns, "-l", selector)["items"]
        ok = [p for p in pods if p["status"].get("phase") == "Running"]
        return ok if len(ok) == count else None

    pods = wait_for(running, what=f"{count} running pods with {selector}")
    nodes = {n["metadata"]["name"]: n for n in get_json(api_cluster, "nodes")["items"]}
    return [nodes[p["spec"]["nodeName"]] for p in pods]


def test_node_selector_and_affinity_place_pods(api_cluster, ns):
    zone = "topology.kubernetes.io/zone"
    extra = ("\n  template:\n    metadata: {labels: {app: sel}}\n    spec:\n"
             f"      nodeSelector: {{{zone}: zone-b}}\n"
             "      containers: [{name: c, image: nginx}]")
    manifest = (f"apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: sel, namespace: "
                f"{ns}}}\nspec:\n  replicas: 4\n  selector: {{matchLabels: {{app: sel}}}}"
                + extra + "\n")
    api_cluster.kubectl("apply", "-f", "-", input=manifest)
    assert {n["metadata"]["labels"][zone] for n in placed_nodes(
        api_cluster, ns, "app=sel", 4)} == {"zone-b"}

    affinity = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: aff, namespace: {ns}}}
spec:
  replicas: 4
  selector: {{matchLabels: {{app: aff}}}}
  template:
    metadata: {{labels: {{app: aff}}}}
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions: [{{key: {zone}, operator: NotIn, values: [zone-a]}}]
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            preference:
              matchExpressions: [{{key: {zone}, operator: In, values: [zone-c]}}]
      containers: [{{name: c, image: nginx}}]
"""
    api_cluster.kubectl("apply", "-f", "-", input=affinity)
    zones = [n["metadata"]["labels"][zone] for n in placed_nodes(api_cluster, ns, "app=aff", 4)]
    assert "zone-a" not in zones
    assert zones.count("zone-c") >= 2, zones


def test_taints_repel_pods_unless_tolerated(api_cluster, ns):
    nodes = [n["metadata"]["name"] for n in get_json(api_cluster, "nodes")["items"]]
    tainted = nodes[:5]
    for node in tainted:
        api_cluster.kubectl("taint", "nodes", node, f"dedicated={ns}:NoSchedule")
    try:
        spec = "  containers: [{name: c, image: nginx}]\n"
        for i in range(3):
            api_cluster.kubectl("apply", "-f", "-",
                                input=pod_manifest(f"plain-{i}", ns, spec=spec))
        tolerating = ("  tolerations: [{key: dedicated, operator: Equal, value: "
                      f"{ns}, effect: NoSchedule}}]\n  nodeSelector: "
                      f"{{kubernetes.io/hostname: {tainted[0]}}}\n" + spec)
        api_cluster.kubectl("apply", "-f", "-",
                            input=pod_manifest("tolerant", ns, spec=tolerating))

        def scheduled() -> dict | None:
            pods = get_json(api_cluster, "pods", "-n", ns)["items"]
            placed = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in pods}
            return placed if all(placed.values()) and len(placed) == 4 else None

        placed = wait_for(scheduled, what="all four pods scheduled")
        assert {placed[f"plain-{i}"] for i in range(3)} == {nodes[5]}
        assert placed["tolerant"] == tainted[0]
    finally:
        for node in tainted:
            api_cluster.kubectl("taint", "nodes", node, "dedicated-", check=False)


def container_status(api_cluster, ns: str, pod: str) -> dict:
    statuses = get_json(api_cluster, "pod", pod, "-n", ns)["status"].get(
        "containerStatuses") or [{}]
    return statuses[0]


def test_a_crashing_container_backs_off_more_each_time(api_cluster, ns):
    spec = ("  restartPolicy: Always\n  containers:\n  - name: c\n    image: busybox\n"
            "    command: [sh, -c, 'echo starting; exit 1']\n")
    api_cluster.kubectl("apply", "-f", "-", input=pod_manifest("crash", ns, spec=spec))
    backoffs: set[int] = set()

    def three_backoffs() -> dict | None:
        status = container_status(api_cluster, ns, "crash")
        waiting = status.get("state", {}).get("waiting", {})
        if waiting.get("reason") == "CrashLoopBackOff":
            match = re.match(r"back-off (\d+)s restarting failed container=c ",
                             waiting["message"])
            assert match, waiting
            backoffs.add(int(match.group(1)))
        return status if len(backoffs) >= 3 else None

    status = wait_for(three_backoffs, timeout=120, interval=0.1,
                      what="three growing back-offs")
    # upstream's CrashLoopBackOff: 10 s, doubling (Kubernetes seconds)
    assert sorted(backoffs)[:3] == [10, 20, 40], backoffs
    assert status["restartCount"] >= 2
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert status["lastState"]["terminated"]["reason"] == "Error"
    out = api_cluster.kubectl("get", "pod", "crash", "-n", ns).stdout
    assert "CrashLoopBackOff" in out or "Error" in out
    events = api_cluster.kubectl("get", "events", "-n", ns, "--field-selector",
                                 "involvedObject.name=crash,reason=BackOff").stdout
    assert "Back-off restarting failed container" in events


def test_liveness_failure_restarts_and_readiness_gates_ready(api_cluster, ns):
    # Kubernetes time runs 10x faster: 30 s is 3 s here
    annotations = ("    kubemu.io/fail-liveness-after: 50s\n"
                   "    kubemu.io/ready-after: 30s\n")
    spec = """  containers:
  - name: c
    image: nginx
    ports: [{containerPort: 80}]
    livenessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 2, failureThreshold: 2}
    readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 1}
"""
    api_cluster.kubectl("apply", "-f", "-",
                        input=pod_manifest("probed", ns, spec=spec, annotations=annotations))
    wait_for(lambda: container_status(api_cluster, ns, "probed").get("state", {}).get(
        "running"), what="running")
    first = container_status(api_cluster, ns, "probed")
    assert first["ready"] is False  # not before ready-after
    wait_for(lambda: container_status(api_cluster, ns, "probed").get("ready"), what="ready")
    wait_for(lambda: container_status(api_cluster, ns, "probed").get("restartCount", 0) >= 1,
             what="a liveness restart")
    events = api_cluster.kubectl("get", "events", "-n", ns, "--field-selector",
                                 "involvedObject.name=probed").stdout
    assert "Liveness probe failed" in events
    assert "failed liveness probe, will be restarted" in events


def test_deleting_a_deployment_removes_replicasets_and_pods(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=deployment("gone", ns, replicas=3))
    api_cluster.kubectl("rollout", "status", "deployment/gone", "-n", ns, "--timeout=90s",
                        timeout=100)
    api_cluster.kubectl("delete", "deployment", "gone", "-n", ns)
    wait_for(lambda: not get_json(api_cluster, "replicasets", "-n", ns, "-l",
                                  "app=gone")["items"], what="replicasets gone")
    wait_for(lambda: not get_json(api_cluster, "pods", "-n", ns, "-l", "app=gone")["items"],
             what="pods gone")


def test_orphan_deletion_keeps_the_pods(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=deployment("orph", ns, replicas=2))
    api_cluster.kubectl("rollout", "status", "deployment/orph", "-n", ns, "--timeout=90s",
                        timeout=100)
    api_cluster.kubectl("delete", "deployment", "orph", "-n", ns, "--cascade=orphan")
    rses = wait_for(lambda: [rs for rs in get_json(api_cluster, "replicasets", "-n", ns, "-l",
                                                   "app=orph")["items"]
                             if not rs["metadata"].get("ownerReferences")],
                    what="the replicaset orphaned")
    assert len(rses) == 1
    api_cluster.kubectl("delete", "replicaset", rses[0]["metadata"]["name"], "-n", ns,
                        "--cascade=orphan")
    pods = wait_for(lambda: [p for p in get_json(api_cluster, "pods", "-n", ns, "-l",
                                                 "app=orph")["items"]
                             if not p["metadata"].get("ownerReferences")],
                    what="pods orphaned")
    assert len(pods) == 2
    assert not get_json(api_cluster, "replicasets", "-n", ns, "-l", "app=orph")["items"]


def test_foreground_deletion_waits_for_dependents(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=deployment("fg", ns, replicas=2))
    api_cluster.kubectl("rollout", "status", "deployment/fg", "-n", ns, "--timeout=90s",
                        timeout=100)
    api_cluster.kubectl("delete", "deployment", "fg", "-n", ns, "--cascade=foreground",
                        "--wait=false")
    dep = get_json(api_cluster, "deployment", "fg", "-n", ns)
    assert dep["metadata"].get("deletionTimestamp")
    assert "foregroundDeletion" in dep["metadata"].get("finalizers", [])
    wait_for(lambda: api_cluster.kubectl("get", "deployment", "fg", "-n", ns,
                                         check=False).returncode != 0,
             what="the deployment gone")
    assert not get_json(api_cluster, "pods", "-n", ns, "-l", "app=fg")["items"]


def test_deleting_a_namespace_removes_everything_then_itself(api_cluster):
    name = f"gone-{uuid.uuid4().hex[:6]}"
    api_cluster.kubectl("create", "namespace", name)
    api_cluster.kubectl("apply", "-f", "-", input=deployment("d", name, replicas=2))
    api_cluster.kubectl("create", "configmap", "cm", "-n", name, "--from-literal=a=b")
    wait_for(lambda: len(get_json(api_cluster, "pods", "-n", name)["items"]) == 2,
             what="two pods")
    assert get_json(api_cluster, "serviceaccounts", "-n", name)["items"][0]["metadata"][
        "name"] == "default"
    api_cluster.kubectl("delete", "namespace", name, "--wait=false")
    wait_for(lambda: api_cluster.kubectl("get", "namespace", name,
                                         check=False).returncode != 0,
             timeout=90, what="the namespace gone")
