"""Traffic policies on the live cluster (issue 7 acceptance): externalTrafficPolicy Local seen
through `curl` at node ports, sessionAffinity ClientIP, unready and terminating endpoints,
NetworkPolicy egress with ipBlock, and zone partitions set on every node actor. Setup goes
through real kubectl; traffic through node actors' `connect` (the overlay) or `curl` (the
host listeners)."""

from __future__ import annotations

import asyncio
import collections
import json
import subprocess

import ray
from kubemu.actors.runtime import namespace

from tests.e2e.test_traffic import node_actor
from tests.e2e.test_workloads import get_json, wait_for


def test_external_traffic_policy_local_forwards_only_from_nodes_with_an_endpoint(
        api_cluster, ns):
    nodes = {n["metadata"]["name"]: internal_ip(n) for n in get_json(api_cluster,
                                                                     "nodes")["items"]}
    home = min(set(nodes) - {min(nodes)})  # node-2
    api_cluster.kubectl("apply", "-f", "-", input=f"""apiVersion: v1
kind: Pod
metadata: {{name: server, namespace: {ns}, labels: {{app: web}}}}
spec:
  nodeSelector: {{kubernetes.io/hostname: {home}}}
  containers: [{{name: c, image: nginx, ports: [{{containerPort: 80}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {{app: web}}
  ports: [{{port: 80}}]
""")
    running(api_cluster, ns, "server")
    port = get_json(api_cluster, "service", "web", "-n", ns)["spec"]["ports"][0]["nodePort"]
    reply = wait_for(lambda: (r := curl(f"http://{nodes[home]}:{port}/")) and r[0] == 200
                     and r, timeout=90, what=f"the node port answering on {home}")
    assert reply[1]["pod"] == "server" and reply[1]["service"] == f"{ns}/web"
    for name in sorted(set(nodes) - {home}):  # no local endpoint: the node drops it
        status, body = wait_for(lambda a=nodes[name]: (r := curl(f"http://{a}:{port}/"))
                                and r[0] != 0 and r, what=f"{name} listening on {port}")
        assert (status, body["ok"], body["error"]) == (504, False, "timeout"), (name, body)

    # a LoadBalancer with externalTrafficPolicy Local gets a healthCheckNodePort (upstream)
    api_cluster.kubectl("patch", "service", "web", "-n", ns, "-p",
                        '{"spec":{"type":"LoadBalancer"}}')
    spec = get_json(api_cluster, "service", "web", "-n", ns)["spec"]
    assert spec["ports"][0]["nodePort"] == port
    assert 30000 <= spec["healthCheckNodePort"] <= 32767
    assert spec["healthCheckNodePort"] != port
    # ...which a cloud load balancer uses to send only to nodes with a local endpoint:
    # every node listens on the ingress IP, so each connection tries some node's listener
    ingress = wait_for(lambda: get_json(api_cluster, "service", "web", "-n", ns).get(
        "status", {}).get("loadBalancer", {}).get("ingress"), what="an ingress IP")
    lb = f"http://{ingress[0]['ip']}:80/"
    wait_for(lambda: curl(lb)[0] == 200, timeout=90, what=f"{lb} answering")
    answers = collections.Counter(curl(lb)[0] for _ in range(24))
    assert answers == {200: 24}, answers

    api_cluster.kubectl("patch", "service", "web", "-n", ns, "-p",
                        '{"spec":{"externalTrafficPolicy":"Cluster"}}')
    assert "healthCheckNodePort" not in get_json(api_cluster, "service", "web", "-n",
                                                 ns)["spec"]
    for name, address in sorted(nodes.items()):  # Cluster: every node forwards
        status, body = wait_for(lambda a=address: (r := curl(f"http://{a}:{port}/"))
                                and r[0] == 200 and r, what=f"{name} forwarding")
        assert body["pod"] == "server"


def test_session_affinity_client_ip_pins_each_client_to_one_backend(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=f"""{deployment("web", ns, replicas=6)}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80}}]
---
{client_pod("client-1", ns)}
---
{client_pod("client-2", ns)}
""")
    api_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s",
                        timeout=100)
    cluster_ip = get_json(api_cluster, "service", "web", "-n", ns)["spec"]["clusterIP"]
    backends = pod_names(api_cluster, ns, "app=web")
    clients = [running(api_cluster, ns, name) for name in ("client-1", "client-2")]
    for client in clients:  # without affinity, each client's node spreads over all 6
        wait_for(lambda c=client: served_by(api_cluster, c, cluster_ip, 80, 60) == backends,
                 timeout=90, what="traffic spread over the 6 backends")
    api_cluster.kubectl("patch", "service", "web", "-n", ns, "-p",
                        '{"spec":{"sessionAffinity":"ClientIP"}}')
    for client in clients:  # each pinned to one backend (both to the same one by chance)
        wait_for(lambda c=client: len(served_by(api_cluster, c, cluster_ip, 80, 20)) == 1,
                 timeout=90, what="affinity programmed on the client's node")
        replies = send(api_cluster, client, cluster_ip, 80, count=100)
        assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]][:3]
        served = collections.Counter(r["pod"] for r in replies)
        assert len(served) == 1 and set(served) <= backends, served
        assert {r["service"] for r in replies} == {f"{ns}/web"}


def test_an_unready_pod_leaves_the_endpoints_and_gets_no_traffic(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=f"""{deployment("web", ns, replicas=3,
                                                              labels="tier: backend")}
---
apiVersion: v1
kind: Pod
metadata: {{name: sick, namespace: {ns}, labels: {{tier: backend}}}}
spec:
  containers:
  - name: c
    image: nginx
    ports: [{{containerPort: 80}}]
    readinessProbe: {{exec: {{command: ["false"]}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  selector: {{tier: backend}}
  ports: [{{port: 80}}]
---
{client_pod("client", ns)}
""")
    api_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s",
                        timeout=100)
    sick = running(api_cluster, ns, "sick")
    client = running(api_cluster, ns, "client")
    cluster_ip = get_json(api_cluster, "service", "web", "-n", ns)["spec"]["clusterIP"]
    endpoints = wait_for(lambda: (eps := endpoints_of(api_cluster, ns, "web"))
                         and len(eps) == 4 and eps, what="4 endpoints in the slices")
    conditions = endpoints[sick["status"]["podIP"]]["conditions"]
    assert conditions["ready"] is False and conditions["serving"] is False, conditions
    ready = {e["targetRef"]["name"] for e in endpoints.values() if e["conditions"]["ready"]}
    assert ready == pod_names(api_cluster, ns, "app=web")
    wait_for(lambda: served_by(api_cluster, client, cluster_ip, 80, 60) == ready,
             timeout=90, what="the client's node routing to the 3 ready backends")
    replies = send(api_cluster, client, cluster_ip, 80, count=300)
    assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]][:3]
    assert set(collections.Counter(r["pod"] for r in replies)) == ready
    # the pod itself still answers when dialled directly: only the Service leaves it out
    direct = ray.get(node_actor(api_cluster, client["spec"]["nodeName"]).connect.remote(
        client["status"]["podIP"], sick["status"]["podIP"], 80))
    assert direct["ok"] and direct["pod"] == "sick", direct


def test_a_terminating_pod_drains_then_serves_as_the_last_resort(api_cluster, ns):
    # preStop keeps each server up 40 s (wall, at time scale 10) after its deletion
    api_cluster.kubectl("apply", "-f", "-", input=f"""{deployment(
        "web", ns, replicas=2, grace=1000, pre_stop=400)}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80}}]
---
{client_pod("client", ns)}
""")
    api_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s",
                        timeout=100)
    client = running(api_cluster, ns, "client")
    cluster_ip = get_json(api_cluster, "service", "web", "-n", ns)["spec"]["clusterIP"]
    wait_for(lambda: len(served_by(api_cluster, client, cluster_ip, 80, 30)) == 2,
             timeout=90, what="both backends routed")
    first = min(pod_names(api_cluster, ns, "app=web"))
    first_ip = get_json(api_cluster, "pod", first, "-n", ns)["status"]["podIP"]
    api_cluster.kubectl("delete", "pod", first, "-n", ns, "--wait=false")

    def drained() -> dict | None:
        ep = endpoints_of(api_cluster, ns, "web").get(first_ip)
        return ep if ep and ep["conditions"] == {
            "ready": False, "serving": True, "terminating": True} else None

    wait_for(drained, what=f"{first} ready=false serving=true terminating=true")
    wait_for(lambda: first not in served_by(api_cluster, client, cluster_ip, 80, 30),
             what=f"the client's kube-proxy leaving {first} out")
    replies = send(api_cluster, client, cluster_ip, 80, count=200)
    assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]][:3]
    assert first not in {r["pod"] for r in replies}
    assert get_json(api_cluster, "pod", first, "-n", ns)["metadata"].get("deletionTimestamp")

    # no ready endpoint left: kube-proxy falls back to the serving, terminating ones
    api_cluster.kubectl("scale", "deployment/web", "-n", ns, "--replicas=0")

    def all_terminating() -> dict | None:
        eps = endpoints_of(api_cluster, ns, "web")
        return eps if eps and all(e["conditions"] == {
            "ready": False, "serving": True, "terminating": True}
            for e in eps.values()) else None

    terminating = wait_for(all_terminating, what="only terminating endpoints")
    names = {e["targetRef"]["name"] for e in terminating.values()}
    replies = send(api_cluster, client, cluster_ip, 80, count=100)
    assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]][:3]
    assert {r["pod"] for r in replies} <= names
    # ...until they are gone: then the Service has no endpoints and refuses (a pod that
    # stopped before its endpoint left the slice times out meanwhile, as upstream)
    seen: list[dict] = []

    def refused() -> bool:
        seen.append(reply := send(api_cluster, client, cluster_ip, 80, count=1)[0])
        return reply.get("error") == "refused"

    wait_for(refused, timeout=180, what="the Service refusing once its endpoints are gone")
    assert {r["pod"] for r in seen if r["ok"]} <= names


def test_egress_policies_hold_for_ip_blocks_and_for_service_backends(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=f"""{server_pod("server-1", ns)}
---
{server_pod("server-2", ns)}
---
apiVersion: v1
kind: Service
metadata: {{name: one, namespace: {ns}}}
spec:
  selector: {{app: server-1}}
  ports: [{{port: 8080, targetPort: 80}}]
---
{client_pod("limited", ns, labels="{role: limited}")}
---
{client_pod("locked", ns, labels="{role: locked}")}
""")
    pods = {name: running(api_cluster, ns, name)
            for name in ("server-1", "server-2", "limited", "locked")}
    cluster_ip = get_json(api_cluster, "service", "one", "-n", ns)["spec"]["clusterIP"]

    def dial(frm: str, ip: str, port: int = 80) -> dict:
        node = node_actor(api_cluster, pods[frm]["spec"]["nodeName"])
        return ray.get(node.connect.remote(pods[frm]["status"]["podIP"], ip, port))

    ip1, ip2 = (pods[s]["status"]["podIP"] for s in ("server-1", "server-2"))
    for frm in ("limited", "locked"):
        wait_for(lambda f=frm: dial(f, ip1)["ok"] and dial(f, ip2)["ok"]
                 and dial(f, cluster_ip, 8080)["ok"], timeout=90, what=f"{frm} open")
    api_cluster.kubectl("apply", "-f", "-", input=f"""apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: ip-block, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{role: limited}}}}
  policyTypes: [Egress]
  egress:
  - to: [{{ipBlock: {{cidr: 10.244.0.0/16, except: ["{ip2}/32"]}}}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: deny-egress, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{role: locked}}}}
  policyTypes: [Egress]
""")
    blocked = wait_for(lambda: (r := dial("limited", ip2)) and not r["ok"] and r,
                       what="the except range blocked")
    assert blocked["error"] == "timeout" and "network policy" in blocked["message"]
    assert dial("limited", ip1)["pod"] == "server-1"
    assert dial("limited", cluster_ip, 8080)["pod"] == "server-1"  # checked after DNAT
    denied = wait_for(lambda: (r := dial("locked", cluster_ip, 8080)) and not r["ok"] and r,
                      what="egress default deny on the Service's backend")
    assert denied["error"] == "timeout" and "network policy" in denied["message"]
    assert not dial("locked", ip1)["ok"] and not dial("locked", ip2)["ok"]


def test_a_zone_partition_on_every_node_actor_cuts_only_that_link(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=f"""{client_pod("client", ns,
                                                               zone="zone-a")}
---
{server_pod("server-b", ns, zone="zone-b")}
---
{server_pod("server-c", ns, zone="zone-c")}
""")
    pods = {name: running(api_cluster, ns, name) for name in ("client", "server-b",
                                                              "server-c")}

    def dial(server: str, frm: str = "client") -> dict:
        node = node_actor(api_cluster, pods[frm]["spec"]["nodeName"])
        return ray.get(node.connect.remote(pods[frm]["status"]["podIP"],
                                           pods[server]["status"]["podIP"], 80))

    wait_for(lambda: dial("server-b")["ok"] and dial("server-c")["ok"], timeout=90,
             what="both zones reachable")
    names = {n["metadata"]["annotations"]["kubemu.io/actor"]
             for n in get_json(api_cluster, "nodes")["items"]}  # a pool hosts several nodes
    actors = [ray.get_actor(name, namespace=namespace(api_cluster.name)) for name in names]
    try:
        ray.get([a.links.remote("partition", "zone-a", "zone-b") for a in actors])
        cut = dial("server-b")
        assert cut["ok"] is False and cut["error"] == "timeout", cut
        assert "partition zone-a|zone-b" in cut["message"], cut
        assert dial("server-c")["pod"] == "server-c"
        # zone-b's node holds the partition too: its way back to zone-a is cut as well
        back = dial("client", frm="server-b")  # the client listens nowhere: refused if open
        assert back["error"] == "timeout" and "partition" in back["message"], back
    finally:
        ray.get([a.links.remote("heal") for a in actors])
    assert dial("server-b")["pod"] == "server-b"
    assert dial("client", frm="server-b")["error"] == "refused"


# ---- helpers --------------------------------------------------------------------------------

def deployment(name: str, ns: str, *, replicas: int, labels: str = "",
               grace: int | None = None, pre_stop: int | None = None) -> str:
    """A Deployment of nginx servers on port 80 labelled app=<name> (and `labels`)."""
    extra = f"\n      terminationGracePeriodSeconds: {grace}" if grace is not None else ""
    hook = (f", lifecycle: {{preStop: {{exec: {{command: [sleep, '{pre_stop}']}}}}}}"
            if pre_stop is not None else "")
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}{", " + labels if labels else ""}}}}}
    spec:{extra}
      containers: [{{name: c, image: nginx, ports: [{{containerPort: 80}}]{hook}}}]"""


def client_pod(name: str, ns: str, *, labels: str = "{}", zone: str = "") -> str:
    selector = f"\n  nodeSelector: {{topology.kubernetes.io/zone: {zone}}}" if zone else ""
    return f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}, labels: {labels}}}
spec:{selector}
  containers: [{{name: c, image: busybox, command: [sleep, infinity]}}]"""


def server_pod(name: str, ns: str, *, zone: str = "") -> str:
    selector = f"\n  nodeSelector: {{topology.kubernetes.io/zone: {zone}}}" if zone else ""
    return f"""apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}, labels: {{app: {name}}}}}
spec:{selector}
  containers: [{{name: c, image: nginx, ports: [{{containerPort: 80}}]}}]"""


def running(api_cluster, ns: str, name: str) -> dict:
    return wait_for(lambda: (p := get_json(api_cluster, "pod", name, "-n", ns))
                    and p["status"].get("phase") == "Running" and p["status"].get("podIP")
                    and p, timeout=90, what=f"{name} running")


def internal_ip(node: dict) -> str:
    return next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")


def pod_names(api_cluster, ns: str, selector: str) -> set[str]:
    return {p["metadata"]["name"] for p in get_json(api_cluster, "pods", "-n", ns, "-l",
                                                    selector)["items"]}


def endpoints_of(api_cluster, ns: str, service: str) -> dict[str, dict]:
    """The Service's slice endpoints by address."""
    return {e["addresses"][0]: e for s in get_json(
        api_cluster, "endpointslices", "-n", ns, "-l",
        f"kubernetes.io/service-name={service}")["items"] for e in s.get("endpoints") or ()}


def send(api_cluster, client: dict, ip: str, port: int, *, count: int) -> list[dict]:
    """`count` concurrent connections from the client pod to ip:port, over its node actor."""
    node = node_actor(api_cluster, client["spec"]["nodeName"])

    async def burst() -> list[dict]:
        return await asyncio.gather(*(node.connect.remote(client["status"]["podIP"], ip,
                                                          port) for _ in range(count)))

    return asyncio.run(burst())


def served_by(api_cluster, client: dict, ip: str, port: int, count: int) -> set[str]:
    """The pods that answered `count` connections (failed ones left out)."""
    return {r["pod"] for r in send(api_cluster, client, ip, port, count=count) if r["ok"]}


def curl(url: str) -> tuple[int, dict]:
    """(HTTP status, JSON body) of a GET with real curl; (0, {}) when nothing answers."""
    done = subprocess.run(["curl", "-s", "--max-time", "10", "-w", "\n%{http_code}", url],
                          capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        return 0, {}
    body, _, status = done.stdout.rpartition("\n")
    try:
        return int(status), json.loads(body) if body.strip() else {}
    except ValueError:
        return 0, {}
