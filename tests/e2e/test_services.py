"""Services on the live cluster through real kubectl: ClusterIPs and NodePorts allocated
without duplicates, EndpointSlices following pod readiness and capped at 100 endpoints, and
LoadBalancer ingress IPs assigned and freed. (Traffic over the overlay comes with the node
network.)"""

from __future__ import annotations

import ipaddress
import uuid

import pytest

from tests.e2e.test_workloads import get_json, wait_for


@pytest.fixture
def ns(api_cluster):
    name = f"s-{uuid.uuid4().hex[:6]}"
    api_cluster.kubectl("create", "namespace", name)
    yield name
    api_cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def slices(api_cluster, ns: str, service: str) -> list[dict]:
    return get_json(api_cluster, "endpointslices", "-n", ns, "-l",
                    f"kubernetes.io/service-name={service}")["items"]


def test_services_get_cluster_ips_and_node_ports_without_duplicates(api_cluster, ns):
    for i in range(5):
        api_cluster.kubectl("create", "service", "clusterip", f"c{i}", "-n", ns,
                            "--tcp=80:8080")
    api_cluster.kubectl("create", "service", "nodeport", "np", "-n", ns, "--tcp=80:8080")
    services = get_json(api_cluster, "services", "-n", ns)["items"]
    ips = [s["spec"]["clusterIP"] for s in services]
    assert len(set(ips)) == len(ips) == 6
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12") for ip in ips)
    node_port = next(s for s in services if s["metadata"]["name"] == "np")["spec"]["ports"][0][
        "nodePort"]
    assert 30000 <= node_port <= 32767
    kubernetes = get_json(api_cluster, "service", "kubernetes", "-n", "default")
    assert kubernetes["spec"]["clusterIP"] == "10.96.0.1"
    kube_dns = get_json(api_cluster, "service", "kube-dns", "-n", "kube-system")
    assert kube_dns["spec"]["clusterIP"] == "10.96.0.10"
    assert {(p["name"], p["port"], p["protocol"]) for p in kube_dns["spec"]["ports"]} == {
        ("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")}
    taken = api_cluster.kubectl("create", "-f", "-", check=False, input=f"""apiVersion: v1
kind: Service
metadata: {{name: dup, namespace: {ns}}}
spec: {{clusterIP: {ips[0]}, ports: [{{port: 80}}]}}
""")
    assert taken.returncode != 0
    assert "provided IP is already allocated" in taken.stderr


def test_endpoint_slices_follow_readiness_and_hold_at_most_100(api_cluster, ns):
    api_cluster.kubectl("apply", "-f", "-", input=f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: c
        image: nginx
        ports: [{{name: http, containerPort: 8080}}]
        readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http}}]
""")

    def ready_endpoints() -> list[dict] | None:
        eps = [e for s in slices(api_cluster, ns, "web") for e in s.get("endpoints") or ()]
        ready = [e for e in eps if e["conditions"].get("ready")]
        return ready if len(ready) == 3 else None

    endpoints = wait_for(ready_endpoints, timeout=90, what="3 ready endpoints")
    assert {e["targetRef"]["kind"] for e in endpoints} == {"Pod"}
    assert all(e.get("zone", "").startswith("zone-") and e.get("nodeName") for e in endpoints)
    assert slices(api_cluster, ns, "web")[0]["ports"][0]["port"] == 8080
    # a pod that goes unready leaves the ready endpoints
    pod = get_json(api_cluster, "pods", "-n", ns, "-l", "app=web")["items"][0]
    api_cluster.kubectl("delete", "pod", pod["metadata"]["name"], "-n", ns, "--wait=false")
    wait_for(lambda: pod["status"]["podIP"] not in {
        e["addresses"][0] for s in slices(api_cluster, ns, "web")
        for e in s.get("endpoints") or () if e["conditions"].get("ready")},
        what="the deleted pod no longer ready in the slices")

    api_cluster.kubectl("scale", "deployment/web", "-n", ns, "--replicas=250")

    def three_slices() -> list[dict] | None:
        got = slices(api_cluster, ns, "web")
        count = sum(len(s.get("endpoints") or ()) for s in got)
        return got if count == 250 else None

    got = wait_for(three_slices, timeout=180, what="250 endpoints")
    # as upstream, slices fill up to 100 and are not repacked as pods come and go
    assert len(got) == 3 and all(len(s["endpoints"]) <= 100 for s in got), \
        [len(s["endpoints"]) for s in got]
    api_cluster.kubectl("scale", "deployment/web", "-n", ns, "--replicas=0")


def test_a_load_balancer_gets_an_ingress_ip_that_is_freed(api_cluster, ns):
    api_cluster.kubectl("create", "service", "loadbalancer", "lb", "-n", ns, "--tcp=80:8080")
    svc = wait_for(lambda: (s := get_json(api_cluster, "service", "lb", "-n", ns))
                   and s.get("status", {}).get("loadBalancer", {}).get("ingress") and s,
                   what="an ingress IP")
    ip = svc["status"]["loadBalancer"]["ingress"][0]["ip"]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network("127.2.0.0/16")
    # (its EnsuringLoadBalancer/EnsuredLoadBalancer Events: tests/unit/controllers/
    # test_loadbalancer.py -- Events are best effort, so the shared cluster is no place to
    # wait for one)
    api_cluster.kubectl("delete", "service", "lb", "-n", ns)
    api_cluster.kubectl("create", "service", "loadbalancer", "lb2", "-n", ns, "--tcp=80:8080")
    again = wait_for(lambda: (s := get_json(api_cluster, "service", "lb2", "-n", ns))
                     and s.get("status", {}).get("loadBalancer", {}).get("ingress") and s,
                     what="an ingress IP for the second Service")
    assert again["status"]["loadBalancer"]["ingress"][0]["ip"]
