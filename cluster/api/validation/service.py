"""Service and Endpoints validation.

Upstream's ValidateService, for the fields kubemu's proxy, IPAM and DNS act on: type, ports
(unique names when more than one, unique port/protocol pairs, nodePorts in the default
30000-32767 range), clusterIP(s), selector, session affinity, traffic policies, IP families and
ExternalName. A Service name is a DNS-1035 label (it becomes a DNS name and an environment
variable prefix). An allocated clusterIP never changes: the handler copies it forward when an
update omits it, and any other change is `spec.clusterIPs[0]: may not change once set`.
"""

from __future__ import annotations

from typing import Any

from kubemu.cluster.api.errors import FieldError
from kubemu.cluster.api.validation import names as n
from kubemu.cluster.api.validation.containers import PROTOCOLS, validate_port_num_or_name
from kubemu.cluster.api.validation.field import (
    child, duplicate, forbidden, index, invalid, not_supported, required)
from kubemu.cluster.api.validation.meta import (
    messages_to_errors, validate_labels,
    validate_qualified_name)

__all__ = ["validate_service", "validate_service_update", "validate_endpoints",
           "validate_endpoints_update", "NODE_PORT_RANGE"]

NODE_PORT_RANGE = (30000, 32767)
_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
_IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_NOT_FOR_EXTERNAL_NAME = "may not be set for ExternalName services"


def validate_service(obj: dict) -> list[FieldError]:
    return _spec(obj.get("spec") or {})


def validate_service_update(new: dict, old: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    if "ExternalName" not in (spec.get("type"), old_spec.get("type")) and not (
            _headless(spec) and _headless(old_spec)):
        ips, old_ips = _cluster_ips(spec), _cluster_ips(old_spec)
        if old_ips and (not ips or ips[0] != old_ips[0]):
            errs.append(invalid("spec.clusterIPs[0]", ips, "may not change once set"))
    return errs + _spec(spec)


def validate_endpoints(obj: dict) -> list[FieldError]:
    return _subsets(obj.get("subsets") or [])


def validate_endpoints_update(new: dict, old: dict) -> list[FieldError]:
    return _subsets(new.get("subsets") or [])


def _spec(spec: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    stype = spec.get("type") or ""
    if not stype:
        errs.append(required("spec.type"))
    elif stype not in _TYPES:
        errs.append(not_supported("spec.type", stype, _TYPES))
    ports = spec.get("ports") or []
    if not ports and not _headless(spec) and stype != "ExternalName":
        errs.append(required("spec.ports"))
    if stype == "ExternalName":
        errs += _external_name(spec)
    errs += _ips(spec, stype)
    errs += _ports(ports, stype)
    errs += validate_labels(spec.get("selector"), "spec.selector")
    errs += _affinity(spec)
    for i, ip in enumerate(spec.get("externalIPs") or []):
        if not n.is_valid_ip(ip):
            errs.append(invalid(index("spec.externalIPs", i), ip, _IP_MSG))
    errs += _traffic_policies(spec, stype)
    return errs


def _headless(spec: dict) -> bool:
    return spec.get("clusterIP") == "None"


def _cluster_ips(spec: dict) -> list[str]:
    ips = spec.get("clusterIPs") or []
    if not ips and spec.get("clusterIP"):
        ips = [spec["clusterIP"]]
    return list(ips)


def _external_name(spec: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    if spec.get("clusterIPs") or spec.get("clusterIP"):
        errs.append(forbidden("spec.clusterIPs", _NOT_FOR_EXTERNAL_NAME))
    if spec.get("ipFamilies"):
        errs.append(forbidden("spec.ipFamilies", _NOT_FOR_EXTERNAL_NAME))
    if spec.get("ipFamilyPolicy") is not None:
        errs.append(forbidden("spec.ipFamilyPolicy", _NOT_FOR_EXTERNAL_NAME))
    cname = (spec.get("externalName") or "").removesuffix(".")
    if not cname:
        errs.append(required("spec.externalName"))
    else:
        errs += messages_to_errors("spec.externalName", cname, n.is_dns1123_subdomain(cname))
    return errs


def _ips(spec: dict, stype: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if stype == "ExternalName":
        return errs
    cluster_ip, cluster_ips = spec.get("clusterIP") or "", spec.get("clusterIPs") or []
    if cluster_ips and not cluster_ip:
        errs.append(invalid("spec.clusterIPs", cluster_ips,
                            "must be empty when `clusterIP` is not specified"))
    elif cluster_ips and cluster_ips[0] != cluster_ip:
        errs.append(invalid("spec.clusterIPs", cluster_ips, "first value must match `clusterIP`"))
    ips = _cluster_ips(spec)
    if "None" in ips and len(ips) > 1:
        errs.append(invalid("spec.clusterIPs", ips, "'None' must be the first and only value"))
    for i, ip in enumerate(ips):
        p = index("spec.clusterIPs", i)
        if ip == "None":
            if stype in ("NodePort", "LoadBalancer"):
                errs.append(invalid(p, ip, f"may not be set to 'None' for {stype} services"))
        elif not n.is_valid_ip(ip):
            errs.append(invalid(p, ip, _IP_MSG))
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in ("PreferDualStack", "RequireDualStack",
                                             "SingleStack"):
        errs.append(not_supported("spec.ipFamilyPolicy", policy,
                                  ("PreferDualStack", "RequireDualStack", "SingleStack")))
    families = spec.get("ipFamilies") or []
    for i, family in enumerate(families):
        p = index("spec.ipFamilies", i)
        if family not in ("IPv4", "IPv6"):
            errs.append(not_supported(p, family, ("IPv4", "IPv6")))
        elif family in families[:i]:
            errs.append(duplicate(p, family))
    if len(families) > 2:
        errs.append(invalid("spec.ipFamilies", families,
                            "may specify no more than one IP for each IP family"))
    return errs


def _ports(ports: list[dict], stype: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    pairs: set[tuple[Any, Any]] = set()
    node_ports: set[tuple[Any, Any]] = set()
    lo, hi = NODE_PORT_RANGE
    for i, port in enumerate(ports):
        p = index("spec.ports", i)
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            errs.append(required(child(p, "name")))
        elif name:
            errs += messages_to_errors(child(p, "name"), name, n.is_dns1123_label(name))
            if name in names:
                errs.append(duplicate(child(p, "name"), name))
            names.add(name)
        errs += messages_to_errors(child(p, "port"), port.get("port", 0),
                                   n.is_valid_port_num(port.get("port", 0)))
        protocol = port.get("protocol") or ""
        if not protocol:
            errs.append(required(child(p, "protocol")))
        elif protocol not in PROTOCOLS:
            errs.append(not_supported(child(p, "protocol"), protocol, PROTOCOLS))
        if port.get("targetPort") is not None:
            errs += validate_port_num_or_name(port["targetPort"], child(p, "targetPort"))
        if port.get("appProtocol"):
            errs += validate_qualified_name(port["appProtocol"], child(p, "appProtocol"))
        pair = (port.get("port"), protocol)
        if pair in pairs:
            errs.append(duplicate(p, {"port": pair[0], "protocol": protocol}))
        pairs.add(pair)
        node_port = port.get("nodePort") or 0
        if not node_port:
            continue
        np = child(p, "nodePort")
        if stype == "ClusterIP":
            errs.append(forbidden(np, "may not be used when `type` is 'ClusterIP'"))
            continue
        msgs = n.is_valid_port_num(node_port)
        errs += messages_to_errors(np, node_port, msgs)
        if not msgs and not lo <= node_port <= hi:
            errs.append(invalid(np, node_port, "provided port is not in the valid range. The "
                                f"range of valid ports is {lo}-{hi}"))
        if (node_port, protocol) in node_ports:
            errs.append(duplicate(np, node_port))
        node_ports.add((node_port, protocol))
    return errs


def _affinity(spec: dict) -> list[FieldError]:
    affinity, config = spec.get("sessionAffinity") or "", spec.get("sessionAffinityConfig")
    if not affinity:
        return [required("spec.sessionAffinity")]
    if affinity not in ("ClientIP", "None"):
        return [not_supported("spec.sessionAffinity", affinity, ("ClientIP", "None"))]
    if affinity == "None" and config is not None:
        return [invalid("spec.sessionAffinityConfig", config,
                        "must not be set when session affinity is None")]
    if affinity == "ClientIP":
        timeout = ((config or {}).get("clientIP") or {}).get("timeoutSeconds")
        if timeout is None or not 0 < timeout <= 86400:
            return [invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                            "must be greater than 0 and less than 86400")]
    return []


def _traffic_policies(spec: dict, stype: str) -> list[FieldError]:
    errs: list[FieldError] = []
    external = stype in ("NodePort", "LoadBalancer") or (
        stype == "ClusterIP" and bool(spec.get("externalIPs")))
    policy = spec.get("externalTrafficPolicy") or ""
    if not external:
        if policy:
            errs.append(invalid("spec.externalTrafficPolicy", policy,
                                "may only be set for externally-accessible services"))
    elif not policy:
        errs.append(required("spec.externalTrafficPolicy"))
    elif policy not in ("Cluster", "Local"):
        errs.append(not_supported("spec.externalTrafficPolicy", policy, ("Cluster", "Local")))
    internal = spec.get("internalTrafficPolicy")
    if internal is None:
        if stype in ("ClusterIP", "NodePort", "LoadBalancer"):
            errs.append(required("spec.internalTrafficPolicy"))
    elif internal not in ("Cluster", "Local"):
        errs.append(not_supported("spec.internalTrafficPolicy", internal, ("Cluster", "Local")))
    if spec.get("healthCheckNodePort"):
        hp = "spec.healthCheckNodePort"
        if stype != "LoadBalancer":
            errs.append(invalid(hp, spec["healthCheckNodePort"],
                                "may only be set when `type` is 'LoadBalancer'"))
        elif policy != "Local":
            errs.append(invalid(hp, spec["healthCheckNodePort"],
                                "may only be set when `externalTrafficPolicy` is 'Local'"))
    return errs


def _subsets(subsets: list[dict]) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, subset in enumerate(subsets):
        p = index("subsets", i)
        if not subset.get("addresses") and not subset.get("notReadyAddresses"):
            errs.append(required(p, "must specify `addresses` or `notReadyAddresses`"))
        for field_name in ("addresses", "notReadyAddresses"):
            for j, address in enumerate(subset.get(field_name) or []):
                ap = index(child(p, field_name), j)
                if not n.is_valid_ip(address.get("ip") or ""):
                    errs.append(invalid(child(ap, "ip"), address.get("ip") or "", _IP_MSG))
                if address.get("hostname"):
                    errs += messages_to_errors(child(ap, "hostname"), address["hostname"],
                                               n.is_dns1123_label(address["hostname"]))
                if address.get("nodeName"):
                    errs += messages_to_errors(child(ap, "nodeName"), address["nodeName"],
                                               n.is_dns1123_subdomain(address["nodeName"]))
        ports = subset.get("ports") or []
        for j, port in enumerate(ports):
            pp = index(child(p, "ports"), j)
            name = port.get("name") or ""
            if len(ports) > 1 and not name:
                errs.append(required(child(pp, "name")))
            elif name:
                errs += messages_to_errors(child(pp, "name"), name, n.is_dns1123_label(name))
            errs += messages_to_errors(child(pp, "port"), port.get("port", 0),
                                       n.is_valid_port_num(port.get("port", 0)))
            protocol = port.get("protocol") or ""
            if not protocol:
                errs.append(required(child(pp, "protocol")))
            elif protocol not in PROTOCOLS:
                errs.append(not_supported(child(pp, "protocol"), protocol, PROTOCOLS))
    return errs
