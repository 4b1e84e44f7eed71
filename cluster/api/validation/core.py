"""Core-group kinds other than Pod, Service and volumes: Namespace, Node, ConfigMap, Secret,
ServiceAccount, Event.

ConfigMap and Secret keys follow upstream's config-key syntax and a 1 MiB total; once
`immutable: true` is stored, data may not change and the flag may not be cleared. Secret
`data` values are base64 as on the wire; typed Secrets (tls, basic-auth, dockerconfigjson,
service-account-token, ...) must carry their keys. Node names are DNS subdomains, Namespace
names DNS labels; node podCIDRs may be set once. An Event must sit in its involved object's
namespace.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from kubemu.cluster.api.errors import FieldError
from kubemu.cluster.api.validation import names as n
from kubemu.cluster.api.validation.containers import validate_resource_quantity
from kubemu.cluster.api.validation.field import (
    child, forbidden, immutable, index, invalid, key, not_supported, required,
    too_long)
from kubemu.cluster.api.validation.meta import (
    messages_to_errors,
    validate_qualified_name)
from kubemu.cluster.api.validation.podspec import TAINT_EFFECTS

__all__ = ["validate_namespace", "validate_namespace_update", "validate_node",
           "validate_node_update", "validate_config_map", "validate_config_map_update",
           "validate_secret", "validate_secret_update", "validate_service_account",
           "validate_event", "MAX_SECRET_SIZE"]

MAX_SECRET_SIZE = 1024 * 1024
_STANDARD_FINALIZERS = ("foregroundDeletion", "kubernetes", "orphan")
_IMMUTABLE_SET = "field is immutable when `immutable` is set"
_CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
_NODE_CIDR_CHANGE = 'node updates may not change podCIDR except from "" to valid'
_SECRET_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def validate_namespace(obj: dict) -> list[FieldError]:
    return _namespace_finalizers(obj)


def validate_namespace_update(new: dict, old: dict) -> list[FieldError]:
    return _namespace_finalizers(new)


def validate_node(obj: dict) -> list[FieldError]:
    return _node_spec(obj.get("spec") or {}) + _node_resources(obj.get("status") or {})


def validate_node_update(new: dict, old: dict) -> list[FieldError]:
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    errs = _node_spec(spec) + _node_resources(new.get("status") or {})
    old_cidrs = old_spec.get("podCIDRs") or []
    if old_cidrs and old_cidrs != (spec.get("podCIDRs") or []):
        errs.append(forbidden("spec.podCIDRs", _NODE_CIDR_CHANGE))
    if old_spec.get("providerID") and old_spec["providerID"] != spec.get("providerID"):
        errs.append(forbidden("spec.providerID", "node updates may not change providerID "
                              'except from "" to valid'))
    return errs


def validate_config_map(obj: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
    total = 0
    for k, v in data.items():
        errs += messages_to_errors(key("data", k), k, n.is_config_map_key(k))
        if k in binary:
            errs.append(invalid(key("data", k), k, "duplicate of key present in binaryData"))
        total += len(str(v).encode())
    for k, v in binary.items():
        errs += messages_to_errors(key("binaryData", k), k, n.is_config_map_key(k))
        decoded, derr = _b64(v, key("binaryData", k))
        errs += derr
        total += len(decoded)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("", MAX_SECRET_SIZE))
    return errs


def validate_config_map_update(new: dict, old: dict) -> list[FieldError]:
    return _immutable_data(new, old, ("data", "binaryData")) + validate_config_map(new)


def validate_secret(obj: dict) -> list[FieldError]:
    return _secret_body(obj)


def validate_secret_update(new: dict, old: dict) -> list[FieldError]:
    errs = immutable(new.get("type") or "Opaque", old.get("type") or "Opaque", "type")
    errs += _immutable_data(new, old, ("data",))
    return errs + _secret_body(new)


def validate_service_account(obj: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ref in enumerate(obj.get("secrets") or []):
        if ref.get("name"):
            errs += messages_to_errors(child(index("secrets", i), "name"), ref["name"],
                                       n.is_dns1123_subdomain(ref["name"]))
    return errs


def validate_event(obj: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    involved_ns = (obj.get("involvedObject") or {}).get("namespace") or ""
    mismatch = invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    if not obj.get("eventTime"):
        if not involved_ns:
            if namespace not in ("", "default"):
                errs.append(mismatch)
        elif namespace != involved_ns:
            errs.append(mismatch)
        return errs
    if not involved_ns and namespace not in ("default", "kube-system"):
        errs.append(mismatch)
    controller = obj.get("reportingComponent") or ""
    if not controller:
        errs.append(required("reportingComponent"))
    errs += validate_qualified_name(controller, "reportingComponent")
    for f, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
        if not obj.get(f):
            errs.append(required(f))
        elif len(obj[f]) > limit:
            errs.append(invalid(f, "", f"can have at most {limit} characters"))
    if len(obj.get("message") or "") > 1024:
        errs.append(invalid("message", "", "can have at most 1024 characters"))
    return errs


def _namespace_finalizers(obj: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    for f in (obj.get("spec") or {}).get("finalizers") or []:
        errs += validate_qualified_name(f, "spec.finalizers")
        if "/" not in f and f not in _STANDARD_FINALIZERS:
            errs.append(not_supported("spec.finalizers", f, _STANDARD_FINALIZERS))
    return errs


def _node_spec(spec: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    cidrs = spec.get("podCIDRs") or []
    for i, cidr in enumerate(cidrs):
        if not n.is_valid_cidr(cidr):
            errs.append(invalid(index("spec.podCIDRs", i), cidr, _CIDR_MSG))
    if len(cidrs) > 2:
        errs.append(invalid("spec.podCIDRs", cidrs,
                            "may specify no more than one CIDR for each IP family"))
    if spec.get("podCIDR") and cidrs and spec["podCIDR"] != cidrs[0]:
        errs.append(invalid("spec.podCIDR", spec["podCIDR"], "must match podCIDRs[0]"))
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(spec.get("taints") or []):
        p = index("spec.taints", i)
        tkey, effect = taint.get("key") or "", taint.get("effect") or ""
        errs += validate_qualified_name(tkey, child(p, "key"))
        msgs = n.is_valid_label_value(taint.get("value") or "")
        if msgs:
            errs.append(invalid(child(p, "value"), taint.get("value") or "", ";".join(msgs)))
        if not effect:
            errs.append(required(child(p, "effect")))
        elif effect not in TAINT_EFFECTS:
            errs.append(not_supported(child(p, "effect"), effect, TAINT_EFFECTS))
        if (tkey, effect) in seen:
            errs.append(FieldError("Duplicate", p, "taints must be unique by key and effect "
                                   "pair", taint))
        seen.add((tkey, effect))
    return errs


def _node_resources(status: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    for f in ("capacity", "allocatable"):
        for name, value in (status.get(f) or {}).items():
            p = key(child("status", f), name)
            errs += validate_qualified_name(name, p)
            errs += validate_resource_quantity(value, p)[1]
    return errs


def _immutable_data(new: dict, old: dict, fields: tuple[str, ...]) -> list[FieldError]:
    if old.get("immutable") is not True:
        return []
    errs: list[FieldError] = []
    if new.get("immutable") is not True:
        errs.append(forbidden("immutable", _IMMUTABLE_SET))
    for f in fields:
        if (new.get(f) or {}) != (old.get(f) or {}):
            errs.append(forbidden(f, _IMMUTABLE_SET))
    return errs


def _secret_body(obj: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    data = obj.get("data") or {}
    decoded: dict[str, bytes] = {}
    total = 0
    for k, v in data.items():
        errs += messages_to_errors(key("data", k), k, n.is_config_map_key(k))
        raw, derr = _b64(v, key("data", k))
        errs += derr
        decoded[k] = raw
        total += len(raw)
    if total > MAX_SECRET_SIZE:
        errs.append(too_long("data", MAX_SECRET_SIZE))
    stype = obj.get("type") or "Opaque"
    if stype == "kubernetes.io/service-account-token":
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif stype == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs += [required("data[username]"), required("data[password]")]
    for k in _SECRET_KEYS.get(stype, ()):
        if k not in data or (stype == "kubernetes.io/ssh-auth" and not decoded.get(k)):
            errs.append(required(key("data", k)))
        elif k.startswith(".docker"):
            try:
                orjson.loads(decoded[k])
            except orjson.JSONDecodeError as e:
                errs.append(invalid(key("data", k), "<secret contents redacted>", str(e)))
    return errs


def _b64(value: Any, path: str) -> tuple[bytes, list[FieldError]]:
    try:
        return base64.b64decode(str(value), validate=True), []
    except (binascii.Error, ValueError):
        return b"", [invalid(path, "<secret contents redacted>", "illegal base64 data")]
