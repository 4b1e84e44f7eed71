"""CustomResourceDefinition validation (apiextensions.k8s.io/v1).

A CRD's name is `<spec.names.plural>.<spec.group>`; the group is a DNS subdomain with at least
one dot; names are DNS-1035 labels (kind and listKind may be mixed case) and kind differs
from listKind; scope is Namespaced or Cluster; versions are unique DNS-1035 labels with
exactly one storage version, each with an openAPIV3Schema. On update the group and plural
never change, and the scope is frozen once the CRD is Established. Structural-schema rules
are checked by the handler that compiles the schema, not here.
"""

from __future__ import annotations

from kubemu.cluster.api.errors import FieldError
from kubemu.cluster.api.validation import names as n
from kubemu.cluster.api.validation.field import (
    child, immutable, index, invalid, not_supported, required)

__all__ = ["validate_crd", "validate_crd_update"]

_SCOPES = ("Cluster", "Namespaced")
_ONE_STORAGE = "must have exactly one version marked as storage version"


def validate_crd(obj: dict) -> list[FieldError]:
    spec = obj.get("spec") or {}
    group = spec.get("group") or ""
    names = spec.get("names") or {}
    name = (obj.get("metadata") or {}).get("name") or ""
    errs: list[FieldError] = []
    if name != f"{names.get('plural', '')}.{group}":
        errs.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if not group:
        errs.append(required("spec.group"))
    else:
        errs += [invalid("spec.group", group, m) for m in n.is_dns1123_subdomain(group)]
        if len(group.split(".")) < 2:
            errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    scope = spec.get("scope") or ""
    if not scope:
        errs.append(required("spec.scope"))
    elif scope not in _SCOPES:
        errs.append(not_supported("spec.scope", scope, _SCOPES))
    errs += _versions(spec.get("versions") or [])
    errs += _names(names, "spec.names")
    for f in ("plural", "singular", "kind", "listKind"):
        if not names.get(f):
            errs.append(required(child("spec.names", f)))
    strategy = (spec.get("conversion") or {}).get("strategy")
    if strategy is not None and strategy not in ("None", "Webhook"):
        errs.append(not_supported("spec.conversion.strategy", strategy, ("None", "Webhook")))
    return errs


def validate_crd_update(new: dict, old: dict) -> list[FieldError]:
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    errs = validate_crd(new)
    errs += immutable(spec.get("group"), old_spec.get("group"), "spec.group")
    errs += immutable((spec.get("names") or {}).get("plural"),
                      (old_spec.get("names") or {}).get("plural"), "spec.names.plural")
    established = any(c.get("type") == "Established" and c.get("status") == "True"
                      for c in (old.get("status") or {}).get("conditions") or [])
    if established:
        errs += immutable(spec.get("scope"), old_spec.get("scope"), "spec.scope")
    return errs


def _versions(versions: list[dict]) -> list[FieldError]:
    errs: list[FieldError] = []
    if not versions:
        errs.append(invalid("spec.versions", versions, _ONE_STORAGE))
    seen: set[str] = set()
    unique = True
    storage = 0
    for i, version in enumerate(versions):
        p = index("spec.versions", i)
        name = version.get("name") or ""
        if name in seen:
            unique = False
        seen.add(name)
        storage += 1 if version.get("storage") else 0
        msgs = n.is_dns1035_label(name)
        if msgs:
            errs.append(invalid(child(p, "name"), name, ",".join(msgs)))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            errs.append(required(child(p, "schema", "openAPIV3Schema"), "schemas are required"))
    if not unique:
        errs.append(invalid("spec.versions", versions, "must contain unique version names"))
    if versions and storage != 1:
        errs.append(invalid("spec.versions", versions, _ONE_STORAGE))
    return errs


def _names(names: dict, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for f in ("plural", "singular"):
        value = names.get(f) or ""
        msgs = n.is_dns1035_label(value)
        if value and msgs:
            errs.append(invalid(child(path, f), value, ",".join(msgs)))
    for f in ("kind", "listKind"):
        value = names.get(f) or ""
        msgs = n.is_dns1035_label(value.lower())
        if value and msgs:
            errs.append(invalid(child(path, f), value, "may have mixed case, but should "
                                "otherwise match: " + ",".join(msgs)))
    for f in ("shortNames", "categories"):
        for i, value in enumerate(names.get(f) or []):
            msgs = n.is_dns1035_label(value)
            if msgs:
                errs.append(invalid(index(child(path, f), i), value, ",".join(msgs)))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        errs.append(invalid(child(path, "listKind"), names["listKind"],
                            "kind and listKind may not be the same"))
    return errs
