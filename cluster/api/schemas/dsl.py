"""A small vocabulary for writing kubemu's API schemas as OpenAPI v3 fragments.

Each schema module calls `define(name, description, props, ...)` once per type, with upstream's
definition names (`io.k8s.api.core.v1.PodSpec`) so that `kubectl explain` and client tooling
see familiar names. Field helpers return plain OpenAPI v3 dicts; references are
`{"allOf": [{"$ref": ...}], "description": ...}` as kube-apiserver writes them, so a field keeps
its own description. Patch metadata (`x-kubernetes-patch-merge-key`, `-patch-strategy`) and
list semantics (`x-kubernetes-list-type`, `-list-map-keys`) live on the array fields: kubectl
computes strategic merge patches from them, and the server applies them the same way.
Everything here is data: no I/O, built once at import.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DEFINITIONS", "define", "ref", "string", "integer", "number", "boolean", "time",
    "quantity", "int_or_string", "array", "string_map", "map_of", "free_form", "ref_name",
]

DEFINITIONS: dict[str, dict] = {}
"""Every defined type by its definition name."""

_REF_PREFIX = "#/components/schemas/"


def define(name: str, description: str, props: dict[str, dict], *,
           required: tuple[str, ...] | list[str] = (),
           gvk: tuple[str, str, str] | None = None) -> str:
    """Register object type `name` (properties `props`); `gvk` = (group, version, kind) marks a
    top-level kind. Returns the name, for `ref`."""
    schema: dict[str, Any] = {"description": description, "type": "object",
                              "properties": props}
    if required:
        schema["required"] = list(required)
    if gvk is not None:
        group, version, kind = gvk
        schema["x-kubernetes-group-version-kind"] = [
            {"group": group, "version": version, "kind": kind}]
    DEFINITIONS[name] = schema
    return name


def ref(name: str, description: str = "") -> dict:
    """A field whose type is the defined type `name`."""
    field: dict[str, Any] = {"allOf": [{"$ref": _REF_PREFIX + name}]}
    if description:
        field["description"] = description
    return field


def ref_name(field: dict) -> str | None:
    """The definition name a field refers to (through allOf or $ref), or None."""
    target = field.get("$ref") or ((field.get("allOf") or [{}])[0].get("$ref"))
    return target[len(_REF_PREFIX):] if target else None


def _with(description: str, schema: dict, extra: dict) -> dict:
    if description:
        schema["description"] = description
    schema.update({k: v for k, v in extra.items() if v is not None})
    return schema


def string(description: str = "", *, enum: list[str] | None = None,
           format: str | None = None, default: str | None = None) -> dict:
    return _with(description, {"type": "string"},
                 {"enum": enum, "format": format, "default": default})


def integer(description: str = "", *, format: str = "int32",
            default: int | None = None) -> dict:
    return _with(description, {"type": "integer", "format": format}, {"default": default})


def number(description: str = "", *, format: str = "double") -> dict:
    return _with(description, {"type": "number", "format": format}, {})


def boolean(description: str = "", *, default: bool | None = None) -> dict:
    return _with(description, {"type": "boolean"}, {"default": default})


def time(description: str = "") -> dict:
    """An RFC 3339 timestamp (upstream's metav1.Time)."""
    return string(description, format="date-time")


def quantity(description: str = "") -> dict:
    """A resource quantity ("500m", "1Gi", 2): string or number."""
    return ref("io.k8s.apimachinery.pkg.api.resource.Quantity", description)


def int_or_string(description: str = "") -> dict:
    return ref("io.k8s.apimachinery.pkg.util.intstr.IntOrString", description)


def array(items: dict, description: str = "", *, merge_key: str | None = None,
          strategy: str | None = None, list_type: str | None = None,
          list_map_keys: list[str] | None = None) -> dict:
    """A list. `merge_key` + `strategy="merge"` make strategic merge patch merge items by that
    key (containers by name); `strategy="merge"` alone merges a list of scalars as a set."""
    return _with(description, {"type": "array", "items": items}, {
        "x-kubernetes-patch-merge-key": merge_key, "x-kubernetes-patch-strategy": strategy,
        "x-kubernetes-list-type": list_type, "x-kubernetes-list-map-keys": list_map_keys})


def map_of(values: dict, description: str = "") -> dict:
    return _with(description, {"type": "object", "additionalProperties": values}, {})


def string_map(description: str = "") -> dict:
    """map[string]string, as labels, annotations, nodeSelector and ConfigMap data."""
    return map_of({"type": "string", "default": ""}, description)


def free_form(description: str = "") -> dict:
    """Any JSON (a RawExtension, a CRD's arbitrary fields)."""
    return _with(description, {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                 {})


define("io.k8s.apimachinery.pkg.api.resource.Quantity",
       "Quantity is a fixed-point representation of a number, such as 500m (0.5) or 1Gi.",
       {})
DEFINITIONS["io.k8s.apimachinery.pkg.api.resource.Quantity"] = {
    "description": DEFINITIONS["io.k8s.apimachinery.pkg.api.resource.Quantity"]["description"],
    "oneOf": [{"type": "string"}, {"type": "number"}]}
DEFINITIONS["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {
    "description": "IntOrString is a type that can hold an int32 or a string.",
    "type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True}
