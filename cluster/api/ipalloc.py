"""Service ClusterIP and NodePort allocation: kube-apiserver's ipallocator and portallocator,
kept in the store so that no two Services hold one address or port, across restarts and
across API servers.

Design: an allocation is a marker key, `/registry/ranges/serviceips/<ip>` or
`/registry/ranges/servicenodeports/<port>`, whose value names the owning Service (namespace,
name, uid). A Service write that takes values creates their markers in the same store txn,
guarded by a compare that each marker is absent; a write that gives values up (delete, type
change, a changed nodePort) deletes their markers in the same txn. So the markers and the
Services always agree, and the store is the only state: nothing is kept in memory.

- `ServiceAllocator.plan(new, old, taken)` (pure) fills the values `new` still needs --
  a random free ClusterIP from the service CIDR (never the network nor broadcast address),
  a random free nodePort per port of a NodePort / LoadBalancer Service (one per port number,
  so TCP and UDP ports may share it), healthCheckNodePort for LoadBalancers with
  externalTrafficPolicy Local -- and returns the markers to create and delete. Random picks
  prefer the upper part of the range (upstream's KEP-3070 / KEP-3668 static band: the first
  min(max(16, size/16), 256) IPs and min(max(16, size/32), 128) ports are left for
  user-chosen values, such as 10.96.0.1 for `default/kubernetes` and 10.96.0.10 for
  `kube-system/kube-dns`) and fall back to the band only when the rest is full.
  User-chosen values are honoured; taken or out-of-range ones are 422 with upstream's text.
  Headless (clusterIP None) and ExternalName Services take no ClusterIP.
- `taken(store)` reads the markers (keys only); `txn_parts(plan, owner)` gives the compares,
  success ops and failure probes the handlers add to their Service txn.
- `repair(store, allocator)` is upstream's repair controller run once at API server start:
  markers whose Service is gone (or no longer holds the value) are deleted, values Services
  hold without a marker get one; each fix is its own txn guarded on what it read.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from dataclasses import dataclass, field
from typing import Any

import orjson
from kubemu.cluster.api.errors import FieldError, Invalid
from kubemu.cluster.api.objects import decode
from kubemu.cluster.store import prefix_end

__all__ = [
    "DEFAULT_NODE_PORT_RANGE",
    "DEFAULT_SERVICE_CIDR",
    "IP_PREFIX",
    "PORT_PREFIX",
    "SERVICES_PREFIX",
    "Plan",
    "RangeFull",
    "ServiceAllocator",
    "Taken",
    "allocations",
    "repair",
    "taken",
    "txn_parts",
]

IP_PREFIX = "/registry/ranges/serviceips/"
PORT_PREFIX = "/registry/ranges/servicenodeports/"
SERVICES_PREFIX = "/registry/core/services/"
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
DEFAULT_NODE_PORT_RANGE = (30000, 32767)
_EXTERNAL = ("NodePort", "LoadBalancer")

log = logging.getLogger("kubemu.api.ipalloc")


class RangeFull(Exception):
    """No free value is left in a range."""


@dataclass
class Taken:
    """The allocated values as the store's markers show them."""

    ips: set[str] = field(default_factory=set)
    ports: set[int] = field(default_factory=set)


@dataclass
class Plan:
    """Markers one Service write creates and deletes."""

    claim_ips: list[str] = field(default_factory=list)
    claim_ports: list[int] = field(default_factory=list)
    release_ips: list[str] = field(default_factory=list)
    release_ports: list[int] = field(default_factory=list)

    @property
    def claim_keys(self) -> list[str]:
        return [IP_PREFIX + ip for ip in self.claim_ips] + \
            [f"{PORT_PREFIX}{p}" for p in self.claim_ports]

    @property
    def release_keys(self) -> list[str]:
        return [IP_PREFIX + ip for ip in self.release_ips] + \
            [f"{PORT_PREFIX}{p}" for p in self.release_ports]


class ServiceAllocator:
    """The service CIDR and node-port range, and how values are picked from them."""

    def __init__(self, *, service_cidr: str = DEFAULT_SERVICE_CIDR,
                 node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE,
                 rng: random.Random | None = None) -> None:
        self.cidr = ipaddress.IPv4Network(service_cidr, strict=True)
        self.node_port_range = node_port_range
        self.rng = rng or random.Random()
        self._first = int(self.cidr.network_address) + 1  # never the network address
        self._last = int(self.cidr.broadcast_address) - 1  # nor the broadcast
        size = self._last - self._first + 1
        self._ip_band = min(max(16, size // 16), 256)
        lo, hi = node_port_range
        self._port_band = min(max(16, (hi - lo + 1) // 32), 128)

    @property
    def first_ip(self) -> str:
        """The address the `default/kubernetes` Service takes (10.96.0.1)."""
        return str(ipaddress.IPv4Address(self._first))

    def plan(self, new: dict, old: dict | None, have: Taken) -> Plan:
        """Fill the ClusterIP and nodePorts `new` needs; the markers to create and delete.
        `old` is the stored Service on an update (None on create); `have` what is taken."""
        spec = new.setdefault("spec", {})
        try:
            return self._plan(spec, old, have)
        except _Rejected as rejected:
            name = (new.get("metadata") or {}).get("name", "")
            raise Invalid.of("Service", "", name, [rejected.error]) from None

    def _plan(self, spec: dict, old: dict | None, have: Taken) -> Plan:
        before_ips, before_ports = allocations(old) if old is not None else ([], set())
        plan = Plan()
        ips = self._cluster_ips(spec, set(before_ips), have)
        plan.claim_ips = [ip for ip in ips if ip not in before_ips]
        plan.release_ips = [ip for ip in before_ips if ip not in ips]
        ports = self._node_ports(spec, before_ports, have)
        plan.claim_ports = sorted(ports - before_ports)
        plan.release_ports = sorted(before_ports - ports)
        return plan

    # ---- ClusterIPs -----------------------------------------------------------------------

    def _cluster_ips(self, spec: dict, mine: set[str], have: Taken) -> list[str]:
        if spec.get("type", "ClusterIP") == "ExternalName" or spec.get("clusterIP") == "None":
            return []
        wanted = spec.get("clusterIP") or ""
        if wanted:
            if wanted not in mine:
                self._check_ip(wanted, have)
            return [wanted]
        try:
            ip = self._pick_ip(have.ips)
        except RangeFull:
            raise _invalid("spec.clusterIPs", [], "failed to allocate a serviceIP: range is "
                           "full") from None
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
        return [ip]

    def _check_ip(self, wanted: str, have: Taken) -> None:
        value = [wanted]
        try:
            addr = int(ipaddress.IPv4Address(wanted))
        except ValueError:
            return  # validation reports malformed and IPv6 addresses
        if not self._first <= addr <= self._last:
            raise _invalid("spec.clusterIPs", value,
                           f"failed to allocate IP {wanted}: the provided IP ({wanted}) is "
                           f"not in the valid range. The range of valid IPs is {self.cidr}")
        if wanted in have.ips:
            raise _invalid("spec.clusterIPs", value, f"failed to allocate IP {wanted}: "
                           "provided IP is already allocated")

    def _pick_ip(self, used: set[str]) -> str:
        offset = _pick(self.rng, self._last - self._first + 1, self._ip_band,
                       lambda i: str(ipaddress.IPv4Address(self._first + i)) in used)
        return str(ipaddress.IPv4Address(self._first + offset))

    # ---- NodePorts ------------------------------------------------------------------------

    def _node_ports(self, spec: dict, mine: set[int], have: Taken) -> set[int]:
        stype = spec.get("type", "ClusterIP")
        if stype not in _EXTERNAL:
            return set()
        auto = stype == "NodePort" or spec.get("allocateLoadBalancerNodePorts", True) is not False
        result: set[int] = set()
        used = set(have.ports)
        for i, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict):
                continue
            wanted = port.get("nodePort") or 0
            if wanted:
                if wanted not in mine and wanted not in result:
                    self._check_port(f"spec.ports[{i}].nodePort", wanted, used, "")
                result.add(wanted)
                used.add(wanted)
        for i, port in enumerate(spec.get("ports") or []):
            if isinstance(port, dict) and not port.get("nodePort") and auto:
                port["nodePort"] = self._pick_port(used, f"spec.ports[{i}].nodePort")
                result.add(port["nodePort"])
                used.add(port["nodePort"])
        if stype == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local":
            wanted = spec.get("healthCheckNodePort") or 0
            if wanted:
                if wanted not in mine and wanted not in result:
                    self._check_port("spec.healthCheckNodePort", wanted, used,
                                     f"failed to allocate requested HealthCheck NodePort "
                                     f"{wanted}: ")
            else:
                wanted = spec["healthCheckNodePort"] = self._pick_port(
                    used, "spec.healthCheckNodePort")
            result.add(wanted)
        return result

    def _check_port(self, path: str, wanted: int, used: set[int], prefix: str) -> None:
        lo, hi = self.node_port_range
        if not lo <= wanted <= hi:
            raise _invalid(path, wanted, f"{prefix}provided port is not in the valid range. "
                           f"The range of valid ports is {lo}-{hi}")
        if wanted in used:
            raise _invalid(path, wanted, f"{prefix}provided port is already allocated")

    def _pick_port(self, used: set[int], path: str) -> int:
        lo, hi = self.node_port_range
        try:
            return lo + _pick(self.rng, hi - lo + 1, self._port_band, lambda i: lo + i in used)
        except RangeFull:
            raise _invalid(path, 0, "failed to allocate a nodePort: range is full") from None


def allocations(svc: dict | None) -> tuple[list[str], set[int]]:
    """The ClusterIPs and node ports (nodePorts and healthCheckNodePort) `svc` holds."""
    spec = (svc or {}).get("spec") or {}
    stype = spec.get("type", "ClusterIP")
    ips: list[str] = []
    if stype != "ExternalName":
        ips = [ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")])
               if ip and ip != "None"]
    ports: set[int] = set()
    if stype in _EXTERNAL:
        ports = {p["nodePort"] for p in spec.get("ports") or []
                 if isinstance(p, dict) and p.get("nodePort")}
        if stype == "LoadBalancer" and spec.get("healthCheckNodePort"):
            ports.add(spec["healthCheckNodePort"])
    return ips, ports


async def taken(store: Any) -> Taken:
    """The values the store's markers hold (one txn, so both ranges are one revision)."""
    result = await store.request({"op": "txn", "compares": [], "failure": [], "success": [
        {"op": "range", "key": IP_PREFIX, "range_end": prefix_end(IP_PREFIX),
         "keys_only": True},
        {"op": "range", "key": PORT_PREFIX, "range_end": prefix_end(PORT_PREFIX),
         "keys_only": True}]})
    ips, ports = result["responses"]
    return Taken({kv["key"][len(IP_PREFIX):] for kv in ips["kvs"]},
                 {int(kv["key"][len(PORT_PREFIX):]) for kv in ports["kvs"]})


def txn_parts(plan: Plan, owner: dict) -> tuple[list[dict], list[dict], list[dict]]:
    """(compares, success ops, failure probes) that claim and release `plan`'s markers for
    the Service `owner`. The probes count each claimed marker, so a failed txn tells whether
    a marker was taken meanwhile."""
    value = _owner_value(owner)
    claims = plan.claim_keys
    compares = [{"key": k, "target": "create", "result": "=", "value": 0} for k in claims]
    ops = [{"op": "put", "key": k, "value": value} for k in claims]
    ops += [{"op": "delete_range", "key": k} for k in plan.release_keys]
    probes = [{"op": "range", "key": k, "count_only": True} for k in claims]
    return compares, ops, probes


async def repair(store: Any) -> None:
    """Make the markers match the Services in the store (upstream's repair controllers)."""
    result = await store.request({"op": "txn", "compares": [], "failure": [], "success": [
        {"op": "range", "key": p, "range_end": prefix_end(p)}
        for p in (SERVICES_PREFIX, IP_PREFIX, PORT_PREFIX)]})
    services, ip_markers, port_markers = (r["kvs"] for r in result["responses"])
    wanted: dict[str, tuple[bytes, dict]] = {}  # marker key -> (owner value, service kv)
    for kv in services:
        svc = decode(kv)
        ips, ports = allocations(svc)
        keys = [IP_PREFIX + ip for ip in ips] + [f"{PORT_PREFIX}{p}" for p in sorted(ports)]
        for key in keys:
            if key in wanted:
                log.warning("%s is held by more than one Service (%s)", key, kv["key"])
                continue
            wanted[key] = (_owner_value(svc), kv)
    markers = {kv["key"]: kv for kv in [*ip_markers, *port_markers]}
    for key, kv in markers.items():
        want = wanted.get(key)
        if want is not None and bytes(kv["value"]) == want[0]:
            continue
        guard = {"key": key, "target": "mod", "result": "=", "value": kv["mod_revision"]}
        if want is None:
            log.info("repair: releasing %s (no Service holds it)", key)
            op = {"op": "delete_range", "key": key}
        else:
            op = {"op": "put", "key": key, "value": want[0]}
        await store.request({"op": "txn", "compares": [guard], "success": [op],
                             "failure": []})
    for key, (value, svc_kv) in wanted.items():
        if key in markers:
            continue
        log.info("repair: marking %s as allocated", key)
        await store.request({"op": "txn", "failure": [], "compares": [
            {"key": key, "target": "create", "result": "=", "value": 0},
            {"key": svc_kv["key"], "target": "mod", "result": "=",
             "value": svc_kv["mod_revision"]}],
            "success": [{"op": "put", "key": key, "value": value}]})


def _owner_value(svc: dict) -> bytes:
    md = svc.get("metadata") or {}
    return orjson.dumps({"namespace": md.get("namespace", ""), "name": md.get("name", ""),
                         "uid": md.get("uid", "")})


def _pick(rng: random.Random, size: int, band: int, used: Any) -> int:
    """A free offset in [0, size): a random start in the upper part, scanning forward, then
    the lower band (upstream's allocateNext with a static band)."""
    upper = size - band
    if upper > 0:
        start = rng.randrange(upper)
        for i in range(upper):
            offset = band + (start + i) % upper
            if not used(offset):
                return offset
    start = rng.randrange(min(band, size))
    for i in range(min(band, size)):
        offset = (start + i) % min(band, size)
        if not used(offset):
            return offset
    raise RangeFull()


class _Rejected(Exception):
    def __init__(self, error: FieldError) -> None:
        super().__init__(str(error))
        self.error = error


def _invalid(path: str, value: Any, detail: str) -> _Rejected:
    return _Rejected(FieldError("Invalid", path, detail, value))
