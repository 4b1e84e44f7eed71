"""The cluster DNS on the session cluster, asked by real clients: `dig` (bind9-dnsutils) over
UDP and TCP, aiodns, and `kubemu net curl` resolving through a pod's search path.

One namespace serves the module: Deployment `web` (2 nginx pods) behind Services `web` (named
port `http`), `plain` (an unnamed port), `my-svc` and headless `hl`; StatefulSet `db` under
its headless governing Service `db`; ExternalName `alias` -> `my-svc`; a selector-less
headless Service `big` with a hand-written EndpointSlice of 100 ready endpoints (too many for
one UDP answer); and a client pod. The DNS listens on an ephemeral host port
(`api_cluster.info.dns`). Changes are waited for with generous deadlines; how fast they
propagate is the benchmark's business, not a test's.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace

import aiodns
import pytest
from dnslib import DNSRecord

from tests.e2e.test_workloads import get_json, wait_for

ZONE = "cluster.local"


@dataclass
class Dig:
    """What `dig` printed: the header's status and flags, and its sections' records."""

    status: str = ""
    flags: set[str] = field(default_factory=set)
    sections: dict[str, list[list[str]]] = field(default_factory=dict)
    text: str = ""

    def records(self, section: str = "ANSWER") -> list[tuple[str, str]]:
        """(type, rdata) of a section's records, sorted."""
        return sorted((r[3], " ".join(r[4:])) for r in self.sections.get(section, []))


def dig(server: str, *args: str) -> Dig:
    """Run `dig @host -p port ARGS` (one try, 5 s) and parse its output."""
    host, _, port = server.rpartition(":")
    done = subprocess.run(["dig", f"@{host}", "-p", port, "+tries=1", "+time=5", *args],
                          capture_output=True, text=True, timeout=30, check=False)
    out, section = Dig(text=done.stdout + done.stderr), None
    for line in done.stdout.splitlines():
        if "->>HEADER<<-" in line:
            out.status = line.split("status:")[1].split(",")[0].strip()
        elif line.startswith(";; flags:"):
            out.flags = set(line.split(":")[1].split(";")[0].split())
        elif line.startswith(";; ") and line.endswith(" SECTION:"):
            section = line[3:-len(" SECTION:")]
            out.sections[section] = []
        elif not line.strip():
            section = None
        elif section and section != "QUESTION" and not line.startswith(";"):
            out.sections[section].append(line.split())
    return out


@pytest.fixture(scope="module")
def world(api_cluster):
    """The module's namespace, ready, and what the tests compare answers to."""
    dns = api_cluster.info.dns
    assert dns, "the session cluster runs no DNS"
    ns = f"dns-{uuid.uuid4().hex[:6]}"
    api_cluster.kubectl("create", "namespace", ns)
    api_cluster.kubectl("apply", "-f", "-", input=_manifests(ns))
    for kind in ("deployment/web", "statefulset/db"):
        api_cluster.kubectl("rollout", "status", kind, "-n", ns, "--timeout=180s",
                            timeout=190)
    client = wait_for(lambda: (p := get_json(api_cluster, "pod", "client", "-n", ns))
                      ["status"].get("phase") == "Running" and p["status"].get("podIP")
                      and p, timeout=120, what="client pod running")
    pods = get_json(api_cluster, "pods", "-n", ns, "-l", "app=web")["items"]
    web_ips = sorted(p["status"]["podIP"] for p in pods)
    hl = f"hl.{ns}.svc.{ZONE}"
    wait_for(lambda: [ip for _, ip in dig(dns, hl).records()] == web_ips, timeout=120,
             what="both web pods behind the headless Service")
    db0 = get_json(api_cluster, "pod", "db-0", "-n", ns)["status"]["podIP"]
    wait_for(lambda: dig(dns, f"db-0.db.{ns}.svc.{ZONE}").records() == [("A", db0)],
             timeout=120, what="db-0's hostname record")
    wait_for(lambda: len(dig(dns, f"big.{ns}.svc.{ZONE}").records()) == 100, timeout=120,
             what="100 endpoints of big")
    yield SimpleNamespace(
        dns=dns, ns=ns, web_ips=web_ips, db0=db0, client=client["status"]["podIP"],
        ip={name: get_json(api_cluster, "service", name, "-n", ns)["spec"]["clusterIP"]
            for name in ("web", "plain", "my-svc")},
        backends={p["metadata"]["name"] for p in pods})
    api_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


# (query args with {ns} and friends, status, expected ANSWER as (type, rdata) templates)
RECORD_FORMS = [
    pytest.param(["web.{ns}.svc.cluster.local"], "NOERROR", [("A", "{web}")],
                 id="service-a"),
    pytest.param(["_http._tcp.web.{ns}.svc.cluster.local", "SRV"], "NOERROR",
                 [("SRV", "0 100 80 web.{ns}.svc.cluster.local.")], id="srv-named-port"),
    pytest.param(["plain.{ns}.svc.cluster.local", "SRV"], "NOERROR", [],
                 id="no-srv-for-an-unnamed-port"),
    pytest.param(["_http._tcp.plain.{ns}.svc.cluster.local", "SRV"], "NXDOMAIN", [],
                 id="no-srv-name-for-an-unnamed-port"),
    pytest.param(["hl.{ns}.svc.cluster.local"], "NOERROR", [("A", "{web0}"), ("A", "{web1}")],
                 id="headless-a-per-ready-endpoint"),
    pytest.param(["db-0.db.{ns}.svc.cluster.local"], "NOERROR", [("A", "{db0}")],
                 id="statefulset-pod-hostname"),
    pytest.param(["alias.{ns}.svc.cluster.local", "CNAME"], "NOERROR",
                 [("CNAME", "my-svc.{ns}.svc.cluster.local.")], id="externalname-cname"),
    pytest.param(["alias.{ns}.svc.cluster.local"], "NOERROR",
                 [("A", "{my-svc}"), ("CNAME", "my-svc.{ns}.svc.cluster.local.")],
                 id="externalname-cname-and-target-a"),
    pytest.param(["{client-dashed}.{ns}.pod.cluster.local"], "NOERROR", [("A", "{client}")],
                 id="pod-a"),
    pytest.param(["-x", "{web}"], "NOERROR", [("PTR", "web.{ns}.svc.cluster.local.")],
                 id="ptr-of-a-cluster-ip"),
    pytest.param(["dns-version.cluster.local", "TXT"], "NOERROR", [("TXT", '"1.1.0"')],
                 id="txt-dns-version"),
    pytest.param(["nope.{ns}.svc.cluster.local"], "NXDOMAIN", [], id="nxdomain-with-soa"),
    pytest.param(["web.{ns}.svc.cluster.local", "AAAA"], "NOERROR", [],
                 id="nodata-with-soa"),
    pytest.param(["WeB.{NS}.SvC.Cluster.LOCAL"], "NOERROR", [("A", "{web}")],
                 id="case-insensitive"),
]


@pytest.mark.parametrize("transport", ["+notcp", "+tcp"])
@pytest.mark.parametrize("query, status, answers", RECORD_FORMS)
def test_every_record_form_answers_dig_authoritatively(world, transport, query, status,
                                                       answers):
    got = dig(world.dns, transport, *(_fill(q, world) for q in query))
    assert got.status == status, got.text
    assert {"qr", "aa"} <= got.flags, got.text
    assert got.records() == sorted((t, _fill(d, world)) for t, d in answers), got.text
    if not answers:  # NXDOMAIN and NODATA carry the zone's SOA
        assert [r[3] for r in got.sections.get("AUTHORITY", [])] == ["SOA"], got.text
        assert got.sections["AUTHORITY"][0][0] == f"{ZONE}."


def test_a_named_ports_srv_target_comes_with_its_address(world):
    got = dig(world.dns, f"_http._tcp.web.{world.ns}.svc.{ZONE}", "SRV")
    assert ("A", world.ip["web"]) in got.records("ADDITIONAL"), got.text


def test_100_endpoints_truncate_over_udp_and_come_whole_over_tcp(world):
    name = f"big.{world.ns}.svc.{ZONE}"
    truncated = dig(world.dns, "+notcp", "+ignore", name)
    assert "tc" in truncated.flags, truncated.text
    retried = dig(world.dns, name)  # dig retries a truncated answer over TCP
    assert "tc" not in retried.flags and len(retried.records()) == 100, retried.text
    assert len(dig(world.dns, "+tcp", name).records()) == 100


def test_a_new_service_resolves_and_a_deleted_one_is_nxdomain(api_cluster, world):
    name = f"late.{world.ns}.svc.{ZONE}"
    assert dig(world.dns, name).status == "NXDOMAIN"
    api_cluster.kubectl("create", "service", "clusterip", "late", "--tcp=80:80", "-n", world.ns)
    ip = get_json(api_cluster, "service", "late", "-n", world.ns)["spec"]["clusterIP"]
    wait_for(lambda: dig(world.dns, name).records() == [("A", ip)], timeout=60,
             what="the new Service's A record")
    api_cluster.kubectl("delete", "service", "late", "-n", world.ns)
    wait_for(lambda: dig(world.dns, name).status == "NXDOMAIN", timeout=60,
             what="NXDOMAIN for the deleted Service")


def test_headless_records_follow_pods_becoming_ready_and_unready(api_cluster, world):
    ns = world.ns
    api_cluster.kubectl("apply", "-f", "-", input=_gated(ns))
    pods = wait_for(lambda: [p for p in get_json(api_cluster, "pods", "-n", ns, "-l",
                                                 "app=gated")["items"]
                             if p["status"].get("podIP")] or None, timeout=120,
                    what="a gated pod running")
    pod, ip = pods[0]["metadata"]["name"], pods[0]["status"]["podIP"]
    name = f"gated.{ns}.svc.{ZONE}"
    assert dig(world.dns, name).status == "NXDOMAIN"  # no ready endpoint yet
    for ready, want in (("True", [("A", ip)]), ("False", []), ("True", [("A", ip)])):
        api_cluster.kubectl("patch", "pod", pod, "-n", ns, "--subresource=status", "-p",
                            json.dumps({"status": {"conditions": [
                                {"type": "example.com/ready", "status": ready}]}}))
        wait_for(lambda w=want: dig(world.dns, name).records() == w, timeout=60,
                 what=f"headless records with the pod's gate {ready}")


def test_aiodns_queries_a_and_srv(world):
    async def main():
        client = aiodns.DNSResolver([world.dns], timeout=5, tries=2)
        try:
            a = await client.query_dns(f"web.{world.ns}.svc.{ZONE}", "A")
            srv = await client.query_dns(f"_http._tcp.web.{world.ns}.svc.{ZONE}", "SRV")
            return ([r.data.addr for r in a.answer],
                    [(r.data.port, r.data.target) for r in srv.answer])
        finally:
            await client.close()

    addrs, srvs = asyncio.run(main())
    assert addrs == [world.ip["web"]]
    assert srvs == [(80, f"web.{world.ns}.svc.{ZONE}")]


def test_malformed_packets_leave_the_server_answering(world):
    host, _, port = world.dns.rpartition(":")
    rng = random.Random(8)
    query = DNSRecord.question(f"web.{world.ns}.svc.{ZONE}").pack()
    garbage = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
               for _ in range(200)]
    garbage += [query[:n] for n in range(12)]  # truncated headers
    garbage += [query[:12] + b"\xc0\x0c\x00\x01\x00\x01",  # a pointer to itself
                query[:4] + b"\xff\xff\xff\xff\xff\xff\xff\xff" + query[12:]]  # absurd counts
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for packet in garbage:
            udp.sendto(packet, (host, int(port)))
    with socket.create_connection((host, int(port)), timeout=10) as tcp:
        tcp.sendall(b"\x00\x40" + bytes(rng.randrange(256) for _ in range(64)))
        tcp.settimeout(10)
        try:
            while tcp.recv(4096):  # a FORMERR or nothing, then the server closes
                pass
        except (TimeoutError, ConnectionResetError):
            pass
    for transport in ("+notcp", "+tcp"):
        got = dig(world.dns, transport, f"web.{world.ns}.svc.{ZONE}")
        assert got.records() == [("A", world.ip["web"])], got.text


def test_kubemu_net_curl_resolves_my_svc_through_the_pods_search_path(api_cluster, world):
    done = subprocess.run([sys.executable, "-m", "kubemu.actors.cli", "net", "curl", "--from",
                           "client", "-n", world.ns, "http://my-svc/", "--kubeconfig",
                           api_cluster.kubeconfig],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["ok"] and reply["service"] == f"{world.ns}/my-svc", reply
    assert reply["pod"] in world.backends


@pytest.mark.parametrize("host, served_by", [
    pytest.param("alias", "backend", id="externalname-to-its-target"),
    pytest.param("hl", "backend", id="headless-to-an-endpoint"),
    pytest.param("db-0.db", "db-0", id="statefulset-hostname"),
])
def test_overlay_curl_resolves_every_service_form(api_cluster, world, host, served_by):
    from tests.e2e.test_net import overlay_call

    reply = overlay_call(api_cluster, "curl", f"http://{host}/", from_pod="client",
                         namespace=world.ns)
    assert reply["ok"], reply
    assert reply["pod"] in (world.backends if served_by == "backend" else {served_by})


def _fill(text: str, world) -> str:
    values = {"ns": world.ns, "NS": world.ns.upper(), "web": world.ip["web"],
              "my-svc": world.ip["my-svc"], "web0": world.web_ips[0],
              "web1": world.web_ips[1], "db0": world.db0, "client": world.client,
              "client-dashed": world.client.replace(".", "-")}
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _manifests(ns: str) -> str:
    def service(name: str, spec: str) -> str:
        return f"""---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {ns}}}
spec: {spec}
"""
    endpoints = ", ".join(f"{{addresses: [10.250.0.{i}], conditions: {{ready: true}}}}"
                          for i in range(1, 101))
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: c, image: nginx, ports: [{{name: http, containerPort: 80}}]}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db, namespace: {ns}}}
spec:
  serviceName: db
  replicas: 2
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}}}
    spec:
      containers: [{{name: c, image: nginx, ports: [{{name: http, containerPort: 80}}]}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {ns}}}
spec:
  containers: [{{name: c, image: busybox, command: [sleep, infinity]}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: big-1
  namespace: {ns}
  labels: {{kubernetes.io/service-name: big, endpointslice.kubernetes.io/managed-by: e2e}}
addressType: IPv4
ports: [{{name: http, port: 80, protocol: TCP}}]
endpoints: [{endpoints}]
""" + "".join(service(name, spec) for name, spec in (
        ("web", "{selector: {app: web}, ports: [{name: http, port: 80, targetPort: 80}]}"),
        ("plain", "{selector: {app: web}, ports: [{port: 80}]}"),
        ("my-svc", "{selector: {app: web}, ports: [{port: 80}]}"),
        ("hl", "{clusterIP: None, selector: {app: web}, ports: [{name: http, port: 80}]}"),
        ("db", "{clusterIP: None, selector: {app: db}, ports: [{name: http, port: 80}]}"),
        ("alias", f"{{type: ExternalName, externalName: my-svc.{ns}.svc.cluster.local}}"),
        ("big", "{clusterIP: None, ports: [{name: http, port: 80}]}"),
    ))


def _gated(ns: str) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: gated, namespace: {ns}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: gated}}}}
  template:
    metadata: {{labels: {{app: gated}}}}
    spec:
      readinessGates: [{{conditionType: example.com/ready}}]
      containers: [{{name: c, image: nginx, ports: [{{containerPort: 80}}]}}]
---
apiVersion: v1
kind: Service
metadata: {{name: gated, namespace: {ns}}}
spec: {{clusterIP: None, selector: {{app: gated}}, ports: [{{port: 80}}]}}
"""
