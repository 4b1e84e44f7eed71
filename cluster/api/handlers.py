"""Handlers: the API verbs as store operations (create, get, update, patch, delete), no HTTP.

Every write is one store txn guarded by a compare on the key's mod_revision (or on its absence
for a create), so two writers from the same resourceVersion cannot both win: the loser gets 409
Conflict, and nothing is written on any error because all checks run before the txn. Updates
without a resourceVersion and patches retry on a lost race, as upstream's GuaranteedUpdate does.
An update that changes nothing writes nothing (the resourceVersion stays). `dry_run` runs every
check and returns the would-be object without writing. The object's verbs live here; lists and
watches in `lists`/`watches`, subresources in `subresources`, namespace lifecycle in
`namespaces`. A Service's ClusterIP and NodePort markers (`ipalloc`) are created and deleted
in the same txn as the Service itself.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubemu.cluster.api import defaults, deletion, validation
from kubemu.cluster.api.admission import (
    admit_pod_priority,
    admit_priority_class,
    scheduling_gated_condition,
    service_update_fixups,
)
from kubemu.cluster.api.errors import (
    AlreadyExists, BadRequest, Conflict, FieldError, Forbidden, Invalid, NotFound,
    UnsupportedMediaType,
)
from kubemu.cluster.api.fields import check_fields
from kubemu.cluster.api.ipalloc import Plan, ServiceAllocator, allocations, taken, txn_parts
from kubemu.cluster.api.objects import (
    SYSTEM_FIELDS, check_type, decode, deep_copy, encode, generate_name, meta, new_uid,
    qos_class, rfc3339, spec_of, tracks_generation,
)
from kubemu.cluster.api.patch import json_patch, merge_patch, parse_patch, patch_precondition
from kubemu.cluster.api.smp import strategic_merge_patch
from kubemu.cluster.api.nscache import NamespaceCache
from kubemu.cluster.api.registry import Registry, Resource
from kubemu.cluster.api.schemas import patch_meta
from kubemu.cluster.api.validation.field import immutable

__all__ = ["Handlers", "Options", "PATCH_TYPES"]

PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
_NAMESPACES = Resource(group="", version="v1", kind="Namespace", plural="namespaces",
                       singular="namespace", namespaced=False)
_MAX_RETRIES = 16


@dataclass
class Options:
    """Per-request options of a write, and the warnings it produces."""

    dry_run: bool = False
    field_validation: str = "Warn"  # Strict | Warn | Ignore
    field_manager: str = ""
    warnings: list[str] = field(default_factory=list)


class Handlers:
    """The verbs of every registered resource over one store.

    `store` has the store client's async interface (request/range/txn/watch);
    `wall_clock()` gives unix seconds for timestamps; `rng` makes uids and generated names.
    """

    def __init__(self, store: Any, registry: Registry, *, wall_clock: Callable[[], float],
                 rng: random.Random | None = None,
                 service_allocator: ServiceAllocator | None = None) -> None:
        self.store = store
        self.registry = registry
        self.wall_clock = wall_clock
        self.rng = rng or random.Random()
        self.services = service_allocator or ServiceAllocator(rng=self.rng)
        """ClusterIPs and NodePorts of Services (markers in the store, see `ipalloc`)."""
        self.on_crd_change: list[Callable[[dict, bool], None]] = []
        """Called with (crd, deleted) after this server writes a CustomResourceDefinition."""
        self.on_namespace_delete: list[Callable[[str], None]] = []
        self.namespaces: NamespaceCache | None = None
        """The open namespaces as last seen (set by the server once its cache runs)."""
        self.suggest: Callable[[Resource, str], dict | None] = lambda _res, _key: None
        """The object at a key as the watch cache holds it, or None (set by the server): an
        update first tries against it and reads the store only when the write's compare
        fails (upstream's GuaranteedUpdate with the cached object as a suggestion)."""

    # ---- reads ----------------------------------------------------------------------------

    async def get(self, res: Resource, namespace: str, name: str) -> dict:
        kv = await self.read_kv(res, namespace, name)
        if kv is None:
            raise NotFound.of(res.plural, res.group, name)
        return decode(kv)

    async def read_kv(self, res: Resource, namespace: str, name: str) -> dict | None:
        kvs = (await self.store.request({"op": "range", "key": res.key(namespace, name)}))["kvs"]
        return kvs[0] if kvs else None

    # ---- create ---------------------------------------------------------------------------

    async def create(self, res: Resource, namespace: str, body: Any,
                     opts: Options | None = None) -> dict:
        opts = opts or Options()
        obj = check_type(res, body)
        md = meta(obj)
        self._check_namespace_field(res, md, namespace)
        if md.get("resourceVersion"):
            raise BadRequest("resourceVersion should not be set on objects to be created")
        check_fields(res, obj, opts.field_validation, opts.warnings)
        for name in SYSTEM_FIELDS:
            md.pop(name, None)
        md.pop("managedFields", None)
        if not md.get("name") and md.get("generateName"):
            md["name"] = generate_name(str(md["generateName"]), self.rng)
        if not md.get("name"):
            raise Invalid.of(res.kind, res.group, "", [FieldError(
                "Required", "metadata.name", "name or generateName is required")])
        self._prepare_create(res, obj)
        defaults.apply_defaults(res, obj)
        if res.kind == "Pod" and not res.group:
            await admit_pod_priority(self.store, obj)
            scheduling_gated_condition(obj)
        elif res.kind == "PriorityClass" and res.group == "scheduling.k8s.io":
            await admit_priority_class(self.store, obj)
        errors = validation.validate_create(res, obj)
        if errors:
            raise Invalid.of(res.kind, res.group, str(md.get("name", "")), errors)
        ns = md.get("namespace", "")
        md["uid"] = new_uid(self.rng)
        md["creationTimestamp"] = rfc3339(self.wall_clock())
        if tracks_generation(res):
            md["generation"] = 1
        if res.kind == "Job" and res.group == "batch":
            defaults.job_selector_defaults(obj, md["uid"])
        if res.kind == "CustomResourceDefinition":
            _establish(obj)
        key = res.key(ns, md["name"])
        service = _is_service(res)
        if opts.dry_run:
            if res.namespaced:
                await self._check_namespace_open(ns)
            if await self.read_kv(res, ns, md["name"]) is not None:
                raise AlreadyExists.of(res.plural, res.group, md["name"])
            if service:
                self.services.plan(obj, None, await taken(self.store))
            return obj
        if service:
            md["resourceVersion"] = str(await self._put_new_service(res, key, ns, obj))
        else:
            md["resourceVersion"] = str(await self._put_new(res, key, ns, obj))
        if res.kind == "CustomResourceDefinition":
            self._crds_changed(obj, False)
        return obj

    async def _put_new_service(self, res: Resource, key: str, namespace: str,
                               obj: dict) -> int:
        """Create a Service with its ClusterIP and NodePort markers in one txn, picking
        again when another writer took a picked value meanwhile."""
        for _ in range(_MAX_RETRIES):
            trial = deep_copy(obj)
            plan = self.services.plan(trial, None, await taken(self.store))
            revision = await self._put_new(res, key, namespace, trial, plan)
            if revision is not None:
                obj["spec"] = trial["spec"]  # a plan fills only the spec
                return revision
        raise Conflict.of(res.plural, res.group, meta(obj)["name"],
                          "could not allocate the Service's addresses; try again")

    async def _put_new(self, res: Resource, key: str, namespace: str, obj: dict,
                       plan: Plan | None = None) -> int | None:
        """Write a new object in one txn; its revision. The namespace check rides in the same
        txn as a compare on the namespace's mod_revision when the namespace cache knows it
        (one store round, as kube-apiserver's cached namespace lifecycle check); otherwise,
        or when that compare fails, the namespace is read from the store first. A Service's
        allocation `plan` rides in the same txn; None when one of its values was taken."""
        extra_compares, extra_ops, probes = txn_parts(plan, obj) if plan else ([], [], [])
        compares = [{"key": key, "target": "create", "result": "=", "value": 0}]
        guard = None
        if res.namespaced:
            guard = self.namespaces.guard(namespace) if self.namespaces is not None else None
            if guard is None:
                await self._check_namespace_open(namespace)
            else:
                compares.append(guard)
        success = [{"op": "put", "key": key, "value": encode(obj)}, *extra_ops]
        result = await self.store.request({
            "op": "txn", "compares": compares + extra_compares, "success": success,
            "failure": [{"op": "range", "key": key, "count_only": True}, *probes]})
        if result["succeeded"]:
            return result["revision"]
        if result["responses"][0]["count"]:
            raise AlreadyExists.of(res.plural, res.group, meta(obj)["name"])
        if any(r["count"] for r in result["responses"][1:]):
            return None  # an allocated value was taken meanwhile
        if guard is None:
            raise AlreadyExists.of(res.plural, res.group, meta(obj)["name"])
        await self._check_namespace_open(namespace)  # the namespace changed: look again
        result = await self.store.request({
            "op": "txn", "compares": compares[:1] + extra_compares, "success": success,
            "failure": [{"op": "range", "key": key, "count_only": True}, *probes]})
        if not result["succeeded"]:
            if any(r["count"] for r in result["responses"][1:]):
                return None
            raise AlreadyExists.of(res.plural, res.group, meta(obj)["name"])
        return result["revision"]

    def _prepare_create(self, res: Resource, obj: dict) -> None:
        """Upstream's PrepareForCreate: most kinds start with an empty status."""
        kind = res.kind if not res.group or res.group == "apiextensions.k8s.io" else ""
        if kind == "Pod":
            obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj)}
        elif kind == "Service":
            obj["status"] = {"loadBalancer": {}}
        elif kind in ("PersistentVolume", "PersistentVolumeClaim"):
            obj["status"] = {"phase": "Pending"}
        elif kind in ("Node", "Namespace"):
            pass  # nodes register with their status; a namespace's phase is defaulted
        elif res.status_separate:
            obj.pop("status", None)

    # ---- update / patch -------------------------------------------------------------------

    async def update(self, res: Resource, namespace: str, name: str, body: Any,
                     opts: Options | None = None, *, subresource: str = "") -> dict:
        opts = opts or Options()
        new = check_type(res, body)
        md = meta(new)
        self._check_namespace_field(res, md, namespace)
        if md.get("name", name) != name:
            raise BadRequest(f"the name of the object ({md.get('name')}) does not match the "
                             f"name on the URL ({name})")
        md["name"] = name
        check_fields(res, new, opts.field_validation, opts.warnings)
        precondition = str(md.get("resourceVersion") or "")
        suggested = self._suggested(res, namespace, name, precondition)
        for _ in range(_MAX_RETRIES):
            kv = suggested or await self.read_kv(res, namespace, name)
            suggested = None
            if kv is None:
                raise NotFound.of(res.plural, res.group, name)
            if precondition and precondition != str(kv["mod_revision"]):
                raise Conflict.modified(res.plural, res.group, name)
            written = await self._write_update(res, kv, deep_copy(new), opts, subresource)
            if written is not None:
                return written
            if precondition:
                raise Conflict.modified(res.plural, res.group, name)
        raise Conflict.modified(res.plural, res.group, name)

    async def patch(self, res: Resource, namespace: str, name: str, patch_type: str,
                    patch_body: bytes, opts: Options | None = None, *,
                    subresource: str = "") -> dict:
        opts = opts or Options()
        patch = parse_patch(patch_type, patch_body)
        if patch_type == "strategic" and res.custom:
            raise UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml")
        precondition = patch_precondition(patch)
        suggested = self._suggested(res, namespace, name, precondition)
        for _ in range(_MAX_RETRIES):
            kv = suggested or await self.read_kv(res, namespace, name)
            suggested = None
            if kv is None:
                if patch_type == "apply" and not subresource:
                    body = dict(patch)
                    meta(body).setdefault("name", name)
                    return await self.create(res, namespace, body, opts)
                raise NotFound.of(res.plural, res.group, name)
            current = decode(kv)  # a fresh copy: the patch applies to it in place
            patched = self._apply_patch(res, current, patch_type, patch)
            if not isinstance(patched, dict):
                raise BadRequest("the patch must leave an object")
            pmd = meta(patched)
            if pmd.get("name", name) != name:
                raise BadRequest(f"the name of the object ({pmd.get('name')}) does not match "
                                 f"the name on the URL ({name})")
            wanted = str(pmd.get("resourceVersion") or "")
            if wanted and wanted != str(kv["mod_revision"]):
                raise Conflict.modified(res.plural, res.group, name)
            check_fields(res, patched, opts.field_validation, opts.warnings)
            check_type(res, patched)
            written = await self._write_update(res, kv, patched, opts, subresource)
            if written is not None:
                return written
            if precondition:
                raise Conflict.modified(res.plural, res.group, name)
        raise Conflict.modified(res.plural, res.group, name)

    def _apply_patch(self, res: Resource, current: dict, patch_type: str, patch: Any) -> Any:
        if patch_type == "json":
            return json_patch(current, patch, owned=True)
        if patch_type in ("merge", "apply"):
            if not isinstance(patch, dict):
                raise BadRequest("a merge patch must be a JSON object")
            return merge_patch(current, patch, owned=True)
        if not isinstance(patch, dict):
            raise BadRequest("a strategic merge patch must be a JSON object")
        return strategic_merge_patch(current, patch, patch_meta(res.api_version, res.kind),
                                     owned=True)

    async def _write_update(self, res: Resource, kv: dict, new: dict, opts: Options,
                            subresource: str) -> dict | None:
        """Write `new` over the stored `kv` if nobody wrote since; None when someone did."""
        old = decode(kv)
        new = self._merge_system_fields(res, old, new, subresource)
        if res.kind == "Service" and not res.group and subresource != "status":
            service_update_fixups(new, old)
        elif res.kind == "PriorityClass" and res.group == "scheduling.k8s.io":
            await admit_priority_class(self.store, new, old)
        defaults.apply_defaults(res, new)
        if subresource == "status":
            errors = validation.validate_status_update(res, new, old)
        else:
            errors = validation.validate_update(res, new, old)
        if errors:
            raise Invalid.of(res.kind, res.group, meta(old).get("name", ""), errors)
        md = meta(new)
        if tracks_generation(res) and spec_of(res, new) != spec_of(res, old):
            md["generation"] = int(meta(old).get("generation") or 0) + 1
        if _same(new, old):
            return old
        if deletion.should_delete_during_update(res, new):
            return await self.delete_now(res, kv, new, opts)
        if _is_service(res) and subresource != "status":
            return await self._put_service_update(kv, new, old, opts)
        written = await self.put_if_unchanged(kv, new, opts)
        if written is not None and res.kind == "CustomResourceDefinition" and not opts.dry_run:
            self._crds_changed(new, False)
        return written

    def _merge_system_fields(self, res: Resource, old: dict, new: dict,
                             subresource: str) -> dict:
        omd, nmd = meta(old), meta(new)
        if nmd.get("uid") and nmd["uid"] != omd.get("uid"):
            # upstream BeforeUpdate keeps a given uid; ValidateObjectMetaUpdate rejects a change
            raise Invalid.of(res.kind, res.group, omd.get("name", ""),
                             immutable(nmd["uid"], omd.get("uid"), "metadata.uid"))
        for name in ("uid", "creationTimestamp", "deletionTimestamp",
                     "deletionGracePeriodSeconds", "generation", "namespace"):
            if name in omd:
                nmd[name] = omd[name]
            else:
                nmd.pop(name, None)
        nmd.pop("resourceVersion", None)
        nmd.pop("selfLink", None)
        if subresource == "status":
            status = new.get("status")
            new = {**{k: v for k, v in old.items() if k != "status"}, "metadata": nmd}
            if status is not None:
                new["status"] = status
            nmd["ownerReferences"] = omd.get("ownerReferences")
            if nmd["ownerReferences"] is None:
                del nmd["ownerReferences"]
        elif res.status_separate:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        return new

    async def _put_service_update(self, kv: dict, new: dict, old: dict,
                                  opts: Options) -> dict | None:
        """Store a Service update with the markers it takes and gives up (type changes,
        new or changed nodePorts); None when someone wrote the Service since."""
        for _ in range(_MAX_RETRIES):
            trial = deep_copy(new)
            plan = self.services.plan(trial, old, await taken(self.store))
            if opts.dry_run:
                return trial
            compares, ops, probes = txn_parts(plan, trial)
            result = await self.store.request({
                "op": "txn", "compares": [{"key": kv["key"], "target": "mod", "result": "=",
                                           "value": kv["mod_revision"]}, *compares],
                "success": [{"op": "put", "key": kv["key"], "value": encode(trial)}, *ops],
                "failure": [{"op": "range", "key": kv["key"], "count_only": True},
                            *probes]})
            if result["succeeded"]:
                meta(trial)["resourceVersion"] = str(result["revision"])
                return trial
            if not any(r["count"] for r in result["responses"][1:]):
                return None  # the Service changed (or went): the caller reads it again
        return None

    # ---- delete ---------------------------------------------------------------------------

    async def delete(self, res: Resource, namespace: str, name: str,
                     options: dict | None = None, opts: Options | None = None) -> dict:
        """DELETE with DeleteOptions (see `deletion`)."""
        return await deletion.delete(self, res, namespace, name, options or {},
                                     opts or Options())

    async def delete_now(self, res: Resource, kv: dict, obj: dict,
                          opts: Options) -> dict | None:
        if opts.dry_run:
            return obj
        release = []
        if _is_service(res):  # the Service's markers go with it
            ips, ports = allocations(decode(kv))
            release = txn_parts(Plan(release_ips=ips, release_ports=sorted(ports)), obj)[1]
        if not await self._txn_if_unchanged(kv, {"op": "delete_range", "key": kv["key"]},
                                            *release):
            return None
        if res.kind == "CustomResourceDefinition":
            self._crds_changed(obj, True)
        return obj

    async def put_if_unchanged(self, kv: dict, obj: dict, opts: Options) -> dict | None:
        """Store `obj` over `kv` unless someone wrote since; None when someone did."""
        if opts.dry_run:
            return obj
        result = await self._txn_if_unchanged(kv, {"op": "put", "key": kv["key"],
                                                   "value": encode(obj)})
        if result is None:
            return None
        meta(obj)["resourceVersion"] = str(result["revision"])
        return obj

    async def _txn_if_unchanged(self, kv: dict, op: dict, *more: dict) -> dict | None:
        """Run `op` (and `more`) if `kv` is still the key's latest write: the txn's result,
        or None."""
        result = await self.store.request({
            "op": "txn", "compares": [{"key": kv["key"], "target": "mod", "result": "=",
                                       "value": kv["mod_revision"]}],
            "success": [op, *more], "failure": []})
        return result if result["succeeded"] else None

    # ---- helpers --------------------------------------------------------------------------

    def _suggested(self, res: Resource, namespace: str, name: str,
                   precondition: str) -> dict | None:
        """The watch cache's copy to try an update against first; None when there is none or
        it is not at the precondition's resourceVersion (a Conflict is decided on a store
        read, never on a cache that may lag)."""
        kv = self.suggest(res, res.key(namespace, name))
        if kv is None or (precondition and precondition != str(kv["mod_revision"])):
            return None
        return kv

    def _check_namespace_field(self, res: Resource, md: dict, namespace: str) -> None:
        if not res.namespaced:
            md.pop("namespace", None)
            return
        given = md.get("namespace") or ""
        if given and namespace and given != namespace:
            raise BadRequest("the namespace of the provided object does not match the "
                             "namespace sent on the request")
        if not (given or namespace):
            raise BadRequest("the server could not find the requested resource: a namespace "
                             "is required")
        md["namespace"] = given or namespace

    async def _check_namespace_open(self, namespace: str) -> None:
        kv = await self.read_kv(_NAMESPACES, "", namespace)
        if kv is None:
            raise NotFound.of("namespaces", "", namespace)
        ns = decode(kv)
        if meta(ns).get("deletionTimestamp") or \
                (ns.get("status") or {}).get("phase") == "Terminating":
            raise Forbidden(f"unable to create new content in namespace {namespace} because "
                            "it is being terminated",
                            details={"name": namespace, "kind": "namespaces"})

    def _crds_changed(self, crd: dict, deleted: bool) -> None:
        for callback in self.on_crd_change:
            callback(crd, deleted)


def _is_service(res: Resource) -> bool:
    return res.kind == "Service" and not res.group


def _same(new: dict, old: dict) -> bool:
    strip = lambda o: {**o, "metadata": {k: v for k, v in o["metadata"].items()  # noqa: E731
                                          if k != "resourceVersion"}}
    return strip(new) == strip(old)


def _establish(crd: dict) -> None:
    """A CRD is accepted and established at once (no naming conflicts are checked yet)."""
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    storage = [v.get("name") for v in spec.get("versions") or [] if v.get("storage")]
    crd["status"] = {
        "acceptedNames": names, "storedVersions": storage,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found"},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted"}]}
