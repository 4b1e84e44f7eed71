"""The DNS benchmark's data and its reference server: 1,000 Services as Kubernetes dicts, the
dnsperf query file, and dnsmasq serving the very same records.

- Services (`dataset`): every tenth Service is headless (clusterIP None) with one
  EndpointSlice of 5 ready endpoints and a named port `peer` (even ones carry StatefulSet-style
  hostnames, odd ones get CoreDNS's dashed-address names); the others are ClusterIP Services
  with two named ports (`http`, `metrics`). Namespaces `ns-0`..`ns-6`. Deterministic.
- Queries (`query_lines`): dnsperf's `name TYPE` lines drawn with a seeded `random.Random`:
  40 % A of ClusterIP Services, 15 % SRV of their named ports, 20 % A of headless Services
  (5 records each), 5 % SRV of headless ports (5 targets + 5 additional A), 10 % A of
  headless endpoint names, 10 % names that do not exist (NXDOMAIN). `kinds=A_KINDS` keeps
  the A and NXDOMAIN shares only (the same proportions among themselves).
- dnsmasq (`Dnsmasq`): its hosts file and `srv-host` lines are generated from kubemu's own
  `service_rrsets` (the records kubemu serves), so both answer the same data; `local=` makes
  it authoritative for the zone (NXDOMAIN for unknown names, never forwarded), `local-ttl=5`
  matches kubemu's TTL. `check_same_answers` compares the two servers' answers before timing.
  Known difference: dnsmasq's NXDOMAIN carries no SOA in AUTHORITY (kubemu's does, per spec).
  dnsmasq keeps hosts entries in a hash table but `srv-host` records in a list it walks for
  every query (any type), so 2,300 SRV records slow all of its answers; `srv=False` leaves
  them out (its A fast path, for an A-only query file).
"""

from __future__ import annotations

import ipaddress
import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dnslib import QTYPE, DNSRecord
from kubemu.dns.service_records import SERVICE_NAME_LABEL, service_rrsets

__all__ = [
    "ALL_KINDS",
    "A_KINDS",
    "Dataset",
    "Dnsmasq",
    "check_same_answers",
    "dataset",
    "ensure_tools",
    "query",
    "query_lines",
]

ZONE = "cluster.local"
NAMESPACES = 7
ENDPOINTS = 5
_MIX = (("cluster_a", 40), ("cluster_srv", 15), ("headless_a", 20), ("headless_srv", 5),
        ("endpoint_a", 10), ("nxdomain", 10))
ALL_KINDS = tuple(kind for kind, _ in _MIX)
A_KINDS = ("cluster_a", "headless_a", "endpoint_a", "nxdomain")


@dataclass(frozen=True)
class Dataset:
    """Services with their EndpointSlices (`objects`), and the names to query by kind."""

    objects: list[tuple[dict, list[dict]]]
    names: dict[str, list[tuple[str, str]]]   # kind -> [(name, qtype)]


def ensure_tools(say=print) -> dict[str, str]:
    """Paths of dnsperf and dnsmasq, installing Debian's `dnsperf` and `dnsmasq-base` with
    apt-get when missing."""
    missing = [pkg for tool, pkg in (("dnsperf", "dnsperf"), ("dnsmasq", "dnsmasq-base"))
               if _which(tool) is None]
    if missing:
        say(f"installing {' '.join(missing)} with apt-get")
        subprocess.run(["apt-get", "install", "-y", *missing], check=True,
                       stdout=subprocess.DEVNULL)
    tools = {tool: _which(tool) for tool in ("dnsperf", "dnsmasq")}
    if None in tools.values():
        raise RuntimeError(f"apt-get install {' '.join(missing)} did not provide {tools}")
    return tools  # type: ignore[return-value]


def dataset(services: int = 1000) -> Dataset:
    """`services` Services (every tenth headless) and the names they publish, by kind."""
    objects: list[tuple[dict, list[dict]]] = []
    names: dict[str, list[tuple[str, str]]] = {kind: [] for kind, _ in _MIX}
    base = ipaddress.ip_address("10.96.4.0")
    for i in range(services):
        ns, name = f"ns-{i % NAMESPACES}", f"svc-{i:04d}"
        fqdn = f"{name}.{ns}.svc.{ZONE}"
        meta = {"name": name, "namespace": ns, "uid": f"uid-{i}"}
        if i % 10 == 9:
            svc = {"apiVersion": "v1", "kind": "Service", "metadata": meta,
                   "spec": {"clusterIP": "None", "clusterIPs": ["None"], "selector": {"app": name},
                            "ports": [{"name": "peer", "port": 2380, "protocol": "TCP"}]}}
            endpoints = []
            for k in range(ENDPOINTS):
                ip = f"10.{244 + k}.{i // 250}.{i % 250 + 1}"
                ep = {"addresses": [ip], "conditions": {"ready": True}}
                label = ip.replace(".", "-")
                if i % 20 == 19:
                    ep["hostname"] = label = f"{name}-{k}"
                endpoints.append(ep)
                names["endpoint_a"].append((f"{label}.{fqdn}", "A"))
            slc = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                   "metadata": {"name": f"{name}-x7k2p", "namespace": ns,
                                "labels": {SERVICE_NAME_LABEL: name}},
                   "addressType": "IPv4", "endpoints": endpoints,
                   "ports": [{"name": "peer", "port": 2380, "protocol": "TCP"}]}
            objects.append((svc, [slc]))
            names["headless_a"].append((fqdn, "A"))
            names["headless_srv"].append((f"_peer._tcp.{fqdn}", "SRV"))
        else:
            ip = str(base + i)
            svc = {"apiVersion": "v1", "kind": "Service", "metadata": meta,
                   "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                            "selector": {"app": name},
                            "ports": [{"name": "http", "port": 80, "protocol": "TCP"},
                                      {"name": "metrics", "port": 9090, "protocol": "TCP"}]}}
            objects.append((svc, []))
            names["cluster_a"].append((fqdn, "A"))
            names["cluster_srv"] += [(f"_http._tcp.{fqdn}", "SRV"),
                                     (f"_metrics._tcp.{fqdn}", "SRV")]
        names["nxdomain"].append((f"missing-{i:04d}.{ns}.svc.{ZONE}", "A"))
    return Dataset(objects, names)


def query_lines(data: Dataset, count: int, rng: random.Random, *,
                kinds: tuple[str, ...] = ALL_KINDS) -> list[str]:
    """`count` dnsperf lines (`name TYPE`) in the module's mix of `kinds`, shuffled by `rng`."""
    mix = [(kind, share) for kind, share in _MIX if kind in kinds]
    total = sum(share for _, share in mix)
    lines: list[str] = []
    for kind, share in mix:
        pool = data.names[kind]
        lines += [f"{n} {t}" for n, t in (rng.choice(pool) for _ in range(count * share // total))]
    rng.shuffle(lines)
    return lines


class Dnsmasq:
    """dnsmasq on 127.0.0.1:`port` (0: a free one) serving `data`'s records, in the
    foreground as this process's child; `start()` returns once it answers."""

    def __init__(self, binary: str, data: Dataset, work: Path, *, port: int = 0,
                 cache_size: int = 10_000, srv: bool = True) -> None:
        self.binary, self.data, self.work = binary, data, work
        self.port, self.cache_size, self.srv = port, cache_size, srv
        self.proc: subprocess.Popen | None = None
        self.records = 0

    def start(self, timeout: float = 10.0) -> int:
        self.work.mkdir(parents=True, exist_ok=True)
        self.work.chmod(0o755)  # dnsmasq started as root reads its files as `nobody`:
        # `work` and every directory above it must be searchable by others
        hosts, conf = self.work / "hosts", self.work / "dnsmasq.conf"
        host_lines, srv_lines = _dnsmasq_records(self.data)
        srv_lines = srv_lines if self.srv else []
        hosts.write_text("".join(host_lines))
        conf.write_text("".join(srv_lines))
        hosts.chmod(0o644)
        conf.chmod(0o644)
        self.records = len(host_lines) + len(srv_lines)
        self.port = self.port or _free_port()
        self.proc = subprocess.Popen(
            [self.binary, "--keep-in-foreground", f"--conf-file={conf}", "--no-resolv",
             "--no-hosts", f"--addn-hosts={hosts}", f"--port={self.port}",
             "--listen-address=127.0.0.1", "--bind-interfaces", f"--local=/{ZONE}/",
             "--local-ttl=5", f"--cache-size={self.cache_size}", "--pid-file=",
             "--log-facility=-"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        probe = self.data.names["cluster_a"][0]
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dnsmasq exited: {self.proc.stderr.read().decode()}")
            answer = query(self.port, *probe, timeout=0.2)
            if answer is not None and answer.rr:  # hosts file read, records served
                return self.port
        raise TimeoutError(f"dnsmasq did not answer on port {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], check=False, capture_output=True,
                             text=True).stdout
        return out.split()[2] if out else "?"


def query(port: int, name: str, qtype: str, *, timeout: float = 1.0) -> DNSRecord | None:
    """One UDP query to 127.0.0.1:`port`; the parsed response, None on timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(DNSRecord.question(name, qtype).pack(), ("127.0.0.1", port))
        try:
            return DNSRecord.parse(sock.recv(65535))
        except TimeoutError:
            return None


def check_same_answers(port_a: int, port_b: int, data: Dataset, *,
                       kinds: tuple[str, ...] = ALL_KINDS) -> list[str]:
    """Ask both servers a few names of every kind; the differences in rcode or answer
    records (as sets; TTLs ignored), as text lines (empty: they agree)."""
    diffs = []
    for kind in kinds:
        pool = data.names[kind]
        for name, qtype in pool[:: max(1, len(pool) // 20)]:
            got = [query(port, name, qtype) for port in (port_a, port_b)]
            seen = [None if r is None else (r.header.rcode, _answer_set(r)) for r in got]
            if seen[0] != seen[1]:
                diffs.append(f"{kind} {name} {qtype}: {seen[0]} != {seen[1]}")
    return diffs


# -- helpers -------------------------------------------------------------------------------


def _dnsmasq_records(data: Dataset) -> tuple[list[str], list[str]]:
    """Hosts lines for kubemu's A records, `srv-host=` lines for its SRV records."""
    hosts, srvs = [], []
    for svc, slices in data.objects:
        for name, types in service_rrsets(svc, slices, zone=ZONE).items():
            for rr in types.get("A", ()):
                hosts.append(f"{rr.data} {name.rstrip('.')}\n")
            for rr in types.get("SRV", ()):
                prio, weight, port, target = rr.data
                srvs.append(f"srv-host={name.rstrip('.')},{target.rstrip('.')},{port},"
                            f"{prio},{weight}\n")
    return hosts, srvs


def _answer_set(record: DNSRecord) -> frozenset[tuple[str, str, str]]:
    return frozenset((str(rr.rname).lower(), QTYPE[rr.rtype], str(rr.rdata).lower())
                     for rr in record.rr)


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")


def _free_port() -> int:
    """A port free for UDP on 127.0.0.1 right now (dnsmasq also binds TCP on it)."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise OSError("no port free for UDP and TCP on 127.0.0.1")
