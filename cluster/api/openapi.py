"""The OpenAPI documents kube-apiserver serves: the /openapi/v3 index, one v3 document per
group-version, and the swagger 2.0 /openapi/v2 document.

kubectl reads them: `apply` fetches the v3 index and its group-version document to learn
whether the PATCH operation of a kind declares `fieldValidation` (then the server validates)
and whether it accepts strategic merge patch (built-in kinds; not custom resources), and
computes that patch from the schema's patch metadata; `explain` walks the schema of the kind
whose `x-kubernetes-group-version-kind` matches. Documents are derived from a `Registry`, so
custom resources appear with their CRD schema (named `com.example.v1.Widget`, with apiVersion,
kind and metadata added) once the registry serves them.

The paths and operations come from `openapi_paths`; this module gathers each document's
schemas (every definition reachable from its kinds) and, for v2, converts them (`#/definitions/`
refs, allOf-wrapped refs flattened, oneOf turned into `type: string`). `OpenAPICache` builds each document once
per registry state and keeps its orjson bytes and SHA-512 hash (the index's `?hash=` and the
ETag); `invalidate()` after CRDs change. Returned documents are shared: do not mutate them.
kubectl 1.32 asks for /openapi/v2 only as protobuf, so the v2 JSON serves other clients;
kubectl needs v3.
"""

from __future__ import annotations

import copy
import hashlib

import orjson

from kubemu.cluster.api.openapi_paths import (
    BEARER, EXTRA, JSON, META, REF2, REF3, SECURITY, gvk_dict, resource_paths, v2_path, v3_path)
from kubemu.cluster.api.registry import Registry, Resource
from kubemu.cluster.api.schemas import DEFINITIONS, kind_definition

__all__ = ["OpenAPICache", "v3_index", "v3_document", "v2_document", "gv_path",
           "crd_definition_name", "K8S_VERSION"]

K8S_VERSION = "v1.32.0"
_INFO = {"title": "Kubernetes", "version": K8S_VERSION}
def gv_path(group: str, version: str) -> str:
    """`api/v1` or `apis/<group>/<version>`: a group-version's key in the v3 index."""
    return f"apis/{group}/{version}" if group else f"api/{version}"


def crd_definition_name(resource: Resource) -> str:
    """Upstream's definition name of a custom kind: reversed group, version, kind."""
    return ".".join([*reversed(resource.group.split(".")), resource.version, resource.kind])


def v3_index(registry: Registry) -> dict:
    return OpenAPICache(registry).index()


def v3_document(registry: Registry, gv_path: str) -> dict | None:
    """The v3 document of `gv_path` ("api/v1", "apis/apps/v1", "api", "apis") or None."""
    key = gv_path.strip("/")
    if key in ("api", "apis"):
        return _discovery_document(key)
    parts = key.split("/")
    if len(parts) == 2 and parts[0] == "api":
        group, version = "", parts[1]
    elif len(parts) == 3 and parts[0] == "apis":
        group, version = parts[1], parts[2]
    else:
        return None
    resources = sorted(registry.resources(group, version), key=lambda r: r.plural)
    if not resources:
        return None
    local: dict[str, dict] = {}
    paths: dict[str, dict] = {}
    roots: set[str] = set()
    for r in resources:
        kind_def = _kind_definitions(r, local)
        roots.update((kind_def, kind_def + "List"))
        for path, (params, ops) in resource_paths(r, kind_def).items():
            paths[path] = v3_path(params, r, ops)
            roots.update(op.body for op in ops if op.body)
            roots.update(op.result for op in ops)
    return {"openapi": "3.0.0", "info": dict(_INFO), "paths": dict(sorted(paths.items())),
            "components": {"schemas": _closure(roots, local),
                           "securitySchemes": {"BearerToken": BEARER}},
            "security": SECURITY}


def v2_document(registry: Registry) -> dict:
    """The swagger 2.0 document of every served resource and every definition."""
    local: dict[str, dict] = {}
    paths: dict[str, dict] = {}
    for r in sorted(registry.resources(), key=lambda r: (r.group, r.version, r.plural)):
        kind_def = _kind_definitions(r, local)
        for path, (params, ops) in resource_paths(r, kind_def).items():
            paths[path] = v2_path(params, r, ops)
    definitions = {**EXTRA, **DEFINITIONS, **local}
    return {"swagger": "2.0", "info": dict(_INFO), "paths": dict(sorted(paths.items())),
            "definitions": {name: _to_v2(definitions[name]) for name in sorted(definitions)},
            "securityDefinitions": {"BearerToken": BEARER}, "security": SECURITY}


class OpenAPICache:
    """Each document built once per registry state, with its JSON bytes and hash."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self.invalidate()

    def invalidate(self) -> None:
        """Forget every document (call when the registry's custom resources change)."""
        self._v3: dict[str, tuple[dict, bytes, str] | None] = {}
        self._index: tuple[dict, bytes, str] | None = None
        self._v2: tuple[dict, bytes, str] | None = None

    def gv_paths(self) -> list[str]:
        """Every key of the v3 index, in discovery order."""
        keys = ["api"]
        for group, versions in self._registry.groups():
            keys.extend(gv_path(group, v) for v in versions)
            if not group:
                keys.append("apis")
        return keys if "apis" in keys else [*keys, "apis"]

    def index(self) -> dict:
        return self._index_entry()[0]

    def index_bytes(self) -> bytes:
        return self._index_entry()[1]

    def v3(self, gv_path: str) -> dict | None:
        entry = self._v3_entry(gv_path)
        return entry[0] if entry else None

    def v3_bytes(self, gv_path: str) -> bytes | None:
        entry = self._v3_entry(gv_path)
        return entry[1] if entry else None

    def v3_hash(self, gv_path: str) -> str | None:
        """The document's hash: the `?hash=` of the index and its ETag."""
        entry = self._v3_entry(gv_path)
        return entry[2] if entry else None

    def v2(self) -> dict:
        return self._v2_entry()[0]

    def v2_bytes(self) -> bytes:
        return self._v2_entry()[1]

    def v2_hash(self) -> str:
        return self._v2_entry()[2]

    def _v3_entry(self, gv_path: str) -> tuple[dict, bytes, str] | None:
        key = gv_path.strip("/")
        if key not in self._v3:
            doc = v3_document(self._registry, key)
            self._v3[key] = _entry(doc) if doc is not None else None
        return self._v3[key]

    def _index_entry(self) -> tuple[dict, bytes, str]:
        if self._index is None:
            paths = {}
            for key in self.gv_paths():
                entry = self._v3_entry(key)
                if entry is not None:
                    paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={entry[2]}"}
            self._index = _entry({"paths": paths})
        return self._index

    def _v2_entry(self) -> tuple[dict, bytes, str]:
        if self._v2 is None:
            self._v2 = _entry(v2_document(self._registry))
        return self._v2


def _kind_definitions(r: Resource, local: dict[str, dict]) -> str:
    """The definition name of `r`'s kind; custom kinds' definitions are added to `local`."""
    if not r.custom:
        name = kind_definition(r.api_version, r.kind)
        if name is not None and kind_definition(r.api_version, r.list_kind):
            return name
    name = crd_definition_name(r)
    schema = copy.deepcopy(r.schema) if r.schema else {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema.setdefault("type", "object")
    props = {key: value for key, value in (schema.get("properties") or {}).items()
             if key not in ("apiVersion", "kind", "metadata")}
    schema["properties"] = {**_type_meta(),
                            "metadata": _ref3(META + "ObjectMeta", "Standard object metadata."),
                            **props}
    schema["x-kubernetes-group-version-kind"] = [gvk_dict((r.group, r.version, r.kind))]
    local[name] = schema
    local[name + "List"] = {
        "description": f"A list of {r.kind} objects.", "type": "object",
        "required": ["items"],
        "properties": {**_type_meta(),
                       "metadata": _ref3(META + "ListMeta", "Standard list metadata."),
                       "items": {"type": "array", "description": f"The {r.kind} objects.",
                                 "items": {"$ref": REF3 + name}}},
        "x-kubernetes-group-version-kind": [gvk_dict((r.group, r.version, r.list_kind))]}
    return name


def _closure(roots: set[str], local: dict[str, dict]) -> dict[str, dict]:
    """Every definition reachable from `roots`, sorted by name."""
    out: dict[str, dict] = {}
    stack = sorted(roots)
    while stack:
        name = stack.pop()
        if name in out:
            continue
        schema = local.get(name) or DEFINITIONS.get(name) or EXTRA.get(name)
        if schema is None:
            continue
        out[name] = schema
        stack.extend(ref for ref in _refs(schema) if ref not in out)
    return dict(sorted(out.items()))


def _refs(value: object) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith(REF3):
                found.append(item[len(REF3):])
            elif isinstance(item, (dict, list)):
                found.extend(_refs(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_refs(item))
    return found


def _to_v2(schema: object) -> object:
    """A v3 schema in swagger 2.0 form (a new structure; the input is not changed)."""
    if not isinstance(schema, dict):
        return schema
    out: dict = {}
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        out["$ref"] = REF2 + all_of[0]["$ref"][len(REF3):]
    for key, value in schema.items():
        if key in ("oneOf", "anyOf", "not", "nullable"):
            continue
        if key == "allOf":
            if "$ref" not in out:
                out["allOf"] = [_to_v2(item) for item in value]
        elif key == "$ref":
            out["$ref"] = REF2 + value[len(REF3):] if value.startswith(REF3) else value
        elif key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: _to_v2(item) for name, item in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = ([_to_v2(item) for item in value] if isinstance(value, list)
                        else _to_v2(value))
        else:
            out[key] = value
    if "$ref" in out:
        out.pop("default", None)
    elif ("oneOf" in schema or "anyOf" in schema) and "type" not in out:
        out["type"] = "string"  # Quantity, int-or-string: v2 publishes them as strings
    return out


def _discovery_document(key: str) -> dict:
    op_id, what = (("getCoreAPIVersions", "the versions of the core API") if key == "api"
                   else ("getAPIVersions", "the API groups and their versions"))
    return {"openapi": "3.0.0", "info": dict(_INFO), "paths": {f"/{key}/": {"get": {
        "operationId": op_id, "description": f"get {what}", "tags": [key],
        "responses": {"200": {"description": "OK", "content": {JSON: {"schema": {
            "type": "object", "description": f"{what.capitalize()}."}}}},
            "401": {"description": "Unauthorized"}}}}},
        "components": {"schemas": {}, "securitySchemes": {"BearerToken": BEARER}},
        "security": SECURITY}


def _entry(doc: dict) -> tuple[dict, bytes, str]:
    data = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    return doc, data, hashlib.sha512(data).hexdigest().upper()


def _type_meta() -> dict:
    return {"apiVersion": {"type": "string", "description": "The versioned schema of this "
                                                            "object."},
            "kind": {"type": "string", "description": "The REST kind of this object."}}


def _ref3(name: str, description: str) -> dict:
    return {"allOf": [{"$ref": REF3 + name}], "description": description}

