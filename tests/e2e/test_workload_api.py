"""The rest of the workload API on the live cluster through real kubectl: topology spread,
anti-affinity, preemption, StatefulSets, DaemonSets, Jobs, CronJobs and `kubectl drain`
with a PodDisruptionBudget.

The session cluster has 6 nodes (node-1..node-6, 4 cpu each) round-robin over zone-a..zone-c
and runs Kubernetes time 10x faster; every wait polls a condition with a deadline.
"""

from __future__ import annotations

import collections
import uuid

import pytest

from tests.e2e.test_workloads import get_json, wait_for

ZONE = "topology.kubernetes.io/zone"


@pytest.fixture
def ns(api_cluster):
    name = f"x-{uuid.uuid4().hex[:6]}"
    api_cluster.kubectl("create", "namespace", name)
    yield name
    api_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def running_pods(api_cluster, ns: str, selector: str, count: int, *,
                 timeout: float = 90) -> list[dict]:
    def check() -> list[dict] | None:
        pods = get_json(api_cluster, "pods", "-n", ns, "-l", selector)["items"]
        live = [p for p in pods if p["status"].get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp")]
        return live if len(live) == count else None

    return wait_for(check, timeout=timeout, what=f"{count} running pods {selector}")


def zones_by_node(api_cluster) -> dict[str, str]:
    return {n["metadata"]["name"]: n["metadata"]["labels"][ZONE]
            for n in get_json(api_cluster, "nodes")["items"]}


def test_topology_spread_puts_ten_pods_four_three_three(api_cluster, ns):
    manifest = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: spread, namespace: {ns}}}
spec:
  replicas: 10
  selector: {{matchLabels: {{app: spread}}}}
  template:
    metadata: {{labels: {{app: spread}}}}
    spec:
      topologySpreadConstraints:
      - maxSkew: 1
        topologyKey: {ZONE}
        whenUnsatisfiable: DoNotSchedule
        labelSelector: {{matchLabels: {{app: spread}}}}
      containers: [{{name: c, image: nginx}}]
"""
    api_cluster.kubectl("apply", "-f", "-", input=manifest)
    pods = running_pods(api_cluster, ns, "app=spread", 10)
    zones = zones_by_node(api_cluster)
    counts = collections.Counter(zones[p["spec"]["nodeName"]] for p in pods)
    assert sorted(counts.values()) == [3, 3, 4], counts


def test_anti_affinity_keeps_replicas_on_distinct_nodes(api_cluster, ns):
    manifest = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: anti, namespace: {ns}}}
spec:
  replicas: 6
  selector: {{matchLabels: {{app: anti}}}}
  template:
    metadata: {{labels: {{app: anti}}}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector: {{matchLabels: {{app: anti}}}}
            topologyKey: kubernetes.io/hostname
      containers: [{{name: c, image: nginx}}]
"""
    api_cluster.kubectl("apply", "-f", "-", input=manifest)
    pods = running_pods(api_cluster, ns, "app=anti", 6)
    assert len({p["spec"]["nodeName"] for p in pods}) == 6
    api_cluster.kubectl("scale", "deployment/anti", "-n", ns, "--replicas=7")

    def pending_message() -> str | None:
        for pod in get_json(api_cluster, "pods", "-n", ns, "-l", "app=anti")["items"]:
            for cond in pod["status"].get("conditions") or ():
                if cond["type"] == "PodScheduled" and cond["status"] == "False":
                    return cond["message"]
        return None

    message = wait_for(pending_message, what="the seventh replica Pending")
    assert message.startswith("0/6 nodes are available: 6 node(s) didn't match pod "
                              "anti-affinity rules."), message


def test_a_high_priority_pod_preempts_and_lands_on_the_nominated_node(api_cluster, ns):
    low, high = f"low-{ns}", f"high-{ns}"
    api_cluster.kubectl("apply", "-f", "-", input=f"""apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {{name: {low}}}
value: 100
---
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {{name: {high}}}
value: 1000000
""")
    try:
        node = "node-1"
        filler = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: filler, namespace: {ns}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: filler}}}}
  template:
    metadata: {{labels: {{app: filler}}}}
    spec:
      priorityClassName: {low}
      nodeSelector: {{kubernetes.io/hostname: {node}}}
      containers:
      - {{name: c, image: nginx, resources: {{requests: {{cpu: "1"}}}}}}
"""
        api_cluster.kubectl("apply", "-f", "-", input=filler)
        running_pods(api_cluster, ns, "app=filler", 3)
        important = f"""apiVersion: v1
kind: Pod
metadata: {{name: important, namespace: {ns}}}
spec:
  priorityClassName: {high}
  nodeSelector: {{kubernetes.io/hostname: {node}}}
  containers:
  - {{name: c, image: nginx, resources: {{requests: {{cpu: "2"}}}}}}
"""
        api_cluster.kubectl("apply", "-f", "-", input=important)
        pod = wait_for(lambda: (p := get_json(api_cluster, "pod", "important", "-n", ns))
                       and p["status"].get("phase") == "Running" and p, timeout=90,
                       what="the important pod running")
        assert pod["spec"]["nodeName"] == node
        assert pod["spec"]["priority"] == 1000000
        events = api_cluster.kubectl("get", "events", "-n", ns).stdout
        assert "Preempted" in events
    finally:
        api_cluster.kubectl("delete", "priorityclass", low, high, check=False)


def test_statefulset_starts_in_order_scales_down_from_the_top_and_partitions(api_cluster, ns):
    manifest = f"""apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  clusterIP: None
  selector: {{app: web}}
  ports: [{{port: 80}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: web, namespace: {ns}}}
spec:
  serviceName: web
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata:
      labels: {{app: web}}
      annotations: {{kubemu.io/ready-after: 10s}}
    spec:
      containers:
      - name: c
        image: nginx:1.27
        readinessProbe: {{tcpSocket: {{port: 80}}, periodSeconds: 1}}
        ports: [{{containerPort: 80}}]
"""
    api_cluster.kubectl("apply", "-f", "-", input=manifest)
    api_cluster.kubectl("rollout", "status", "statefulset/web", "-n", ns, "--timeout=120s",
                        timeout=130)
    pods = {p["metadata"]["name"]: p for p in get_json(api_cluster, "pods", "-n", ns, "-l",
                                                       "app=web")["items"]}
    assert sorted(pods) == ["web-0", "web-1", "web-2"]
    # OrderedReady: each pod was created only after the previous one was Ready
    ready_at = {name: next(c["lastTransitionTime"] for c in p["status"]["conditions"]
                           if c["type"] == "Ready") for name, p in pods.items()}
    created = {name: p["metadata"]["creationTimestamp"] for name, p in pods.items()}
    assert created["web-1"] >= ready_at["web-0"] and created["web-2"] >= ready_at["web-1"]
    assert pods["web-1"]["spec"]["hostname"] == "web-1"
    assert pods["web-1"]["spec"]["subdomain"] == "web"

    api_cluster.kubectl("scale", "statefulset/web", "-n", ns, "--replicas=2")
    wait_for(lambda: sorted(p["metadata"]["name"] for p in get_json(
        api_cluster, "pods", "-n", ns, "-l", "app=web")["items"]) == ["web-0", "web-1"],
        what="web-2 removed first")

    api_cluster.kubectl("scale", "statefulset/web", "-n", ns, "--replicas=3")
    api_cluster.kubectl("rollout", "status", "statefulset/web", "-n", ns, "--timeout=120s",
                        timeout=130)
    api_cluster.kubectl("patch", "statefulset", "web", "-n", ns, "-p",
                        '{"spec":{"updateStrategy":{"type":"RollingUpdate",'
                        '"rollingUpdate":{"partition":2}}}}')
    api_cluster.kubectl("set", "image", "statefulset/web", "c=nginx:1.28", "-n", ns)

    def images() -> dict[str, str] | None:
        pods = get_json(api_cluster, "pods", "-n", ns, "-l", "app=web")["items"]
        got = {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in pods}
        return got if got.get("web-2") == "nginx:1.28" else None

    got = wait_for(images, timeout=90, what="web-2 updated")
    assert got["web-0"] == got["web-1"] == "nginx:1.27"


def test_a_daemonset_runs_on_every_node_including_a_cordoned_one(api_cluster, ns):
    api_cluster.kubectl("cordon", "node-6")
    try:
        manifest = f"""apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      containers: [{{name: c, image: nginx}}]
"""
        api_cluster.kubectl("apply", "-f", "-", input=manifest)
        pods = running_pods(api_cluster, ns, "app=agent", 6)
        assert sorted(p["spec"]["nodeName"] for p in pods) == [f"node-{i}" for i in range(1, 7)]
        api_cluster.kubectl("rollout", "status", "daemonset/agent", "-n", ns,
                            "--timeout=60s", timeout=70)
    finally:
        api_cluster.kubectl("uncordon", "node-6")


def job_manifest(name: str, ns: str, *, spec: str, command: str) -> str:
    return f"""apiVersion: batch/v1
kind: Job
metadata: {{name: {name}, namespace: {ns}}}
spec:
{spec}  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
        command: [sh, -c, '{command}']
"""


def test_jobs_complete_fail_at_the_backoff_limit_and_index_their_pods(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=job_manifest(
        "five", ns, spec="  completions: 5\n  parallelism: 2\n", command="sleep 2"))
    api_cluster.kubectl("apply", "-f", "-", input=job_manifest(
        "broken", ns, spec="  backoffLimit: 2\n", command="exit 1"))
    api_cluster.kubectl("apply", "-f", "-", input=job_manifest(
        "indexed", ns, spec="  completions: 3\n  parallelism: 3\n  completionMode: Indexed\n",
        command="echo $JOB_COMPLETION_INDEX"))
    api_cluster.kubectl("wait", "--for=condition=complete", "job/five", "job/indexed", "-n",
                        ns, "--timeout=120s", timeout=130)
    five = get_json(api_cluster, "job", "five", "-n", ns)
    assert five["status"]["succeeded"] == 5
    api_cluster.kubectl("wait", "--for=condition=failed", "job/broken", "-n", ns,
                        "--timeout=120s", timeout=130)
    broken = get_json(api_cluster, "job", "broken", "-n", ns)
    failed = next(c for c in broken["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert broken["status"]["failed"] == 3
    pods = get_json(api_cluster, "pods", "-n", ns, "-l", "job-name=indexed")["items"]
    indexes = sorted(p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
                     for p in pods)
    assert indexes == ["0", "1", "2"]
    assert get_json(api_cluster, "job", "indexed", "-n", ns)["status"][
        "completedIndexes"] == "0-2"


def test_a_cronjob_makes_jobs_on_schedule_and_keeps_its_history_limits(api_cluster, ns):
    manifest = f"""apiVersion: batch/v1
kind: CronJob
metadata: {{name: tick, namespace: {ns}}}
spec:
  schedule: "* * * * *"
  successfulJobsHistoryLimit: 2
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{{name: c, image: busybox, command: [sh, -c, 'echo tick']}}]
"""
    api_cluster.kubectl("apply", "-f", "-", input=manifest)
    # one minute of Kubernetes time is 6 s here
    cron = wait_for(lambda: (c := get_json(api_cluster, "cronjob", "tick", "-n", ns))
                    and c.get("status", {}).get("lastSuccessfulTime") and c, timeout=60,
                    what="a successful scheduled Job")
    seen: set[str] = set()

    def three_jobs() -> bool:
        jobs = get_json(api_cluster, "jobs", "-n", ns)["items"]
        seen.update(j["metadata"]["name"] for j in jobs)
        finished = [j for j in jobs if any(c["type"] == "Complete" and c["status"] == "True"
                                           for c in (j.get("status") or {}).get("conditions") or ())]
        assert len(finished) <= 2 + 1, [j["metadata"]["name"] for j in jobs]
        return len(seen) >= 4

    wait_for(three_jobs, timeout=90, what="four scheduled Jobs")
    wait_for(lambda: len([j for j in get_json(api_cluster, "jobs", "-n", ns)["items"]
                          if any(c["type"] == "Complete" for c in
                                 (j.get("status") or {}).get("conditions") or ())]) <= 2,
             what="history trimmed to 2")
    assert cron["status"]["lastScheduleTime"]


def test_drain_honours_a_pod_disruption_budget(api_cluster, ns):
    manifest = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: guarded, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: guarded}}}}
  template:
    metadata: {{labels: {{app: guarded}}}}
    spec:
      nodeSelector: {{kubernetes.io/hostname: node-5}}
      containers: [{{name: c, image: nginx}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: guard, namespace: {ns}}}
spec:
  minAvailable: 2
  selector: {{matchLabels: {{app: guarded}}}}
"""
    api_cluster.kubectl("apply", "-f", "-", input=manifest)
    running_pods(api_cluster, ns, "app=guarded", 2)
    wait_for(lambda: get_json(api_cluster, "pdb", "guard", "-n", ns).get("status", {}).get(
        "currentHealthy") == 2, what="the PDB sees 2 healthy pods")
    try:
        blocked = api_cluster.kubectl("drain", "node-5", "--ignore-daemonsets",
                                      "--delete-emptydir-data", "--timeout=5s",
                                      check=False, timeout=60)
        assert blocked.returncode != 0
        assert "disruption budget" in blocked.stdout + blocked.stderr
        assert len(running_pods(api_cluster, ns, "app=guarded", 2)) == 2
        api_cluster.kubectl("patch", "pdb", "guard", "-n", ns, "--type=merge", "-p",
                            '{"spec":{"minAvailable":1}}')
        wait_for(lambda: get_json(api_cluster, "pdb", "guard", "-n", ns).get(
            "status", {}).get("disruptionsAllowed") == 1, what="one disruption allowed")
        # one pod is evicted at a time; its replacement cannot land on the cordoned node,
        # so the second eviction waits on the budget: drain retries until its timeout
        drained = api_cluster.kubectl("drain", "node-5", "--ignore-daemonsets",
                                      "--pod-selector=app=guarded", "--timeout=10s",
                                      check=False, timeout=60)
        assert "evicted" in drained.stdout + drained.stderr
    finally:
        api_cluster.kubectl("uncordon", "node-5")
