"""Defaults of the smaller groups: networking, discovery, scheduling, rbac, apiextensions.

NetworkPolicy: policyTypes [Ingress] (plus Egress when egress rules exist) and TCP ports.
EndpointSlice ports: name "" and protocol TCP. PriorityClass: preemptionPolicy
PreemptLowerPriority. RBAC bindings: roleRef.apiGroup and subject apiGroups. CRD:
names.singular (lower-cased kind), names.listKind (`<Kind>List`), conversion strategy None,
webhook service port 443 and status.storedVersions [the storage version].
"""

from __future__ import annotations

__all__ = ["default_network_policy", "default_endpoint_slice", "default_priority_class",
           "default_role_binding", "default_crd"]

_RBAC_GROUP = "rbac.authorization.k8s.io"


def default_network_policy(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for port in rule.get("ports") or []:
                if port.get("protocol") is None:
                    port["protocol"] = "TCP"
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])


def default_endpoint_slice(obj: dict) -> None:
    for port in obj.get("ports") or []:
        if port.get("name") is None:
            port["name"] = ""
        if port.get("protocol") is None:
            port["protocol"] = "TCP"


def default_priority_class(obj: dict) -> None:
    if obj.get("preemptionPolicy") is None:
        obj["preemptionPolicy"] = "PreemptLowerPriority"


def default_role_binding(obj: dict) -> None:
    ref = obj.get("roleRef")
    if ref is not None and not ref.get("apiGroup"):
        ref["apiGroup"] = _RBAC_GROUP
    for subject in obj.get("subjects") or []:
        if not subject.get("apiGroup"):
            if subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = _RBAC_GROUP
            elif subject.get("kind") == "ServiceAccount":
                subject["apiGroup"] = ""


def default_crd(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    names = spec.setdefault("names", {})
    kind = names.get("kind") or ""
    if not names.get("singular"):
        names["singular"] = kind.lower()
    if not names.get("listKind") and kind:
        names["listKind"] = f"{kind}List"
    if spec.get("conversion") is None:
        spec["conversion"] = {"strategy": "None"}
    service = ((spec["conversion"].get("webhook") or {}).get("clientConfig") or {}).get(
        "service")
    if service is not None and service.get("port") is None:
        service["port"] = 443
    status = obj.setdefault("status", {})
    if not status.get("storedVersions"):
        stored = [v.get("name") for v in spec.get("versions") or [] if v.get("storage")][:1]
        if stored:
            status["storedVersions"] = stored
