"""The smaller groups: discovery (EndpointSlice), coordination (Lease), networking
(NetworkPolicy, Ingress), policy (PodDisruptionBudget), scheduling (PriorityClass) and rbac.

EndpointSlice addresses must fit the slice's addressType, which never changes. NetworkPolicy
peers are exactly one kind (ipBlock alone) and policyTypes are Ingress/Egress. A PDB sets
minAvailable or maxUnavailable, not both. User PriorityClasses stay at or below one billion;
`system-` names are reserved for the two built-in classes. RBAC names are path segments (no
'/' or '%'), and a binding's roleRef never changes (`cannot change roleRef`).
"""

from __future__ import annotations

import ipaddress

from kubemu.cluster.api.errors import FieldError
from kubemu.cluster.api.validation import names as n
from kubemu.cluster.api.validation.apps import not_more_than_100_percent, validate_int_or_percent
from kubemu.cluster.api.validation.containers import PROTOCOLS, validate_port_num_or_name
from kubemu.cluster.api.validation.field import (
    child, duplicate, forbidden, immutable, index, invalid, not_supported, required, too_many)
from kubemu.cluster.api.validation.meta import (
    messages_to_errors, nonnegative, validate_label_selector, validate_qualified_name)

__all__ = ["validate_endpoint_slice", "validate_endpoint_slice_update", "validate_lease",
           "validate_network_policy", "validate_ingress", "validate_pdb",
           "validate_priority_class", "validate_priority_class_update", "validate_role",
           "validate_role_binding", "validate_role_binding_update", "SYSTEM_PRIORITY_CLASSES",
           "HIGHEST_USER_PRIORITY"]

HIGHEST_USER_PRIORITY = 1_000_000_000
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2_000_001_000,
                           "system-cluster-critical": 2_000_000_000}
_ADDRESS_TYPES = ("FQDN", "IPv4", "IPv6")
_RBAC_GROUP = "rbac.authorization.k8s.io"


def validate_endpoint_slice(obj: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    address_type = obj.get("addressType") or ""
    if not address_type:
        errs.append(required("addressType"))
    elif address_type not in _ADDRESS_TYPES:
        errs.append(not_supported("addressType", address_type, _ADDRESS_TYPES))
    endpoints = obj.get("endpoints") or []
    if len(endpoints) > 1000:
        errs.append(too_many("endpoints", len(endpoints), 1000))
    for i, ep in enumerate(endpoints):
        p = index("endpoints", i)
        addresses = ep.get("addresses") or []
        if not addresses:
            errs.append(required(child(p, "addresses"), "must contain at least 1 address"))
        elif len(addresses) > 100:
            errs.append(too_many(child(p, "addresses"), len(addresses), 100))
        for j, address in enumerate(addresses):
            errs += _address(address, address_type, index(child(p, "addresses"), j))
        if ep.get("nodeName"):
            errs += messages_to_errors(child(p, "nodeName"), ep["nodeName"],
                                       n.is_dns1123_subdomain(ep["nodeName"]))
        if ep.get("hostname"):
            errs += messages_to_errors(child(p, "hostname"), ep["hostname"],
                                       n.is_dns1123_label(ep["hostname"]))
    names: set[str] = set()
    for i, port in enumerate(obj.get("ports") or []):
        p = index("ports", i)
        name = port.get("name") or ""
        if name:
            errs += messages_to_errors(child(p, "name"), name, n.is_dns1123_label(name))
        if name in names:
            errs.append(duplicate(child(p, "name"), name))
        names.add(name)
        protocol = port.get("protocol")
        if protocol is not None and protocol not in PROTOCOLS:
            errs.append(not_supported(child(p, "protocol"), protocol, PROTOCOLS))
        if port.get("port") is not None:
            errs += messages_to_errors(child(p, "port"), port["port"],
                                       n.is_valid_port_num(port["port"]))
        if port.get("appProtocol"):
            errs += validate_qualified_name(port["appProtocol"], child(p, "appProtocol"))
    return errs


def validate_endpoint_slice_update(new: dict, old: dict) -> list[FieldError]:
    return validate_endpoint_slice(new) + immutable(new.get("addressType"),
                                                    old.get("addressType"), "addressType")


def validate_lease(obj: dict) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs: list[FieldError] = []
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    if spec.get("leaseTransitions") is not None:
        errs += nonnegative(spec["leaseTransitions"], "spec.leaseTransitions")
    strategy = spec.get("strategy")
    if strategy is not None and strategy not in ("OldestEmulationVersion",):
        errs.append(not_supported("spec.strategy", strategy, ("OldestEmulationVersion",)))
    if spec.get("preferredHolder") and not strategy:
        errs.append(forbidden("spec.preferredHolder",
                              "may only be specified if `strategy` is defined"))
    return errs


def validate_network_policy(obj: dict) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs = validate_label_selector(spec.get("podSelector"), "spec.podSelector")
    for direction, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            rp = index(child("spec", direction), i)
            for j, port in enumerate(rule.get("ports") or []):
                errs += _policy_port(port, index(child(rp, "ports"), j))
            for j, peer in enumerate(rule.get(peers) or []):
                errs += _policy_peer(peer, index(child(rp, peers), j))
    types = spec.get("policyTypes") or []
    if len(types) > 2:
        return errs + [invalid("spec.policyTypes", types,
                               "may not specify more than two policyTypes")]
    for i, ptype in enumerate(types):
        if ptype not in ("Ingress", "Egress"):
            errs.append(not_supported(index("spec.policyTypes", i), ptype, ("Ingress", "Egress")))
    return errs


def validate_ingress(obj: dict) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs: list[FieldError] = []
    if spec.get("defaultBackend") is not None:
        errs += _ingress_backend(spec["defaultBackend"], "spec.defaultBackend")
    for i, rule in enumerate(spec.get("rules") or []):
        p = index("spec.rules", i)
        host = rule.get("host") or ""
        if host:
            bare = host[2:] if host.startswith("*.") else host
            errs += messages_to_errors(child(p, "host"), host, n.is_dns1123_subdomain(bare))
        for j, path in enumerate((rule.get("http") or {}).get("paths") or []):
            pp = index(child(p, "http", "paths"), j)
            ptype = path.get("pathType")
            if not ptype:
                errs.append(required(child(pp, "pathType"), "pathType must be specified"))
            elif ptype not in ("Exact", "ImplementationSpecific", "Prefix"):
                errs.append(not_supported(child(pp, "pathType"), ptype,
                                          ("Exact", "ImplementationSpecific", "Prefix")))
            elif ptype != "ImplementationSpecific" and not (path.get("path") or "").startswith(
                    "/"):
                errs.append(invalid(child(pp, "path"), path.get("path") or "",
                                    "must be an absolute path"))
            errs += _ingress_backend(path.get("backend") or {}, child(pp, "backend"))
    return errs


def validate_pdb(obj: dict) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs: list[FieldError] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        errs.append(invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    for f in ("minAvailable", "maxUnavailable"):
        if spec.get(f) is not None:
            errs += validate_int_or_percent(spec[f], child("spec", f))
            errs += not_more_than_100_percent(spec[f], child("spec", f))
    errs += validate_label_selector(spec.get("selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        errs.append(not_supported("spec.unhealthyPodEvictionPolicy", policy,
                                  ("AlwaysAllow", "IfHealthyBudget")))
    return errs


def validate_priority_class(obj: dict) -> list[FieldError]:
    name = (obj.get("metadata") or {}).get("name") or ""
    value = obj.get("value", 0)
    errs: list[FieldError] = []
    if name.startswith("system-"):
        known = SYSTEM_PRIORITY_CLASSES.get(name)
        if known is None:
            reason = f"{name} is not a known system priority class"
        elif known != value:
            reason = f"value of {name} PriorityClass must be {known}"
        elif obj.get("globalDefault", False):
            reason = f"globalDefault of {name} PriorityClass must be false"
        else:
            reason = ""
        if reason:
            errs.append(forbidden("metadata.name", "priority class names with 'system-' prefix "
                                  f"are reserved for system use only. error: {reason}"))
    elif value > HIGHEST_USER_PRIORITY:
        errs.append(forbidden("value", "maximum allowed value of a user defined priority is "
                              f"{HIGHEST_USER_PRIORITY}"))
    policy = obj.get("preemptionPolicy")
    if policy is not None and policy not in ("Never", "PreemptLowerPriority"):
        errs.append(not_supported("preemptionPolicy", policy, ("Never", "PreemptLowerPriority")))
    return errs


def validate_priority_class_update(new: dict, old: dict) -> list[FieldError]:
    errs = validate_priority_class(new)
    if new.get("value", 0) != old.get("value", 0):
        errs.append(forbidden("value", "may not be changed in an update."))
    return errs + immutable(new.get("preemptionPolicy"), old.get("preemptionPolicy"),
                            "preemptionPolicy")


def validate_role(obj: dict, *, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, rule in enumerate(obj.get("rules") or []):
        p = index("rules", i)
        if not rule.get("verbs"):
            errs.append(required(child(p, "verbs"), "verbs must contain at least one value"))
        urls = rule.get("nonResourceURLs") or []
        if urls:
            if namespaced:
                errs.append(invalid(child(p, "nonResourceURLs"), urls,
                                    "namespaced rules cannot apply to non-resource URLs"))
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                errs.append(invalid(child(p, "nonResourceURLs"), urls, "rules cannot apply to "
                                    "both regular resources and non-resource URLs"))
            continue
        if not rule.get("apiGroups"):
            errs.append(required(child(p, "apiGroups"),
                                 "resource rules must supply at least one api group"))
        if not rule.get("resources"):
            errs.append(required(child(p, "resources"),
                                 "resource rules must supply at least one resource"))
    aggregation = obj.get("aggregationRule")
    if aggregation is not None:
        for i, selector in enumerate(aggregation.get("clusterRoleSelectors") or []):
            errs += validate_label_selector(
                selector, index("aggregationRule.clusterRoleSelectors", i))
    return errs


def validate_role_binding(obj: dict, *, namespaced: bool) -> list[FieldError]:
    ref = obj.get("roleRef") or {}
    errs: list[FieldError] = []
    if ref.get("apiGroup") != _RBAC_GROUP:
        errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", [_RBAC_GROUP]))
    kinds = ("Role", "ClusterRole") if namespaced else ("ClusterRole",)
    if ref.get("kind") not in kinds:
        errs.append(not_supported("roleRef.kind", ref.get("kind") or "", kinds))
    if not ref.get("name"):
        errs.append(required("roleRef.name"))
    else:
        errs += messages_to_errors("roleRef.name", ref["name"], n.is_path_segment_name(ref["name"]))
    for i, subject in enumerate(obj.get("subjects") or []):
        errs += _subject(subject, index("subjects", i), namespaced)
    return errs


def validate_role_binding_update(new: dict, old: dict, *, namespaced: bool) -> list[FieldError]:
    errs = validate_role_binding(new, namespaced=namespaced)
    if (new.get("roleRef") or {}) != (old.get("roleRef") or {}):
        errs.append(invalid("roleRef", new.get("roleRef"), "cannot change roleRef"))
    return errs


def _address(address: str, address_type: str, path: str) -> list[FieldError]:
    if address_type in ("IPv4", "IPv6"):
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        if ip is None or ip.version != int(address_type[-1]):
            return [invalid(path, address, f"must be a valid {address_type} address")]
        return []
    if address_type == "FQDN":
        return messages_to_errors(path, address, n.is_dns1123_subdomain(address))
    return []


def _policy_port(port: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    protocol = port.get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        errs.append(not_supported(child(path, "protocol"), protocol, ("TCP", "UDP", "SCTP")))
    value, end = port.get("port"), port.get("endPort")
    if value is None:
        if end is not None:
            errs.append(invalid(child(path, "endPort"), end,
                                "may not be specified when `port` is not specified"))
    elif isinstance(value, int):
        errs += messages_to_errors(child(path, "port"), value, n.is_valid_port_num(value))
        if end is not None:
            if end < value:
                errs.append(invalid(child(path, "endPort"), value,
                                    "must be greater than or equal to `port`"))
            errs += messages_to_errors(child(path, "endPort"), end, n.is_valid_port_num(end))
    else:
        if end is not None:
            errs.append(invalid(child(path, "endPort"), end,
                                "may not be specified when `port` is non-numeric"))
        errs += validate_port_num_or_name(value, child(path, "port"))
    return errs


def _policy_peer(peer: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    present = 0
    for f in ("podSelector", "namespaceSelector"):
        if peer.get(f) is not None:
            present += 1
            errs += validate_label_selector(peer[f], child(path, f))
    block = peer.get("ipBlock")
    if block is not None:
        present += 1
        errs += _ip_block(block, child(path, "ipBlock"))
    if not present:
        errs.append(required(path, "must specify a peer"))
    elif present > 1 and block is not None:
        errs.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


def _ip_block(block: dict, path: str) -> list[FieldError]:
    cidr = block.get("cidr") or ""
    if not cidr:
        return [required(child(path, "cidr"))]
    msg = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
    if not n.is_valid_cidr(cidr):
        return [invalid(child(path, "cidr"), cidr, msg)]
    network = ipaddress.ip_network(cidr, strict=False)
    errs: list[FieldError] = []
    for i, except_cidr in enumerate(block.get("except") or []):
        p = index(child(path, "except"), i)
        if not n.is_valid_cidr(except_cidr):
            errs.append(invalid(p, except_cidr, msg))
            continue
        inner = ipaddress.ip_network(except_cidr, strict=False)
        if inner.version != network.version or not inner.subnet_of(network) or (
                inner.prefixlen <= network.prefixlen):
            errs.append(invalid(p, except_cidr, "must be a strict subset of `cidr`"))
    return errs


def _ingress_backend(backend: dict, path: str) -> list[FieldError]:
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if service is None and resource is None:
        return [invalid(path, "", "must specify one of: `resource` or `service`")]
    if service is None:
        return []
    errs = messages_to_errors(child(path, "service", "name"), service.get("name") or "",
                              n.is_dns1035_label(service.get("name") or ""))
    port = service.get("port") or {}
    if port.get("name") and port.get("number"):
        errs.append(invalid(child(path, "service", "port"), port,
                            "cannot set both port name & port number"))
    elif port.get("name"):
        errs += messages_to_errors(child(path, "service", "port", "name"), port["name"],
                                   n.is_valid_port_name(port["name"]))
    elif port.get("number"):
        errs += messages_to_errors(child(path, "service", "port", "number"), port["number"],
                                   n.is_valid_port_num(port["number"]))
    else:
        errs.append(required(child(path, "service", "port"),
                             "port name or number is required"))
    return errs


def _subject(subject: dict, path: str, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    name, kind, group = subject.get("name") or "", subject.get("kind") or "", subject.get(
        "apiGroup") or ""
    if not name:
        errs.append(required(child(path, "name")))
    if kind == "ServiceAccount":
        if name:
            errs += messages_to_errors(child(path, "name"), name, n.is_dns1123_subdomain(name))
        if group:
            errs.append(not_supported(child(path, "apiGroup"), group, [""]))
        if not namespaced and not subject.get("namespace"):
            errs.append(required(child(path, "namespace")))
    elif kind in ("User", "Group"):
        if group != _RBAC_GROUP:
            errs.append(not_supported(child(path, "apiGroup"), group, [_RBAC_GROUP]))
    else:
        errs.append(not_supported(child(path, "kind"), kind, ("ServiceAccount", "User",
                                                              "Group")))
    return errs
