"""The OpenAPI documents kube-apiserver serves: the /openapi/v3 index, one v3 document per
group-version, and the swagger 2.0 /openapi/v2 document.

kubectl reads them: `apply` fetches the v3 index and its group-version document to learn
whether the PATCH operation of a kind declares `fieldValidation` (then the server validates)
and whether it accepts strategic merge patch (built-in kinds; not custom resources), and
computes that patch from the schema's patch metadata; `explain` walks the schema of the kind
whose `x-kubernetes-group-version-kind` matches. Documents are derived from a `Registry`, so
custom resources appear with their CRD schema (named `com.example.v1.Widget`, with apiVersion,
kind and metadata added) once the registry serves them.

One neutral list of operations per resource (collection, item, all-namespaces list, watch
paths, status/scale/binding/eviction subresources, as the resource's verbs allow) is rendered
twice: as v3 (requestBody, content types, `#/components/schemas/` refs) and as v2 (body
parameters, consumes/produces, `#/definitions/` refs, allOf-wrapped refs flattened and oneOf
turned into `type: string`). Operation ids, actions (`post` for create, `put` for replace,
`watchlist` ...) and tags follow upstream's scheme. `OpenAPICache` builds each document once
per registry state and keeps its orjson bytes and SHA-512 hash (the index's `?hash=` and the
ETag); `invalidate()` after CRDs change. Returned documents are shared: do not mutate them.
kubectl 1.32 asks for /openapi/v2 only as protobuf, so the v2 JSON serves other clients;
kubectl needs v3.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

import orjson

from kubemu.cluster.api.registry import Registry, Resource
from kubemu.cluster.api.schemas import DEFINITIONS, kind_definition

__all__ = ["OpenAPICache", "v3_index", "v3_document", "v2_document", "gv_path",
           "crd_definition_name", "K8S_VERSION"]

K8S_VERSION = "v1.32.0"
_INFO = {"title": "Kubernetes", "version": K8S_VERSION}
_REF3, _REF2 = "#/components/schemas/", "#/definitions/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_STATUS, _DELETE_OPTIONS = _META + "Status", _META + "DeleteOptions"
_PATCH, _WATCH_EVENT = _META + "Patch", _META + "WatchEvent"
_JSON = "application/json"
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")
_SUBRESOURCE_GVK = {"scale": ("autoscaling", "v1", "Scale"),
                    "eviction": ("policy", "v1", "Eviction"), "binding": ("", "v1", "Binding")}
_SECURITY = [{"BearerToken": []}]
_BEARER = {"type": "apiKey", "name": "authorization", "in": "header",
           "description": "Bearer token: 'authorization: Bearer <token>'."}
# Document-level types, used only when the schema modules do not define them.
_EXTRA = {
    _PATCH: {"description": "The body of a PATCH request: a JSON patch, merge patch, strategic "
                            "merge patch or apply configuration.", "type": "object"},
    _WATCH_EVENT: {"description": "One event of a watch stream.", "type": "object",
                   "required": ["type", "object"], "properties": {
                       "type": {"type": "string", "description": "ADDED, MODIFIED, DELETED, "
                                                                 "BOOKMARK or ERROR."},
                       "object": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                  "description": "The object (a Status for ERROR)."}}},
}
# name -> (type, description)
_PARAMS = {
    "allowWatchBookmarks": ("boolean", "Ask for BOOKMARK events carrying the latest "
                                       "resourceVersion; servers may ignore it."),
    "continue": ("string", "The continue token of the previous page of a paginated list."),
    "dryRun": ("string", "All: run every stage of the request but persist nothing."),
    "fieldManager": ("string", "The name of the actor making the change, for managedFields."),
    "fieldSelector": ("string", "Select objects by fields (metadata.name=x, "
                                "spec.nodeName!=y). Defaults to everything."),
    "fieldValidation": ("string", "What to do with unknown or duplicate fields in the body: "
                                  "Ignore, Warn (the default) or Strict (fail)."),
    "force": ("boolean", "Apply requests only: take over fields owned by other managers."),
    "gracePeriodSeconds": ("integer", "Seconds before the object is deleted; 0 deletes at "
                                      "once. Defaults to the kind's default."),
    "ignoreStoreReadErrorWithClusterBreakingPotential": (
        "boolean", "Delete an object that cannot be read from storage (dangerous)."),
    "labelSelector": ("string", "Select objects by labels (app=web,tier in (a,b)). Defaults "
                                "to everything."),
    "limit": ("integer", "Most objects to return; more come with the continue token."),
    "orphanDependents": ("boolean", "Deprecated: use propagationPolicy."),
    "pretty": ("string", "If true, the output is pretty-printed."),
    "propagationPolicy": ("string", "How dependents are deleted: Orphan, Background or "
                                    "Foreground."),
    "resourceVersion": ("string", "The version to read at; see resourceVersionMatch."),
    "resourceVersionMatch": ("string", "How resourceVersion applies to a list: Exact or "
                                       "NotOlderThan."),
    "sendInitialEvents": ("boolean", "With watch: start with synthetic ADDED events for "
                                     "the current state, then a bookmark."),
    "timeoutSeconds": ("integer", "End the list or watch call after this many seconds."),
    "watch": ("boolean", "Watch for changes and stream them as events."),
}
_LIST_Q = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
           "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds",
           "watch")
_WRITE_Q = ("dryRun", "fieldManager", "fieldValidation")
_DELETE_Q = ("dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
             "orphanDependents", "propagationPolicy")
_DELETE_ALL_Q = tuple(sorted(set(_DELETE_Q) | set(_LIST_Q) - {"watch", "allowWatchBookmarks"}))


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
        for path, (params, ops) in _resource_paths(r, kind_def).items():
            paths[path] = _v3_path(params, r, ops)
            roots.update(op.body for op in ops if op.body)
            roots.update(op.result for op in ops)
    return {"openapi": "3.0.0", "info": dict(_INFO), "paths": dict(sorted(paths.items())),
            "components": {"schemas": _closure(roots, local),
                           "securitySchemes": {"BearerToken": _BEARER}},
            "security": _SECURITY}


def v2_document(registry: Registry) -> dict:
    """The swagger 2.0 document of every served resource and every definition."""
    local: dict[str, dict] = {}
    paths: dict[str, dict] = {}
    for r in sorted(registry.resources(), key=lambda r: (r.group, r.version, r.plural)):
        kind_def = _kind_definitions(r, local)
        for path, (params, ops) in _resource_paths(r, kind_def).items():
            paths[path] = _v2_path(params, r, ops)
    definitions = {**_EXTRA, **DEFINITIONS, **local}
    return {"swagger": "2.0", "info": dict(_INFO), "paths": dict(sorted(paths.items())),
            "definitions": {name: _to_v2(definitions[name]) for name in sorted(definitions)},
            "securityDefinitions": {"BearerToken": _BEARER}, "security": _SECURITY}


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


# -- operations -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Op:
    method: str  # get, put, post, patch, delete
    action: str  # x-kubernetes-action
    op_id: str
    description: str
    gvk: tuple[str, str, str]
    result: str  # definition name of the response body
    query: tuple[str, ...] = ()
    body: str | None = None  # definition name of the request body
    patch_types: tuple[str, ...] = ()
    codes: tuple[str, ...] = ("200",)
    watch: bool = False


_Paths = dict[str, tuple[tuple[str, ...], list[_Op]]]


def _resource_paths(r: Resource, kind_def: str) -> _Paths:
    prefix = f"/apis/{r.group}/{r.version}" if r.group else f"/api/{r.version}"
    gvk = (r.group, r.version, r.kind)
    g = _op_group(r.group) + r.version[:1].upper() + r.version[1:]
    ns = "Namespaced" if r.namespaced else ""
    kind, verbs, list_def = r.kind, set(r.verbs), kind_def + "List"
    scope = ("namespace",) if r.namespaced else ()
    base = f"{prefix}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else \
        f"{prefix}/{r.plural}"
    watch_base = base.replace(prefix, prefix + "/watch", 1)
    patch_types = _PATCH_TYPES if not r.custom else tuple(
        t for t in _PATCH_TYPES if "strategic" not in t)
    a = "a" if kind[0] not in "AEIOU" else "an"
    paths: _Paths = {}

    def add(path: str, params: tuple[str, ...], op: _Op) -> None:
        paths.setdefault(path, (params, []))[1].append(op)

    if "list" in verbs:
        add(base, scope, _Op("get", "list", f"list{g}{ns}{kind}", f"list or watch {kind} "
                             "objects", gvk, list_def, _LIST_Q))
        if r.namespaced:
            add(f"{prefix}/{r.plural}", (), _Op(
                "get", "list", f"list{g}{kind}ForAllNamespaces",
                f"list or watch {kind} objects of every namespace", gvk, list_def, _LIST_Q))
    if "create" in verbs:
        add(base, scope, _Op("post", "post", f"create{g}{ns}{kind}", f"create {a} {kind}",
                             gvk, kind_def, _WRITE_Q, kind_def, codes=("200", "201", "202")))
    if "deletecollection" in verbs:
        add(base, scope, _Op("delete", "deletecollection", f"delete{g}Collection{ns}{kind}",
                             f"delete a collection of {kind} objects", gvk, _STATUS,
                             _DELETE_ALL_Q, _DELETE_OPTIONS))
    item, item_params = base + "/{name}", ("name", *scope)
    for sub, suffix in (("", ""), ("status", "Status"), ("scale", "Scale")):
        if sub and sub not in r.subresources:
            continue
        path = f"{item}/{sub}" if sub else item
        sub_gvk = _SUBRESOURCE_GVK.get(sub, gvk)
        sub_def = "io.k8s.api.autoscaling.v1.Scale" if sub == "scale" else kind_def
        what = f"{sub} of the specified {kind}" if sub else f"the specified {kind}"
        if "get" in verbs:
            add(path, item_params, _Op("get", "get", f"read{g}{ns}{kind}{suffix}",
                                       f"read {what}", sub_gvk, sub_def))
        if "update" in verbs:
            add(path, item_params, _Op("put", "put", f"replace{g}{ns}{kind}{suffix}",
                                       f"replace {what}", sub_gvk, sub_def, _WRITE_Q,
                                       sub_def, codes=("200", "201")))
        if "patch" in verbs:
            add(path, item_params, _Op("patch", "patch", f"patch{g}{ns}{kind}{suffix}",
                                       f"partially update {what}", sub_gvk, sub_def,
                                       (*_WRITE_Q, "force"), _PATCH, patch_types,
                                       codes=("200", "201")))
        if not sub and "delete" in verbs:
            add(path, item_params, _Op("delete", "delete", f"delete{g}{ns}{kind}",
                                       f"delete {a} {kind}", gvk, _STATUS, _DELETE_Q,
                                       _DELETE_OPTIONS, codes=("200", "202")))
    for sub in ("binding", "eviction"):
        if sub in r.subresources:
            sub_gvk = _SUBRESOURCE_GVK[sub]
            sub_def = kind_definition(_api_version(sub_gvk), sub_gvk[2]) or _STATUS
            add(f"{item}/{sub}", item_params, _Op(
                "post", "post", f"create{g}{ns}{kind}{sub.title()}",
                f"create {sub} of {a} {kind}", sub_gvk, sub_def, _WRITE_Q, sub_def,
                codes=("200", "201", "202")))
    if "watch" in verbs:
        add(watch_base, scope, _Op("get", "watchlist", f"watch{g}{ns}{kind}List",
                                   f"watch individual changes to a list of {kind}", gvk,
                                   _WATCH_EVENT, _LIST_Q, watch=True))
        add(watch_base + "/{name}", item_params, _Op(
            "get", "watch", f"watch{g}{ns}{kind}", f"watch changes to an object of kind "
                                                   f"{kind}", gvk, _WATCH_EVENT, _LIST_Q,
            watch=True))
        if r.namespaced:
            add(f"{prefix}/watch/{r.plural}", (), _Op(
                "get", "watchlist", f"watch{g}{kind}ListForAllNamespaces",
                f"watch individual changes to a list of {kind} of every namespace", gvk,
                _WATCH_EVENT, _LIST_Q, watch=True))
    return paths


def _v3_path(params: tuple[str, ...], r: Resource, ops: list[_Op]) -> dict:
    kind, tag = r.kind, _tag(r.group, r.version)
    item: dict = {"parameters": [*(_path_param(p, kind, v3=True) for p in params),
                                 _query_param("pretty", v3=True)]}
    for op in ops:
        body = {"operationId": op.op_id, "description": op.description,
                "tags": [tag],
                "parameters": [_query_param(q, v3=True) for q in op.query],
                "responses": {code: {"description": _CODE_TEXT[code], "content": {
                    (_JSON + ";stream=watch" if op.watch else _JSON):
                        {"schema": {"$ref": _REF3 + op.result}}}} for code in op.codes},
                "x-kubernetes-action": op.action,
                "x-kubernetes-group-version-kind": _gvk_dict(op.gvk)}
        body["responses"]["401"] = {"description": "Unauthorized"}
        if op.body:
            types = op.patch_types or (_JSON,)
            body["requestBody"] = {"content": {t: {"schema": {"$ref": _REF3 + op.body}}
                                               for t in types},
                                   "required": op.method in ("post", "put", "patch")}
        item[op.method] = body
    return item


def _v2_path(params: tuple[str, ...], r: Resource, ops: list[_Op]) -> dict:
    kind, tag = r.kind, _tag(r.group, r.version)
    item: dict = {"parameters": [*(_path_param(p, kind, v3=False) for p in params),
                                 _query_param("pretty", v3=False)]}
    for op in ops:
        parameters = [_query_param(q, v3=False) for q in op.query]
        if op.body:
            parameters.insert(0, {"name": "body", "in": "body",
                                  "required": op.method in ("post", "put", "patch"),
                                  "schema": {"$ref": _REF2 + op.body}})
        responses = {code: {"description": _CODE_TEXT[code],
                            "schema": {"$ref": _REF2 + op.result}} for code in op.codes}
        responses["401"] = {"description": "Unauthorized"}
        item[op.method] = {
            "operationId": op.op_id, "description": op.description, "tags": [tag],
            "consumes": list(op.patch_types) or ["*/*"],
            "produces": ([_JSON + ";stream=watch"] if op.watch else [_JSON, "application/yaml"]),
            "schemes": ["https"], "parameters": parameters, "responses": responses,
            "x-kubernetes-action": op.action,
            "x-kubernetes-group-version-kind": _gvk_dict(op.gvk)}
    return item


_CODE_TEXT = {"200": "OK", "201": "Created", "202": "Accepted"}


def _path_param(name: str, kind: str, *, v3: bool) -> dict:
    description = (f"name of the {kind}" if name == "name"
                   else "object name and auth scope, such as for teams and projects")
    param = {"name": name, "in": "path", "required": True, "description": description}
    typed = {"type": "string", "uniqueItems": True}
    return {**param, "schema": typed} if v3 else {**param, **typed}


def _query_param(name: str, *, v3: bool) -> dict:
    kind, description = _PARAMS[name]
    param = {"name": name, "in": "query", "description": description}
    typed = {"type": kind, "uniqueItems": True}
    return {**param, "schema": typed} if v3 else {**param, **typed}


# -- definitions ------------------------------------------------------------------------------

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
                            "metadata": _ref3(_META + "ObjectMeta", "Standard object metadata."),
                            **props}
    schema["x-kubernetes-group-version-kind"] = [_gvk_dict((r.group, r.version, r.kind))]
    local[name] = schema
    local[name + "List"] = {
        "description": f"A list of {r.kind} objects.", "type": "object",
        "required": ["items"],
        "properties": {**_type_meta(),
                       "metadata": _ref3(_META + "ListMeta", "Standard list metadata."),
                       "items": {"type": "array", "description": f"The {r.kind} objects.",
                                 "items": {"$ref": _REF3 + name}}},
        "x-kubernetes-group-version-kind": [_gvk_dict((r.group, r.version, r.list_kind))]}
    return name


def _closure(roots: set[str], local: dict[str, dict]) -> dict[str, dict]:
    """Every definition reachable from `roots`, sorted by name."""
    out: dict[str, dict] = {}
    stack = sorted(roots)
    while stack:
        name = stack.pop()
        if name in out:
            continue
        schema = local.get(name) or DEFINITIONS.get(name) or _EXTRA.get(name)
        if schema is None:
            continue
        out[name] = schema
        stack.extend(ref for ref in _refs(schema) if ref not in out)
    return dict(sorted(out.items()))


def _refs(value: object) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith(_REF3):
                found.append(item[len(_REF3):])
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
        out["$ref"] = _REF2 + all_of[0]["$ref"][len(_REF3):]
    for key, value in schema.items():
        if key in ("oneOf", "anyOf", "not", "nullable"):
            continue
        if key == "allOf":
            if "$ref" not in out:
                out["allOf"] = [_to_v2(item) for item in value]
        elif key == "$ref":
            out["$ref"] = _REF2 + value[len(_REF3):] if value.startswith(_REF3) else value
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
        "responses": {"200": {"description": "OK", "content": {_JSON: {"schema": {
            "type": "object", "description": f"{what.capitalize()}."}}}},
            "401": {"description": "Unauthorized"}}}}},
        "components": {"schemas": {}, "securitySchemes": {"BearerToken": _BEARER}},
        "security": _SECURITY}


def _entry(doc: dict) -> tuple[dict, bytes, str]:
    data = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    return doc, data, hashlib.sha512(data).hexdigest().upper()


def _type_meta() -> dict:
    return {"apiVersion": {"type": "string", "description": "The versioned schema of this "
                                                            "object."},
            "kind": {"type": "string", "description": "The REST kind of this object."}}


def _ref3(name: str, description: str) -> dict:
    return {"allOf": [{"$ref": _REF3 + name}], "description": description}


def _gvk_dict(gvk: tuple[str, str, str]) -> dict:
    return {"group": gvk[0], "version": gvk[1], "kind": gvk[2]}


def _api_version(gvk: tuple[str, str, str]) -> str:
    return f"{gvk[0]}/{gvk[1]}" if gvk[0] else gvk[1]


def _group_words(group: str) -> list[str]:
    if not group:
        return ["core"]
    group = group.removesuffix(".k8s.io")
    return [w for w in group.replace("-", ".").split(".") if w]


def _op_group(group: str) -> str:
    """`Core`, `Apps`, `RbacAuthorization`, `StableExampleCom`: the group in operation ids."""
    return "".join(w[:1].upper() + w[1:] for w in _group_words(group))


def _tag(group: str, version: str) -> str:
    """`core_v1`, `rbacAuthorization_v1`: upstream's operation tags."""
    name = _op_group(group)
    return f"{name[:1].lower()}{name[1:]}_{version}"
