"""kube-proxy's view of EndpointSlices: parsing and CategorizeEndpoints (upstream topology.go).

A slice belongs to the Service named by its `kubernetes.io/service-name` label (slices without
it are ignored, as upstream). Only IPv4 slices carry rules: ClusterIPs here are IPv4. An
endpoint uses its first address; absent conditions mean ready=true, serving=ready-default
true, terminating=false (upstream's nil handling). An endpoint that appears in two slices of a
Service counts once, the ready copy winning.

`categorize` follows upstream v1.32 CategorizeEndpoints: cluster endpoints are the ready ones
(narrowed to this zone's hints when topology applies); if none is ready, the serving and
terminating ones (without topology: a best-effort fallback). Local endpoints are this node's
ready ones, else this node's serving+terminating ones. Topology applies only when every ready
endpoint has zone hints, the node has a zone, and some ready endpoint is hinted for it (the
safeguards that make hints "all or nothing").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "SERVICE_NAME_LABEL",
    "Categorized",
    "ParsedSlice",
    "SliceEndpoint",
    "categorize",
    "parse_slice",
    "proxy_view",
]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True, slots=True)
class SliceEndpoint:
    """One endpoint of a slice, before a Service port is chosen."""

    ip: str
    node_name: str
    zone: str
    ready: bool
    serving: bool
    terminating: bool
    zone_hints: frozenset[str]
    pod_name: str
    pod_namespace: str


@dataclass(frozen=True, slots=True)
class ParsedSlice:
    """What kube-proxy keeps of an EndpointSlice: its Service, ports and endpoints."""

    namespace: str
    name: str
    service: str                              # "namespace/name" of the owning Service
    ports: tuple[tuple[str, str, int], ...]   # (port name, protocol, port number)
    endpoints: tuple[SliceEndpoint, ...]


@dataclass(frozen=True, slots=True)
class Categorized:
    """Result of `categorize`: which endpoints each traffic policy may use."""

    cluster: tuple[SliceEndpoint, ...]
    local: tuple[SliceEndpoint, ...]
    has_any: bool


_last_parsed: tuple[dict | None, ParsedSlice | None] = (None, None)
_PARSED = "kubemu.io/parsed"  # a proxy_view's parsed slice


def proxy_view(slc: dict) -> dict:
    """What kube-proxy's EndpointSlice informer keeps (its transform): the metadata it is keyed
    and selected by, and the parsed slice. A node pool's informer holds every slice of the
    cluster, and whole decoded slices (~1 KB per endpoint) were most of a pool's memory per
    pod; a `ParsedSlice` is what the rules read anyway."""
    md = slc.get("metadata") or {}
    return {"apiVersion": slc.get("apiVersion"), "kind": slc.get("kind"),
            "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                              "labels", "deletionTimestamp") if k in md},
            _PARSED: _parse_slice(slc)}


def parse_slice(slc: dict) -> ParsedSlice | None:
    """The rule-relevant content of an EndpointSlice (whole, or its `proxy_view`), or None when
    kube-proxy ignores it. The kube-proxies of a node pool are handed the same (never mutated)
    object one after another by their shared informer: the last answer is reused for it."""
    global _last_parsed
    if _PARSED in slc:
        return slc[_PARSED]
    if _last_parsed[0] is slc:
        return _last_parsed[1]
    parsed = _parse_slice(slc)
    _last_parsed = (slc, parsed)
    return parsed


def _parse_slice(slc: dict) -> ParsedSlice | None:
    md = slc.get("metadata") or {}
    svc_name = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
    if not svc_name or slc.get("addressType", "IPv4") != "IPv4":
        return None
    namespace = md.get("namespace") or "default"
    ports = []
    for p in slc.get("ports") or ():
        if p.get("port") is None:
            continue
        ports.append((p.get("name") or "", p.get("protocol") or "TCP", int(p["port"])))
    endpoints = []
    for ep in slc.get("endpoints") or ():
        addresses = ep.get("addresses") or ()
        if not addresses:
            continue
        cond = ep.get("conditions") or {}
        ready = cond.get("ready")
        ready = True if ready is None else bool(ready)
        serving = cond.get("serving")
        serving = True if serving is None else bool(serving)
        hints = (ep.get("hints") or {}).get("forZones") or ()
        ref = ep.get("targetRef") or {}
        endpoints.append(SliceEndpoint(
            ip=addresses[0], node_name=ep.get("nodeName") or "", zone=ep.get("zone") or "",
            ready=ready, serving=serving, terminating=bool(cond.get("terminating")),
            zone_hints=frozenset(h["name"] for h in hints if h.get("name")),
            pod_name=(ref.get("name") or "") if ref.get("kind", "Pod") == "Pod" else "",
            pod_namespace=(ref.get("namespace") or namespace) if ref else ""))
    return ParsedSlice(namespace=namespace, name=md.get("name") or "",
                       service=f"{namespace}/{svc_name}", ports=tuple(ports),
                       endpoints=tuple(endpoints))


def categorize(endpoints: Iterable[SliceEndpoint], *, node_name: str, zone: str) -> Categorized:
    """Upstream CategorizeEndpoints for one Service port (both policies computed)."""
    eps = tuple(endpoints)
    use_topology = _can_use_topology(eps, zone)
    cluster = tuple(ep for ep in eps
                    if ep.ready and (not use_topology or zone in ep.zone_hints))
    if not cluster:
        cluster = tuple(ep for ep in eps if ep.serving and ep.terminating)
    local_ready = tuple(ep for ep in eps if ep.ready and ep.node_name == node_name)
    if local_ready:
        local = local_ready
    else:
        local = tuple(ep for ep in eps
                      if ep.node_name == node_name and ep.serving and ep.terminating)
    return Categorized(cluster=cluster, local=local, has_any=bool(cluster))


def _can_use_topology(eps: tuple[SliceEndpoint, ...], zone: str) -> bool:
    has_endpoint_for_zone = False
    for ep in eps:
        if not ep.ready:
            continue
        if not ep.zone_hints or not zone:
            return False
        if zone in ep.zone_hints:
            has_endpoint_for_zone = True
    return has_endpoint_for_zone
