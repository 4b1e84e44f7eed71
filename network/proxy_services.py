"""kube-proxy's view of a Service: one `ServicePortInfo` per Service port (upstream ServicePort).

ExternalName Services carry no rules (DNS only); a headless Service (clusterIP None) has no
ClusterIP rule. NodePorts exist for type NodePort and LoadBalancer; LoadBalancer ingress IPs
come from status.loadBalancer.ingress (an ingress with ipMode Proxy gets no VIP rule, as
upstream: traffic reaches nodes through the load balancer). externalIPs work for every type
but ExternalName. externalTrafficPolicy Local counts only for externally accessible Services
(NodePort, LoadBalancer, or any with externalIPs); sessionAffinity ClientIP defaults to
10800 s. Service keys are "namespace/name"; port keys are upstream's ServicePortName strings
("namespace/name:port-name", or "namespace/name" for an unnamed port).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["DEFAULT_AFFINITY_TIMEOUT", "ServicePortInfo", "parse_service", "service_key"]

DEFAULT_AFFINITY_TIMEOUT = 10800

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ServicePortInfo:
    """Rules input for one port of a Service."""

    service: str                       # "namespace/name"
    port_key: str                      # upstream ServicePortName string
    name: str
    protocol: str
    port: int
    cluster_ip: str | None
    node_port: int | None
    load_balancer_ips: tuple[str, ...]
    external_ips: tuple[str, ...]
    source_ranges: tuple[IPNetwork, ...]
    internal_local: bool               # internalTrafficPolicy Local
    external_local: bool               # externalTrafficPolicy Local (externally accessible)
    affinity_timeout: float | None     # sessionAffinity ClientIP timeout, None when off

    @property
    def uses_cluster_endpoints(self) -> bool:
        """Upstream UsesClusterEndpoints: some traffic of this port takes cluster policy."""
        accessible = bool(self.node_port or self.load_balancer_ips or self.external_ips)
        return not self.internal_local or (accessible and not self.external_local)


def service_key(obj: dict) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace') or 'default'}/{md.get('name') or ''}"


def parse_service(svc: dict) -> tuple[ServicePortInfo, ...]:
    """The port infos of a Service (empty for ExternalName)."""
    spec = svc.get("spec") or {}
    svc_type = spec.get("type") or "ClusterIP"
    if svc_type == "ExternalName":
        return ()
    key = service_key(svc)
    cluster_ip = spec.get("clusterIP") or None
    if cluster_ip == "None":
        cluster_ip = None
    external_ips = tuple(spec.get("externalIPs") or ())
    lb_ips: tuple[str, ...] = ()
    if svc_type == "LoadBalancer":
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or ()
        lb_ips = tuple(i["ip"] for i in ingress if i.get("ip") and i.get("ipMode") != "Proxy")
    accessible = svc_type in ("NodePort", "LoadBalancer") or bool(external_ips)
    external_local = accessible and spec.get("externalTrafficPolicy") == "Local"
    internal_local = spec.get("internalTrafficPolicy") == "Local"
    affinity = None
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        affinity = float(cfg.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    ranges = tuple(_network(r) for r in spec.get("loadBalancerSourceRanges") or ()
                   if _network(r) is not None) if lb_ips else ()
    infos = []
    for p in spec.get("ports") or ():
        if p.get("port") is None:
            continue
        name = p.get("name") or ""
        node_port = p.get("nodePort") if svc_type in ("NodePort", "LoadBalancer") else None
        infos.append(ServicePortInfo(
            service=key, port_key=f"{key}:{name}" if name else key, name=name,
            protocol=p.get("protocol") or "TCP", port=int(p["port"]), cluster_ip=cluster_ip,
            node_port=int(node_port) if node_port else None, load_balancer_ips=lb_ips,
            external_ips=external_ips, source_ranges=ranges, internal_local=internal_local,
            external_local=external_local, affinity_timeout=affinity))
    return tuple(infos)


def _network(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
