"""PodSpec and PodTemplateSpec validation, shared by Pods and every workload's template.

Upstream's ValidatePodSpec: volumes, containers and init containers (their own modules), then
the pod-wide fields: restartPolicy and dnsPolicy enums, dnsConfig, node and pod (anti-)affinity,
tolerations, topology spread constraints, scheduling gates, names (nodeName,
serviceAccountName, hostname, subdomain) and the numeric limits. `validate_pod_template`
checks a template's labels and annotations at `<path>.labels` / `<path>.annotations` (upstream
prints them without `metadata`) and forbids ephemeral containers in templates.
"""

from __future__ import annotations

from typing import Any

from kubemu.cluster.api.errors import FieldError
from kubemu.cluster.api.validation import names as n
from kubemu.cluster.api.validation.containers import (
    validate_containers, validate_init_containers)
from kubemu.cluster.api.validation.field import (
    IS_NEGATIVE, child, duplicate, forbidden, index, invalid, not_supported, required)
from kubemu.cluster.api.validation.meta import (
    messages_to_errors, validate_annotations, validate_label_selector, validate_labels,
    validate_operator_values, validate_qualified_name)
from kubemu.cluster.api.validation.volumes import validate_volumes

__all__ = ["validate_pod_spec", "validate_pod_template", "validate_tolerations",
           "TAINT_EFFECTS", "RESTART_POLICIES"]

RESTART_POLICIES = ("Always", "OnFailure", "Never")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
_MAX_UINT32 = 4294967295
_NOT_POSITIVE = "must be greater than zero"


def validate_pod_template(template: Any, path: str) -> list[FieldError]:
    if template is None:
        return [required(path)]
    meta = template.get("metadata") or {}
    spec = template.get("spec") or {}
    errs = validate_labels(meta.get("labels"), child(path, "labels"))
    errs += validate_annotations(meta.get("annotations"), child(path, "annotations"))
    errs += validate_pod_spec(spec, child(path, "spec"))
    if spec.get("ephemeralContainers"):
        errs.append(forbidden(child(path, "spec", "ephemeralContainers"),
                              "ephemeral containers not allowed in pod template"))
    return errs


def validate_pod_spec(spec: dict, path: str) -> list[FieldError]:
    volumes, errs = validate_volumes(spec.get("volumes"), child(path, "volumes"))
    errs += validate_containers(spec.get("containers"), child(path, "containers"), volumes)
    errs += validate_init_containers(spec.get("initContainers"), spec.get("containers"),
                                     child(path, "initContainers"), volumes)
    errs += _host_network_ports(spec, path)
    errs += _restart_policy(spec.get("restartPolicy"), child(path, "restartPolicy"))
    errs += _dns(spec, path)
    errs += validate_labels(spec.get("nodeSelector"), child(path, "nodeSelector"))
    for f, fn in (("serviceAccountName", n.is_dns1123_subdomain),
                  ("nodeName", n.is_dns1123_subdomain), ("hostname", n.is_dns1123_label),
                  ("subdomain", n.is_dns1123_label),
                  ("priorityClassName", n.is_dns1123_subdomain)):
        if spec.get(f):
            errs += messages_to_errors(child(path, f), spec[f], fn(spec[f]))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not 1 <= deadline <= _MAX_UINT32:
        errs.append(invalid(child(path, "activeDeadlineSeconds"), deadline,
                            n.inclusive_range_error(1, _MAX_UINT32)))
    grace = spec.get("terminationGracePeriodSeconds")
    if grace is not None and grace < 0:
        errs.append(invalid(child(path, "terminationGracePeriodSeconds"), grace, IS_NEGATIVE))
    preemption = spec.get("preemptionPolicy")
    if preemption is not None and preemption not in ("Never", "PreemptLowerPriority"):
        errs.append(not_supported(child(path, "preemptionPolicy"), preemption,
                                  ("Never", "PreemptLowerPriority")))
    errs += validate_tolerations(spec.get("tolerations") or [], child(path, "tolerations"))
    errs += _affinity(spec.get("affinity") or {}, child(path, "affinity"))
    errs += _spread(spec.get("topologySpreadConstraints") or [],
                    child(path, "topologySpreadConstraints"))
    errs += _gates(spec.get("schedulingGates") or [], child(path, "schedulingGates"))
    for i, gate in enumerate(spec.get("readinessGates") or []):
        errs += validate_qualified_name(gate.get("conditionType", ""),
                                        child(index(child(path, "readinessGates"), i),
                                              "conditionType"))
    return errs


def validate_tolerations(tolerations: list[dict], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, tol in enumerate(tolerations):
        p = index(path, i)
        tkey, op = tol.get("key") or "", tol.get("operator") or ""
        effect, value = tol.get("effect") or "", tol.get("value") or ""
        if tkey:
            errs += validate_qualified_name(tkey, child(p, "key"))
        if not tkey and op != "Exists":
            errs.append(invalid(child(p, "operator"), op, "operator must be Exists when `key` "
                                'is empty, which means "match all values and all keys"'))
        if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
            errs.append(invalid(child(p, "effect"), effect,
                                "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        if op in ("Equal", ""):
            msgs = n.is_valid_label_value(value)
            if msgs:
                errs.append(invalid(child(p, "operator"), value, ";".join(msgs)))
        elif op == "Exists":
            if value:
                errs.append(invalid(child(p, "operator"), tol,
                                    "value must be empty when `operator` is 'Exists'"))
        else:
            errs.append(not_supported(child(p, "operator"), op, ("Equal", "Exists")))
        if effect and effect not in TAINT_EFFECTS:
            errs.append(not_supported(child(p, "effect"), effect, TAINT_EFFECTS))
    return errs


def _restart_policy(policy: Any, path: str) -> list[FieldError]:
    if not policy:
        return [required(path)]
    if policy not in RESTART_POLICIES:
        return [not_supported(path, policy, RESTART_POLICIES)]
    return []


def _host_network_ports(spec: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for field_name in ("containers", "initContainers"):
        for i, ctr in enumerate(spec.get(field_name) or []):
            for j, port in enumerate(ctr.get("ports") or []):
                p = index(child(index(child(path, field_name), i), "ports"), j)
                host, container = port.get("hostPort") or 0, port.get("containerPort") or 0
                if spec.get("hostNetwork") and host and host != container:
                    errs.append(invalid(child(p, "hostPort"), host,
                                        "must match `containerPort` when `hostNetwork` is true"))
    seen: set[str] = set()
    for i, ctr in enumerate(spec.get("containers") or []):
        for j, port in enumerate(ctr.get("ports") or []):
            if not port.get("hostPort"):
                continue
            k = f"{port.get('hostIP', '')}/{port.get('protocol', 'TCP')}/{port['hostPort']}"
            if k in seen:
                errs.append(duplicate(index(child(index(child(path, "containers"), i), "ports"),
                                            j), k))
            seen.add(k)
    return errs


def _dns(spec: dict, path: str) -> list[FieldError]:
    policy, config = spec.get("dnsPolicy"), spec.get("dnsConfig")
    p = child(path, "dnsPolicy")
    if not policy:
        errs = [required(p)]
    elif policy not in _DNS_POLICIES:
        errs = [not_supported(p, policy, _DNS_POLICIES)]
    else:
        errs = []
    cp = child(path, "dnsConfig")
    if policy == "None":
        if config is None:
            return errs + [required(cp, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not config.get("nameservers"):
            return errs + [required(child(cp, "nameservers"), "must provide at least one DNS "
                                    "nameserver when `dnsPolicy` is None")]
    if config is None:
        return errs
    servers = config.get("nameservers") or []
    if len(servers) > 3:
        errs.append(invalid(child(cp, "nameservers"), servers,
                            "must not have more than 3 nameservers"))
    for i, server in enumerate(servers):
        if not n.is_valid_ip(server):
            errs.append(invalid(index(child(cp, "nameservers"), i), server,
                                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
    searches = config.get("searches") or []
    if len(searches) > 32:
        errs.append(invalid(child(cp, "searches"), searches,
                            "must not have more than 32 search paths"))
    if len(" ".join(searches)) > 2048:
        errs.append(invalid(child(cp, "searches"), searches, "must not have more than 2048 "
                            "characters (including spaces) in the search list"))
    for i, search in enumerate(searches):
        trimmed = search[:-1] if search.endswith(".") else search
        errs += messages_to_errors(index(child(cp, "searches"), i), trimmed,
                                   n.is_dns1123_subdomain(trimmed))
    for i, option in enumerate(config.get("options") or []):
        if not option.get("name"):
            errs.append(required(index(child(cp, "options"), i), "must not be empty"))
    return errs


def _affinity(affinity: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    node = affinity.get("nodeAffinity") or {}
    req = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    if req is not None:
        rp = child(path, "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution")
        terms = req.get("nodeSelectorTerms") or []
        if not terms:
            errs.append(required(child(rp, "nodeSelectorTerms"),
                                 "must have at least one node selector term"))
        for i, term in enumerate(terms):
            errs += _node_selector_term(term, index(child(rp, "nodeSelectorTerms"), i))
    pp = child(path, "nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution")
    for i, pref in enumerate(node.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
        errs += _weight(pref, index(pp, i))
        errs += _node_selector_term(pref.get("preference") or {},
                                    child(index(pp, i), "preference"))
    for kind in ("podAffinity", "podAntiAffinity"):
        pa = affinity.get(kind) or {}
        rp = child(path, kind, "requiredDuringSchedulingIgnoredDuringExecution")
        for i, term in enumerate(pa.get("requiredDuringSchedulingIgnoredDuringExecution") or []):
            errs += _pod_affinity_term(term, index(rp, i))
        pp = child(path, kind, "preferredDuringSchedulingIgnoredDuringExecution")
        for i, w in enumerate(pa.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
            errs += _weight(w, index(pp, i))
            errs += _pod_affinity_term(w.get("podAffinityTerm") or {},
                                       child(index(pp, i), "podAffinityTerm"))
    return errs


def _weight(item: dict, path: str) -> list[FieldError]:
    weight = item.get("weight", 0)
    if not 1 <= weight <= 100:
        return [invalid(child(path, "weight"), weight, "must be in the range 1-100")]
    return []


def _node_selector_term(term: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, req in enumerate(term.get("matchExpressions") or []):
        p = index(child(path, "matchExpressions"), i)
        op, values = req.get("operator", ""), req.get("values") or []
        errs += validate_operator_values(op, values, p, numeric=True)
        errs += validate_qualified_name(req.get("key", ""), child(p, "key"))
    for i, req in enumerate(term.get("matchFields") or []):
        p = index(child(path, "matchFields"), i)
        if req.get("key") != "metadata.name":
            errs.append(not_supported(child(p, "key"), req.get("key", ""), ["metadata.name"]))
        if req.get("operator") in ("In", "NotIn") and len(req.get("values") or []) != 1:
            errs.append(required(child(p, "values"), "must be only one value when `operator` "
                                 "is 'In' or 'NotIn' for node field selector"))
    return errs


def _pod_affinity_term(term: dict, path: str) -> list[FieldError]:
    errs = validate_label_selector(term.get("labelSelector"), child(path, "labelSelector"))
    errs += validate_label_selector(term.get("namespaceSelector"),
                                    child(path, "namespaceSelector"))
    for ns in term.get("namespaces") or []:
        errs += messages_to_errors(child(path, "namespace"), ns, n.is_dns1123_label(ns))
    topology_key = term.get("topologyKey") or ""
    if not topology_key:
        errs.append(required(child(path, "topologyKey"), "can not be empty"))
    else:
        errs += validate_qualified_name(topology_key, child(path, "topologyKey"))
    return errs


def _spread(constraints: list[dict], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, c in enumerate(constraints):
        p = index(path, i)
        if c.get("maxSkew", 0) <= 0:
            errs.append(invalid(child(p, "maxSkew"), c.get("maxSkew", 0), _NOT_POSITIVE))
        if not c.get("topologyKey"):
            errs.append(required(child(p, "topologyKey"), "can not be empty"))
        action = c.get("whenUnsatisfiable", "")
        if action not in ("DoNotSchedule", "ScheduleAnyway"):
            errs.append(not_supported(child(p, "whenUnsatisfiable"), action,
                                      ("DoNotSchedule", "ScheduleAnyway")))
        for other in constraints[i + 1:]:
            if (other.get("topologyKey"), other.get("whenUnsatisfiable")) == (
                    c.get("topologyKey"), action):
                errs.append(duplicate(child(p, "{topologyKey, whenUnsatisfiable}"),
                                      f"{{{c.get('topologyKey')}, {action}}}"))
                break
        min_domains = c.get("minDomains")
        if min_domains is not None:
            if min_domains <= 0:
                errs.append(invalid(child(p, "minDomains"), min_domains, _NOT_POSITIVE))
            if action != "DoNotSchedule":
                errs.append(invalid(child(p, "minDomains"), min_domains, "can only use "
                                    f"minDomains if whenUnsatisfiable=DoNotSchedule, not {action}"))
        for f in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
            if c.get(f) is not None and c[f] not in ("Honor", "Ignore"):
                errs.append(not_supported(child(p, f), c[f], ("Honor", "Ignore")))
        errs += validate_label_selector(c.get("labelSelector"), child(p, "labelSelector"))
    return errs


def _gates(gates: list[dict], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, gate in enumerate(gates):
        name = gate.get("name", "")
        errs += validate_qualified_name(name, index(path, i))
        if name in seen:
            errs.append(duplicate(index(path, i), name))
        seen.add(name)
    return errs
