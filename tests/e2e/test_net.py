"""`kubemu net` and `kubemu.actors.net.Overlay`: traffic over the overlay from a pod or a
node, by Service name or IP, over http:// and tcp://, and cluster-wide link faults.

The CLI runs as a user runs it, a subprocess (`python -m kubemu.actors.cli net ...
--kubeconfig <file>`) that joins the session's Ray (found through cluster.json's pid); the
Python API runs here, on the session's Ray. One namespace serves the module: a 3-replica
Deployment `web` behind Service `web`, a client pod in zone-a and one server pod in zone-b and
one in zone-c. Link faults are healed after each test that sets them (the cluster is shared).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

import pytest

from tests.e2e.test_workloads import get_json, wait_for


@pytest.fixture(scope="module")
def net_ns(api_cluster):
    ns = f"net-{uuid.uuid4().hex[:6]}"
    api_cluster.kubectl("create", "namespace", ns)
    api_cluster.kubectl("apply", "-f", "-", input=_manifests(ns))
    api_cluster.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=120s",
                        timeout=130)
    for pod in ("client", "server-b", "server-c"):
        wait_for(lambda p=pod: (o := get_json(api_cluster, "pod", p, "-n", ns))
                 and o["status"].get("phase") == "Running" and o["status"].get("podIP"),
                 timeout=120, what=f"pod {pod} running")
    # every node's kube-proxy routes the Service before the tests start
    wait_for(lambda: _curl_api(api_cluster, "http://web/", from_pod="client",
                               namespace=ns)["ok"], timeout=120, what="Service web routed")
    yield ns
    api_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def kubemu(api_cluster, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubemu.actors.cli", "net", *args,
                           "--kubeconfig", api_cluster.kubeconfig],
                          capture_output=True, text=True, timeout=timeout, check=False)


def overlay_call(api_cluster, method: str, *args, **kwargs):
    """Run one Overlay method on the session's Ray with a fresh API client."""
    from kubemu.actors.net import Overlay

    async def go():
        async with api_cluster.client() as client:
            return await getattr(Overlay(api_cluster.name, client), method)(*args, **kwargs)

    return asyncio.run(go())


def _curl_api(api_cluster, url: str, **kwargs) -> dict:
    return overlay_call(api_cluster, "curl", url, **kwargs)


def pod(api_cluster, ns: str, name: str) -> dict:
    return get_json(api_cluster, "pod", name, "-n", ns)


def backends(api_cluster, ns: str) -> set[str]:
    return {p["metadata"]["name"] for p in get_json(api_cluster, "pods", "-n", ns, "-l",
                                                    "app=web")["items"]}


def test_curl_a_service_by_name_from_a_pod_prints_the_reply(api_cluster, net_ns):
    done = kubemu(api_cluster, "curl", "--from", "client", "-n", net_ns, "http://web/")
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["ok"] and reply["service"] == f"{net_ns}/web"
    assert reply["pod"] in backends(api_cluster, net_ns)


@pytest.mark.parametrize("host", [
    pytest.param("web", id="short-name"),
    pytest.param("web.{ns}", id="name-namespace"),
    pytest.param("web.{ns}.svc", id="name-namespace-svc"),
    pytest.param("web.{ns}.svc.cluster.local", id="fqdn"),
    pytest.param("web.{ns}.svc.cluster.local.", id="fqdn-absolute"),
])
def test_service_names_resolve_like_a_pods_search_path(api_cluster, net_ns, host):
    reply = _curl_api(api_cluster, f"http://{host.format(ns=net_ns)}/", from_pod="client",
                      namespace=net_ns)
    assert reply["ok"] and reply["service"] == f"{net_ns}/web", reply


def test_curl_a_cluster_ip_from_a_node_is_host_traffic(api_cluster, net_ns):
    ip = get_json(api_cluster, "service", "web", "-n", net_ns)["spec"]["clusterIP"]
    done = kubemu(api_cluster, "curl", "--node", "node-2", f"http://{ip}:80/")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["service"] == f"{net_ns}/web"


def test_count_prints_a_table_naming_every_backend(api_cluster, net_ns):
    done = kubemu(api_cluster, "curl", "--from", "client", "-n", net_ns, "--count", "60",
                  "http://web/")
    assert done.returncode == 0, done.stderr
    assert "60 requests: 60 ok, 0 failed" in done.stdout
    for name in backends(api_cluster, net_ns):
        assert name in done.stdout


def test_a_refused_connection_is_one_line_and_exit_7(api_cluster, net_ns):
    ip = pod(api_cluster, net_ns, "server-b")["status"]["podIP"]  # nothing on port 9999
    done = kubemu(api_cluster, "curl", "--from", "client", "-n", net_ns, f"http://{ip}:9999/")
    assert done.returncode == 7, done.stdout + done.stderr
    assert done.stderr.startswith("error: connection refused")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args, code, message", [
    pytest.param(["http://no-such-service/"], 6, "Could not resolve host: no-such-service",
                 id="unknown-host"),
    pytest.param(["--from", "ghost", "http://10.96.0.1/"], 1, 'pods "ghost" not found',
                 id="unknown-pod"),
    pytest.param(["ftp://web/"], 1, "unsupported protocol", id="bad-scheme"),
    pytest.param(["tcp://web/"], 1, "tcp:// needs a port", id="tcp-without-port"),
])
def test_bad_requests_are_one_line_errors(api_cluster, net_ns, args, code, message):
    done = kubemu(api_cluster, "curl", "-n", net_ns, *args)
    assert done.returncode == code, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_tcp_echoes_the_payload(api_cluster, net_ns):
    done = kubemu(api_cluster, "curl", "--from", "client", "-n", net_ns, "--data", "hello",
                  "tcp://web:80")
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["echo"] == "hello" and reply["service"] == f"{net_ns}/web"


def test_headless_and_external_names_resolve_through_cluster_dns(api_cluster, net_ns):
    from kubemu.actors.net import ResolveError

    api_cluster.kubectl("apply", "-f", "-", input=f"""apiVersion: v1
kind: Service
metadata: {{name: ext, namespace: {net_ns}}}
spec: {{type: ExternalName, externalName: nothing.invalid}}
---
apiVersion: v1
kind: Service
metadata: {{name: headless, namespace: {net_ns}}}
spec: {{clusterIP: None, selector: {{app: web}}, ports: [{{port: 80}}]}}
""")
    def resolved() -> dict | None:  # NXDOMAIN until the slice and then DNS catch up
        try:
            reply = _curl_api(api_cluster, "http://headless/", from_pod="client",
                              namespace=net_ns)
        except ResolveError:
            return None
        return reply if reply["ok"] else None

    reply = wait_for(resolved, timeout=60, what="the headless Service resolved to an endpoint")
    assert reply["pod"] in backends(api_cluster, net_ns)
    with pytest.raises(ResolveError, match="Could not resolve host: ext"):
        _curl_api(api_cluster, "http://ext/", from_pod="client", namespace=net_ns)


def test_partition_cuts_zone_a_from_zone_b_only_until_healed(api_cluster, net_ns):
    ip_b = pod(api_cluster, net_ns, "server-b")["status"]["podIP"]
    ip_c = pod(api_cluster, net_ns, "server-c")["status"]["podIP"]

    def curl(ip: str) -> subprocess.CompletedProcess:
        return kubemu(api_cluster, "curl", "--from", "client", "-n", net_ns, f"http://{ip}/")

    assert curl(ip_b).returncode == 0
    try:
        done = kubemu(api_cluster, "partition", "--zones", "zone-a,zone-b")
        assert done.returncode == 0, done.stderr
        cut = curl(ip_b)
        assert cut.returncode == 28, cut.stdout + cut.stderr
        assert cut.stderr.startswith("error: connection timed out")
        assert json.loads(curl(ip_c).stdout)["pod"] == "server-c"
    finally:
        healed = kubemu(api_cluster, "heal")
    assert healed.returncode == 0, healed.stderr
    assert json.loads(curl(ip_b).stdout)["pod"] == "server-b"


def test_full_loss_on_a_zone_drops_its_cross_zone_traffic(api_cluster, net_ns):
    ip_b = pod(api_cluster, net_ns, "server-b")["status"]["podIP"]
    try:
        overlay_call(api_cluster, "loss", 1.0, zone="a")  # short zone name: zone-a
        replies = overlay_call(api_cluster, "send", f"http://{ip_b}/", count=20,
                               from_pod="client", namespace=net_ns)
        assert [r["error"] for r in replies] == ["timeout"] * 20
    finally:
        overlay_call(api_cluster, "heal")
    assert _curl_api(api_cluster, f"http://{ip_b}/", from_pod="client",
                     namespace=net_ns)["ok"]


@pytest.mark.parametrize("args", [
    pytest.param(["latency", "--zone", "zone-a", "fast"], id="bad-duration"),
    pytest.param(["loss", "--zone", "zone-a", "150%"], id="loss-over-100"),
    pytest.param(["partition", "--zones", "zone-a"], id="one-zone-of-a-pair"),
    pytest.param(["latency", "50ms"], id="no-links-named"),
])
def test_bad_fault_values_are_usage_errors(api_cluster, args):
    done = kubemu(api_cluster, *args, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def _manifests(ns: str) -> str:
    def server(name: str, zone: str) -> str:
        return f"""---
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}}}
spec:
  nodeSelector: {{topology.kubernetes.io/zone: {zone}}}
  containers: [{{name: c, image: nginx, ports: [{{containerPort: 80}}]}}]
"""
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 3
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
  ports: [{{port: 80}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {ns}}}
spec:
  nodeSelector: {{topology.kubernetes.io/zone: zone-a}}
  containers: [{{name: c, image: busybox, command: [sleep, infinity]}}]
{server("server-b", "zone-b")}{server("server-c", "zone-c")}"""
