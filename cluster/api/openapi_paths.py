"""OpenAPI paths: the operations of each resource, rendered as v3 and as swagger 2.0.

One neutral list of operations per resource (collection, item, all-namespaces list, watch
paths, status/scale/binding/eviction subresources, as the resource's verbs allow) is built by
`resource_paths` and rendered by `v3_path` (requestBody, content types, `#/components/schemas/`
refs) or `v2_path` (body parameters, consumes/produces, `#/definitions/` refs). Operation ids,
actions (`post` for create, `put` for replace, `watchlist` ...), parameters and tags follow
upstream's scheme; kubectl looks for `fieldValidation` on a kind's PATCH/POST operations.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubemu.cluster.api.registry import Resource
from kubemu.cluster.api.schemas import kind_definition

__all__ = [
    "BEARER", "CODE_TEXT", "DELETE_ALL_Q", "DELETE_OPTIONS", "DELETE_Q", "EXTRA", "JSON",
    "LIST_Q", "META", "Op", "PARAMS", "PATCH", "PATCH_TYPES", "Paths", "REF2", "REF3",
    "SECURITY", "STATUS", "SUBRESOURCE_GVK", "WATCH_EVENT", "WRITE_Q", "api_version",
    "group_words", "gvk_dict", "op_group", "path_param", "query_param", "operation_tag",
    "resource_paths", "v2_path", "v3_path",
]

REF3, REF2 = "#/components/schemas/", "#/definitions/"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
STATUS, DELETE_OPTIONS = META + "Status", META + "DeleteOptions"
PATCH, WATCH_EVENT = META + "Patch", META + "WatchEvent"
JSON = "application/json"
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")
SUBRESOURCE_GVK = {"scale": ("autoscaling", "v1", "Scale"),
                    "eviction": ("policy", "v1", "Eviction"), "binding": ("", "v1", "Binding")}
SECURITY = [{"BearerToken": []}]
BEARER = {"type": "apiKey", "name": "authorization", "in": "header",
           "description": "Bearer token: 'authorization: Bearer <token>'."}
# Document-level types, used only when the schema modules do not define them.
EXTRA = {
    PATCH: {"description": "The body of a PATCH request: a JSON patch, merge patch, strategic "
                            "merge patch or apply configuration.", "type": "object"},
    WATCH_EVENT: {"description": "One event of a watch stream.", "type": "object",
                   "required": ["type", "object"], "properties": {
                       "type": {"type": "string", "description": "ADDED, MODIFIED, DELETED, "
                                                                 "BOOKMARK or ERROR."},
                       "object": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                                  "description": "The object (a Status for ERROR)."}}},
}
# name -> (type, description)
PARAMS = {
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
LIST_Q = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
           "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds",
           "watch")
WRITE_Q = ("dryRun", "fieldManager", "fieldValidation")
DELETE_Q = ("dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
             "orphanDependents", "propagationPolicy")
DELETE_ALL_Q = tuple(sorted(set(DELETE_Q) | set(LIST_Q) - {"watch", "allowWatchBookmarks"}))



# -- operations -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
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


Paths = dict[str, tuple[tuple[str, ...], list[Op]]]


def resource_paths(r: Resource, kind_def: str) -> Paths:
    prefix = f"/apis/{r.group}/{r.version}" if r.group else f"/api/{r.version}"
    gvk = (r.group, r.version, r.kind)
    g = op_group(r.group) + r.version[:1].upper() + r.version[1:]
    ns = "Namespaced" if r.namespaced else ""
    kind, verbs, list_def = r.kind, set(r.verbs), kind_def + "List"
    scope = ("namespace",) if r.namespaced else ()
    base = f"{prefix}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else \
        f"{prefix}/{r.plural}"
    watch_base = base.replace(prefix, prefix + "/watch", 1)
    patch_types = PATCH_TYPES if not r.custom else tuple(
        t for t in PATCH_TYPES if "strategic" not in t)
    a = "a" if kind[0] not in "AEIOU" else "an"
    paths: Paths = {}

    def add(path: str, params: tuple[str, ...], op: Op) -> None:
        paths.setdefault(path, (params, []))[1].append(op)

    if "list" in verbs:
        add(base, scope, Op("get", "list", f"list{g}{ns}{kind}", f"list or watch {kind} "
                             "objects", gvk, list_def, LIST_Q))
        if r.namespaced:
            add(f"{prefix}/{r.plural}", (), Op(
                "get", "list", f"list{g}{kind}ForAllNamespaces",
                f"list or watch {kind} objects of every namespace", gvk, list_def, LIST_Q))
    if "create" in verbs:
        add(base, scope, Op("post", "post", f"create{g}{ns}{kind}", f"create {a} {kind}",
                             gvk, kind_def, WRITE_Q, kind_def, codes=("200", "201", "202")))
    if "deletecollection" in verbs:
        add(base, scope, Op("delete", "deletecollection", f"delete{g}Collection{ns}{kind}",
                             f"delete a collection of {kind} objects", gvk, STATUS,
                             DELETE_ALL_Q, DELETE_OPTIONS))
    item, item_params = base + "/{name}", ("name", *scope)
    for sub, suffix in (("", ""), ("status", "Status"), ("scale", "Scale")):
        if sub and sub not in r.subresources:
            continue
        path = f"{item}/{sub}" if sub else item
        sub_gvk = SUBRESOURCE_GVK.get(sub, gvk)
        sub_def = "io.k8s.api.autoscaling.v1.Scale" if sub == "scale" else kind_def
        what = f"{sub} of the specified {kind}" if sub else f"the specified {kind}"
        if "get" in verbs:
            add(path, item_params, Op("get", "get", f"read{g}{ns}{kind}{suffix}",
                                       f"read {what}", sub_gvk, sub_def))
        if "update" in verbs:
            add(path, item_params, Op("put", "put", f"replace{g}{ns}{kind}{suffix}",
                                       f"replace {what}", sub_gvk, sub_def, WRITE_Q,
                                       sub_def, codes=("200", "201")))
        if "patch" in verbs:
            add(path, item_params, Op("patch", "patch", f"patch{g}{ns}{kind}{suffix}",
                                       f"partially update {what}", sub_gvk, sub_def,
                                       (*WRITE_Q, "force"), PATCH, patch_types,
                                       codes=("200", "201")))
        if not sub and "delete" in verbs:
            add(path, item_params, Op("delete", "delete", f"delete{g}{ns}{kind}",
                                       f"delete {a} {kind}", gvk, STATUS, DELETE_Q,
                                       DELETE_OPTIONS, codes=("200", "202")))
    for sub in ("binding", "eviction"):
        if sub in r.subresources:
            sub_gvk = SUBRESOURCE_GVK[sub]
            sub_def = kind_definition(api_version(sub_gvk), sub_gvk[2]) or STATUS
            add(f"{item}/{sub}", item_params, Op(
                "post", "post", f"create{g}{ns}{kind}{sub.title()}",
                f"create {sub} of {a} {kind}", sub_gvk, sub_def, WRITE_Q, sub_def,
                codes=("200", "201", "202")))
    if "watch" in verbs:
        add(watch_base, scope, Op("get", "watchlist", f"watch{g}{ns}{kind}List",
                                   f"watch individual changes to a list of {kind}", gvk,
                                   WATCH_EVENT, LIST_Q, watch=True))
        add(watch_base + "/{name}", item_params, Op(
            "get", "watch", f"watch{g}{ns}{kind}", f"watch changes to an object of kind "
                                                   f"{kind}", gvk, WATCH_EVENT, LIST_Q,
            watch=True))
        if r.namespaced:
            add(f"{prefix}/watch/{r.plural}", (), Op(
                "get", "watchlist", f"watch{g}{kind}ListForAllNamespaces",
                f"watch individual changes to a list of {kind} of every namespace", gvk,
                WATCH_EVENT, LIST_Q, watch=True))
    return paths


def v3_path(params: tuple[str, ...], r: Resource, ops: list[Op]) -> dict:
    kind, tag = r.kind, operation_tag(r.group, r.version)
    item: dict = {"parameters": [*(path_param(p, kind, v3=True) for p in params),
                                 query_param("pretty", v3=True)]}
    for op in ops:
        body = {"operationId": op.op_id, "description": op.description,
                "tags": [tag],
                "parameters": [query_param(q, v3=True) for q in op.query],
                "responses": {code: {"description": CODE_TEXT[code], "content": {
                    (JSON + ";stream=watch" if op.watch else JSON):
                        {"schema": {"$ref": REF3 + op.result}}}} for code in op.codes},
                "x-kubernetes-action": op.action,
                "x-kubernetes-group-version-kind": gvk_dict(op.gvk)}
        body["responses"]["401"] = {"description": "Unauthorized"}
        if op.body:
            types = op.patch_types or (JSON,)
            body["requestBody"] = {"content": {t: {"schema": {"$ref": REF3 + op.body}}
                                               for t in types},
                                   "required": op.method in ("post", "put", "patch")}
        item[op.method] = body
    return item


def v2_path(params: tuple[str, ...], r: Resource, ops: list[Op]) -> dict:
    kind, tag = r.kind, operation_tag(r.group, r.version)
    item: dict = {"parameters": [*(path_param(p, kind, v3=False) for p in params),
                                 query_param("pretty", v3=False)]}
    for op in ops:
        parameters = [query_param(q, v3=False) for q in op.query]
        if op.body:
            parameters.insert(0, {"name": "body", "in": "body",
                                  "required": op.method in ("post", "put", "patch"),
                                  "schema": {"$ref": REF2 + op.body}})
        responses = {code: {"description": CODE_TEXT[code],
                            "schema": {"$ref": REF2 + op.result}} for code in op.codes}
        responses["401"] = {"description": "Unauthorized"}
        item[op.method] = {
            "operationId": op.op_id, "description": op.description, "tags": [tag],
            "consumes": list(op.patch_types) or ["*/*"],
            "produces": ([JSON + ";stream=watch"] if op.watch else [JSON, "application/yaml"]),
            "schemes": ["https"], "parameters": parameters, "responses": responses,
            "x-kubernetes-action": op.action,
            "x-kubernetes-group-version-kind": gvk_dict(op.gvk)}
    return item


CODE_TEXT = {"200": "OK", "201": "Created", "202": "Accepted"}


def path_param(name: str, kind: str, *, v3: bool) -> dict:
    description = (f"name of the {kind}" if name == "name"
                   else "object name and auth scope, such as for teams and projects")
    param = {"name": name, "in": "path", "required": True, "description": description}
    typed = {"type": "string", "uniqueItems": True}
    return {**param, "schema": typed} if v3 else {**param, **typed}


def query_param(name: str, *, v3: bool) -> dict:
    kind, description = PARAMS[name]
    param = {"name": name, "in": "query", "description": description}
    typed = {"type": kind, "uniqueItems": True}
    return {**param, "schema": typed} if v3 else {**param, **typed}


# -- definitions ------------------------------------------------------------------------------

def gvk_dict(gvk: tuple[str, str, str]) -> dict:
    return {"group": gvk[0], "version": gvk[1], "kind": gvk[2]}


def api_version(gvk: tuple[str, str, str]) -> str:
    return f"{gvk[0]}/{gvk[1]}" if gvk[0] else gvk[1]


def group_words(group: str) -> list[str]:
    if not group:
        return ["core"]
    group = group.removesuffix(".k8s.io")
    return [w for w in group.replace("-", ".").split(".") if w]


def op_group(group: str) -> str:
    """`Core`, `Apps`, `RbacAuthorization`, `StableExampleCom`: the group in operation ids."""
    return "".join(w[:1].upper() + w[1:] for w in group_words(group))


def operation_tag(group: str, version: str) -> str:
    """`core_v1`, `rbacAuthorization_v1`: upstream's operation tags."""
    name = op_group(group)
    return f"{name[:1].lower()}{name[1:]}_{version}"
