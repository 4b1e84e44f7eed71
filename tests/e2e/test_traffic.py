"""Traffic over the overlay between node actors: connections from a pod to a ClusterIP are
routed by the source node's kube-proxy to a backend, cross to the backend's node (a Ray call),
and the pod that answers names itself."""

from __future__ import annotations

import asyncio
import collections

import ray

from tests.e2e.test_workloads import get_json, wait_for


def node_actor(api_cluster, node: str):
    """The Ray actor serving `node`, as the Node says (a restarted node has a new actor)."""
    from kubemu.actors.runtime import namespace

    name = get_json(api_cluster, "node", node)["metadata"]["annotations"]["kubemu.io/actor"]
    return ray.get_actor(name, namespace=namespace(api_cluster.name))


def test_requests_to_a_cluster_ip_reach_every_backend(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 6
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: c, image: nginx, ports: [{{containerPort: 80}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 8000, targetPort: 80}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {ns}}}
spec:
  nodeSelector: {{topology.kubernetes.io/zone: zone-a}}
  containers: [{{name: c, image: busybox, command: [sleep, infinity]}}]
""")
    api_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s",
                        timeout=100)
    client = wait_for(lambda: (p := get_json(api_cluster, "pod", "client", "-n", ns))
                      and p["status"].get("podIP") and p, what="the client pod running")
    cluster_ip = get_json(api_cluster, "service", "web", "-n", ns)["spec"]["clusterIP"]
    backends = {p["metadata"]["name"] for p in get_json(
        api_cluster, "pods", "-n", ns, "-l", "app=web")["items"]}
    node = node_actor(api_cluster, client["spec"]["nodeName"])

    def programmed() -> bool:  # every node's kube-proxy has seen the Service's endpoints
        reply = ray.get(node.connect.remote(client["status"]["podIP"], cluster_ip, 8000))
        return reply["ok"]

    wait_for(programmed, what="the Service routed")

    async def send(count: int) -> list[dict]:
        return await asyncio.gather(*(
            node.connect.remote(client["status"]["podIP"], cluster_ip, 8000)
            for _ in range(count)))

    replies = asyncio.run(send(600))
    failed = [r for r in replies if not r["ok"]]
    assert not failed, failed[:3]
    served = collections.Counter(r["pod"] for r in replies)
    assert set(served) == backends, served
    assert {r["service"] for r in replies} == {f"{ns}/web"}
    assert {r["port"] for r in replies} == {80}
    assert len({r["node"] for r in replies}) > 1  # crossed between node actors

    refused = ray.get(node.connect.remote(client["status"]["podIP"], cluster_ip, 9999))
    assert refused["ok"] is False


def test_network_policy_default_deny_then_allow_by_label(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=f"""apiVersion: v1
kind: Pod
metadata: {{name: server, namespace: {ns}, labels: {{app: server}}}}
spec:
  containers: [{{name: c, image: nginx, ports: [{{containerPort: 80}}]}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: friend, namespace: {ns}, labels: {{role: friend}}}}
spec:
  containers: [{{name: c, image: busybox, command: [sleep, infinity]}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: stranger, namespace: {ns}}}
spec:
  containers: [{{name: c, image: busybox, command: [sleep, infinity]}}]
""")
    pods = {}
    for name in ("server", "friend", "stranger"):
        pods[name] = wait_for(lambda n=name: (p := get_json(api_cluster, "pod", n, "-n", ns))
                              and p["status"].get("phase") == "Running" and p,
                              what=f"{name} running")

    def dial(frm: str) -> dict:
        node = node_actor(api_cluster, pods[frm]["spec"]["nodeName"])
        return ray.get(node.connect.remote(pods[frm]["status"]["podIP"],
                                           pods["server"]["status"]["podIP"], 80))

    wait_for(lambda: dial("stranger")["ok"], what="open by default")
    api_cluster.kubectl("apply", "-f", "-", input=f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: deny, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{app: server}}}}
  policyTypes: [Ingress]
""")
    blocked = wait_for(lambda: (r := dial("stranger")) and not r["ok"] and r,
                       what="default deny applied")
    assert blocked["error"] == "timeout" and "network policy" in blocked["message"]
    assert not dial("friend")["ok"]
    api_cluster.kubectl("apply", "-f", "-", input=f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: friends, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{app: server}}}}
  ingress:
  - from: [{{podSelector: {{matchLabels: {{role: friend}}}}}}]
    ports: [{{port: 80}}]
""")
    wait_for(lambda: dial("friend")["ok"], what="the friend allowed")
    assert dial("friend")["pod"] == "server"
    assert not dial("stranger")["ok"]


def test_topology_aware_routing_keeps_traffic_in_zone_then_fails_over(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 6
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      topologySpreadConstraints:
      - {{maxSkew: 1, topologyKey: topology.kubernetes.io/zone,
          whenUnsatisfiable: DoNotSchedule, labelSelector: {{matchLabels: {{app: web}}}}}}
      containers: [{{name: c, image: nginx, ports: [{{containerPort: 80}}]}}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {ns}
  annotations: {{service.kubernetes.io/topology-mode: Auto}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {ns}}}
spec:
  nodeSelector: {{topology.kubernetes.io/zone: zone-a}}
  containers: [{{name: c, image: busybox, command: [sleep, infinity]}}]
""")
    api_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s",
                        timeout=100)
    client = wait_for(lambda: (p := get_json(api_cluster, "pod", "client", "-n", ns))
                      and p["status"].get("podIP") and p, what="the client running")
    cluster_ip = get_json(api_cluster, "service", "web", "-n", ns)["spec"]["clusterIP"]
    node = node_actor(api_cluster, client["spec"]["nodeName"])

    async def send(count: int) -> list[dict]:
        return await asyncio.gather(*(node.connect.remote(client["status"]["podIP"],
                                                          cluster_ip, 80)
                                      for _ in range(count)))

    def zones_served(count: int = 600) -> collections.Counter:
        """Which zone served each reply ("failed" for a failed connection)."""
        return collections.Counter(r["zone"] if r["ok"] else "failed"
                                   for r in asyncio.run(send(count)))

    def hinted() -> bool:
        eps = [e for s in get_json(api_cluster, "endpointslices", "-n", ns, "-l",
                                   "kubernetes.io/service-name=web")["items"]
               for e in s.get("endpoints") or ()]
        return len(eps) == 6 and all(e.get("hints") for e in eps)

    wait_for(hinted, what="topology hints on every endpoint")
    wait_for(lambda: set(zones_served(60)) == {"zone-a"}, what="kube-proxy using the hints")
    assert zones_served() == collections.Counter({"zone-a": 600})

    # zone a loses its backends: hints no longer cover it, and traffic fails over
    zone_a = [n["metadata"]["name"] for n in get_json(api_cluster, "nodes")["items"]
              if n["metadata"]["labels"]["topology.kubernetes.io/zone"] == "zone-a"]
    api_cluster.kubectl("scale", "deployment/web", "-n", ns, "--replicas=0")
    wait_for(lambda: not get_json(api_cluster, "pods", "-n", ns, "-l", "app=web")["items"],
             what="backends gone")
    api_cluster.kubectl("patch", "deployment", "web", "-n", ns, "--type=merge", "-p",
                        '{"spec":{"template":{"spec":{"topologySpreadConstraints":null,'
                        '"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuring'
                        'Execution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":'
                        '"topology.kubernetes.io/zone","operator":"NotIn","values":'
                        '["zone-a"]}]}]}}}}}}}')
    api_cluster.kubectl("scale", "deployment/web", "-n", ns, "--replicas=4")
    api_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s",
                        timeout=100)
    wait_for(lambda: set(zones_served(60)) <= {"zone-b", "zone-c"},
             what="traffic served outside zone-a")
    served = zones_served()
    assert set(served) <= {"zone-b", "zone-c"} and sum(served.values()) == 600, served
    assert zone_a  # the zone had nodes all along: only its backends went


def test_curl_to_a_node_port_from_the_host_answers_from_a_pod(api_cluster, ns):
    import json
    import subprocess
    import urllib.error
    import urllib.request

    api_cluster.kubectl("apply", "-f", "-", input=f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: c, image: nginx, ports: [{{containerPort: 80}}]}}]
""")
    api_cluster.kubectl("expose", "deployment", "web", "-n", ns, "--type=NodePort",
                        "--port=80")
    api_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s",
                        timeout=100)
    port = get_json(api_cluster, "service", "web", "-n", ns)["spec"]["ports"][0]["nodePort"]
    nodes = get_json(api_cluster, "nodes")["items"]
    address = next(a["address"] for a in nodes[0]["status"]["addresses"]
                   if a["type"] == "InternalIP")
    backends = {p["metadata"]["name"] for p in get_json(
        api_cluster, "pods", "-n", ns, "-l", "app=web")["items"]}

    def curl() -> dict | None:
        done = subprocess.run(["curl", "-s", "--max-time", "5", f"http://{address}:{port}/"],
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0 or not done.stdout.strip():
            return None
        reply = json.loads(done.stdout)
        return reply if reply.get("ok") else None

    reply = wait_for(curl, what=f"curl http://{address}:{port}/ answering")
    assert reply["pod"] in backends and reply["service"] == f"{ns}/web"

    api_cluster.kubectl("delete", "service", "web", "-n", ns)

    def closed() -> bool:
        try:
            urllib.request.urlopen(f"http://{address}:{port}/", timeout=3)
        except (ConnectionRefusedError, urllib.error.URLError) as exc:
            return "refused" in str(exc).lower()
        return False

    wait_for(closed, what="the node port closed after the Service went")


def test_a_load_balancer_ip_answers_curl_until_the_service_goes(api_cluster, ns):
    import json
    import subprocess

    api_cluster.kubectl("apply", "-f", "-", input=f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: c, image: nginx, ports: [{{containerPort: 80}}]}}]
""")
    api_cluster.kubectl("expose", "deployment", "web", "-n", ns, "--type=LoadBalancer",
                        "--port=8080", "--target-port=80")
    svc = wait_for(lambda: (s := get_json(api_cluster, "service", "web", "-n", ns))
                   and s.get("status", {}).get("loadBalancer", {}).get("ingress") and s,
                   what="an ingress IP")
    ip = svc["status"]["loadBalancer"]["ingress"][0]["ip"]

    def curl() -> dict | None:
        done = subprocess.run(["curl", "-s", "--max-time", "5", f"http://{ip}:8080/"],
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0 or not done.stdout.strip():
            return None
        reply = json.loads(done.stdout)
        return reply if reply.get("ok") else None

    reply = wait_for(curl, timeout=90, what=f"curl http://{ip}:8080/ answering")
    assert reply["service"] == f"{ns}/web" and reply["port"] == 80
    api_cluster.kubectl("delete", "service", "web", "-n", ns)
    wait_for(lambda: subprocess.run(["curl", "-s", "--max-time", "3", f"http://{ip}:8080/"],
                                    capture_output=True, timeout=30).returncode == 7,
             what="nothing listening on the ingress IP any more (curl exit 7)")
