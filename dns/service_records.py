"""The records one Service owns, computed from the Service and its EndpointSlices.

`service_rrsets(svc, slices, zone=)` returns `{name: {rtype: (RR, ...)}}`: everything the
Kubernetes DNS specification publishes for that Service, so the table can replace one
Service's names at a time. Per kind of Service:

- ClusterIP (also NodePort, LoadBalancer): `<svc>.<ns>.svc` A/AAAA for each of
  `spec.clusterIPs` (dual-stack: both); SRV `_<port>._<proto>.<svc>...` for each *named*
  port, target the Service name; PTR from each ClusterIP to the Service name.
- Headless (clusterIP None): one A/AAAA per ready endpoint address (every endpoint when
  `publishNotReadyAddresses`; an unset `ready` counts as ready, as the EndpointSlice API
  says), over all the Service's slices (FQDN slices are ignored). Each endpoint gets a name:
  its `hostname`, else CoreDNS's dashed address; SRV per named slice port lists one record
  per endpoint with the slice's port, target the endpoint's name; PTR from each endpoint
  address to the endpoint's name. No ready endpoint: no names at all (NXDOMAIN), as CoreDNS.
- ExternalName: `<svc>.<ns>.svc` CNAME `spec.externalName.`; no SRV names (CoreDNS skips
  port queries for it); an externalName that is an IP address publishes nothing (CoreDNS
  only answers host names).

SRV weights follow CoreDNS: records at one name share 100 (`100 // count`, priority 0), so a
lone record has weight 100. Records are de-duplicated (a dual-stack pod appears in two slices).
"""

from __future__ import annotations

from collections.abc import Iterable

from kubemu.dns.names import (
    RR,
    Address,
    address,
    address_rtype,
    fqdn,
    parse_ip,
    reverse_name,
    service_name,
    srv_name,
)

__all__ = ["SERVICE_NAME_LABEL", "RRSets", "service_rrsets"]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"

RRSets = dict[str, dict[str, tuple[RR, ...]]]


def service_rrsets(svc: dict, slices: Iterable[dict], *, zone: str) -> RRSets:
    """Every record `svc` owns in `zone` (no trailing dot), given its EndpointSlices."""
    md = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    name = service_name(md.get("name") or "", md.get("namespace") or "default", zone)
    out = _Builder()
    if (spec.get("type") or "ClusterIP") == "ExternalName":
        target = (spec.get("externalName") or "").strip()
        if target and parse_ip(target.rstrip(".")) is None:
            out.add(RR(name, "CNAME", fqdn(target)))
    elif spec.get("clusterIP") == "None":
        _headless(out, name, spec, slices)
    else:
        _cluster_ip(out, name, spec)
    return out.rrsets()


# -- helpers ---------------------------------------------------------------------------------


class _Builder:
    """Collects records in insertion order without duplicates."""

    def __init__(self) -> None:
        self._names: dict[str, dict[str, dict[RR, None]]] = {}

    def add(self, rr: RR) -> None:
        self._names.setdefault(rr.name, {}).setdefault(rr.rtype, {})[rr] = None

    def add_srv(self, name: str, port: int, target: str) -> None:
        # weight filled in by rrsets(), once the number of records at the name is known
        self.add(RR(name, "SRV", (0, 0, port, target)))

    def rrsets(self) -> RRSets:
        out: RRSets = {}
        for name, types in self._names.items():
            out[name] = {}
            for rtype, rrs in types.items():
                if rtype == "SRV":
                    weight = 100 // len(rrs)
                    out[name][rtype] = tuple(
                        RR(name, "SRV", (0, weight, rr.data[2], rr.data[3])) for rr in rrs)
                else:
                    out[name][rtype] = tuple(rrs)
        return out


def _cluster_ip(out: _Builder, name: str, spec: dict) -> None:
    ips = [ip for ip in map(parse_ip, spec.get("clusterIPs") or [spec.get("clusterIP") or ""])
           if ip is not None]
    if not ips:
        return  # no address allocated (yet): nothing to publish
    for ip in ips:
        out.add(RR(name, address_rtype(ip), str(ip)))
        out.add(RR(reverse_name(ip), "PTR", name))
    for port in spec.get("ports") or ():
        if port.get("name"):
            out.add_srv(srv_name(port["name"], port.get("protocol") or "TCP", name),
                        int(port.get("port") or 0), name)


def _headless(out: _Builder, name: str, spec: dict, slices: Iterable[dict]) -> None:
    publish_all = bool(spec.get("publishNotReadyAddresses"))
    for slc in sorted(slices, key=lambda s: (s.get("metadata") or {}).get("name") or ""):
        if slc.get("addressType") not in ("IPv4", "IPv6"):
            continue
        ports = [p for p in slc.get("ports") or () if p.get("name")]
        for endpoint in slc.get("endpoints") or ():
            if not publish_all and (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for addr in _addresses(endpoint):
                label = (endpoint.get("hostname") or addr.dashed).lower()
                ep_name = f"{label}.{name}"
                out.add(RR(name, addr.rtype, addr.ip))
                out.add(RR(ep_name, addr.rtype, addr.ip))
                out.add(RR(addr.reverse, "PTR", ep_name))
                for port in ports:
                    out.add_srv(srv_name(port["name"], port.get("protocol") or "TCP", name),
                                int(port.get("port") or 0), ep_name)


def _addresses(endpoint: dict) -> list[Address]:
    return [a for a in map(address, endpoint.get("addresses") or ()) if a is not None]
