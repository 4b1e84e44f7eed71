"""Deletion: DeleteOptions, preconditions, graceful pod termination, GC finalizers, namespaces.

A delete checks its preconditions (uid, resourceVersion) against the stored object, then
either removes the key at once or marks the object, as upstream's registry store does:
- a pod bound to a node gets a deletionTimestamp and grace period and stays until its kubelet
  deletes it (a later delete may only shorten the grace period);
- the propagation policy becomes garbage-collector finalizers (upstream's
  `deletionFinalizersForGarbageCollection`): `Orphan` (or legacy `orphanDependents: true`)
  adds `orphan`, `Foreground` adds `foregroundDeletion`, `Background` adds neither; the two are
  exclusive, so setting one drops the other. Without a policy the object keeps the one it
  has, else its kind's default: Orphan for batch/v1 Jobs (with upstream's warning), Background
  for everything else -- the garbage collector then deletes the dependents afterwards;
- an object with finalizers gets a deletionTimestamp and stays until they are removed; an
  object already being deleted still takes the finalizer a new policy asks for;
- a namespace turns Terminating and stays while spec.finalizers is non-empty (emptied by the
  namespace controller, or by the API server's own sweep in `namespaces`).
Every step is one txn guarded by the key's mod_revision, retried when another writer got
there first. `should_delete_during_update` is the same rule for updates: an update that
leaves a deleting object with nothing holding it removes the object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubemu.cluster.api.errors import BadRequest, Conflict, NotFound
from kubemu.cluster.api.objects import decode, meta, rfc3339
from kubemu.cluster.api.registry import Resource

if TYPE_CHECKING:
    from kubemu.cluster.api.handlers import Handlers, Options

__all__ = ["delete", "gc_finalizers", "should_delete_during_update", "ORPHAN", "FOREGROUND",
           "JOB_ORPHAN_WARNING"]

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
JOB_ORPHAN_WARNING = ("child pods are preserved by default when jobs are deleted; set "
                      "propagationPolicy=Background to remove them or set "
                      "propagationPolicy=Orphan to suppress this warning")
_MAX_RETRIES = 16
# Kinds whose default garbage-collection policy is Orphan at this version (back compatibility).
_ORPHAN_BY_DEFAULT = {("batch", "v1", "Job"), ("", "v1", "ReplicationController")}


async def delete(h: Handlers, res: Resource, namespace: str, name: str, options: dict,
                 opts: Options) -> dict:
    """Delete one object: preconditions, graceful pod deletion, finalizers, namespaces."""
    policy = options.get("propagationPolicy")
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise BadRequest(f'propagationPolicy: Unsupported value: "{policy}": supported '
                         'values: "Foreground", "Background", "Orphan"')
    if policy is not None and options.get("orphanDependents") is not None:
        raise BadRequest("OrphanDependents and DeletionPropagation cannot be both set")
    grace = options.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise BadRequest("gracePeriodSeconds must be an integer")
    if (res.group, res.version, res.kind) == ("batch", "v1", "Job") and policy is None \
            and options.get("orphanDependents") is None:
        opts.warnings.append(JOB_ORPHAN_WARNING)
    pre = options.get("preconditions") or {}
    for _ in range(_MAX_RETRIES):
        kv = await h.read_kv(res, namespace, name)
        if kv is None:
            raise NotFound.of(res.plural, res.group, name)
        obj = decode(kv)
        md = meta(obj)
        if pre.get("uid") and pre["uid"] != md.get("uid"):
            raise Conflict.of(res.plural, res.group, name,
                              f"Precondition failed: UID in precondition: {pre['uid']}, "
                              f"UID in object meta: {md.get('uid')}")
        if pre.get("resourceVersion") and pre["resourceVersion"] != md["resourceVersion"]:
            raise Conflict.of(res.plural, res.group, name,
                              "Precondition failed: ResourceVersion in precondition: "
                              f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                              f"{md['resourceVersion']}")
        if res.kind == "Namespace" and not res.group:
            result = await _delete_namespace(h, kv, obj, opts)
        else:
            result = await _delete_object(h, res, kv, obj, grace, options, opts)
        if result is not None:
            return result
    raise Conflict.modified(res.plural, res.group, name)


def gc_finalizers(res: Resource, finalizers: list[str], options: dict) -> list[str]:
    """The object's finalizers after a delete with `options`: `orphan` / `foregroundDeletion`
    as the policy (or the object's current choice, or its kind's default) says."""
    orphan = _should_orphan(res, finalizers, options)
    foreground = _should_foreground(finalizers, options)
    result = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    if orphan:
        result.append(ORPHAN)
    if foreground:
        result.append(FOREGROUND)
    return list(finalizers) if set(result) == set(finalizers) else result


def should_delete_during_update(res: Resource, obj: dict) -> bool:
    """True when `obj` is being deleted and nothing holds it any more: no finalizers, no
    graceful pod termination pending, no namespace spec.finalizers (upstream's
    ShouldDeleteDuringUpdate)."""
    md = meta(obj)
    if not md.get("deletionTimestamp") or md.get("finalizers"):
        return False
    if res.group:
        return True
    if res.kind == "Pod":
        return not md.get("deletionGracePeriodSeconds")
    if res.kind == "Namespace":
        return not (obj.get("spec") or {}).get("finalizers")
    return True


async def _delete_object(h: Handlers, res: Resource, kv: dict, obj: dict,
                         grace: int | None, options: dict, opts: Options) -> dict | None:
    md = meta(obj)
    now = h.wall_clock()
    graceful = False  # this delete starts (or shortens) a graceful pod termination
    if res.kind == "Pod" and not res.group:
        period = _pod_grace_period(obj, grace)
        current = md.get("deletionGracePeriodSeconds")
        if md.get("deletionTimestamp") and current:
            if period >= current:
                return obj  # already terminating at least this fast; options change nothing
            graceful = True
        elif not md.get("deletionTimestamp") and period > 0:
            graceful = True
        if graceful:
            md["deletionTimestamp"] = rfc3339(now + period)
            md["deletionGracePeriodSeconds"] = period
    before = list(md.get("finalizers") or [])
    finalizers = gc_finalizers(res, before, options)
    if finalizers != before:
        if finalizers:
            md["finalizers"] = finalizers
        else:
            md.pop("finalizers", None)
    if not finalizers and (not graceful or not md.get("deletionGracePeriodSeconds")):
        return await h.delete_now(res, kv, obj, opts)
    if not md.get("deletionTimestamp"):
        md["deletionTimestamp"] = rfc3339(now)
        md["deletionGracePeriodSeconds"] = 0
    elif not graceful and finalizers == before:
        return obj  # already being deleted and nothing changes
    return await h.put_if_unchanged(kv, obj, opts)


async def _delete_namespace(h: Handlers, kv: dict, obj: dict, opts: Options) -> dict | None:
    md = meta(obj)
    if md.get("deletionTimestamp"):
        return obj
    ns_res = h.registry.lookup("", "v1", "namespaces")
    if not (obj.get("spec") or {}).get("finalizers") and not md.get("finalizers"):
        return await h.delete_now(ns_res, kv, obj, opts)
    md["deletionTimestamp"] = rfc3339(h.wall_clock())
    md["deletionGracePeriodSeconds"] = 0
    obj.setdefault("status", {})["phase"] = "Terminating"
    written = await h.put_if_unchanged(kv, obj, opts)
    if written is not None and not opts.dry_run:
        for callback in h.on_namespace_delete:
            callback(md["name"])
    return written


def _pod_grace_period(pod: dict, grace: int | None) -> int:
    """Upstream's pod CheckGracefulDelete: the requested (or spec) grace period, 0 for a pod
    never scheduled or already finished."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    period = spec.get("terminationGracePeriodSeconds", 30) if grace is None else grace
    return max(0, int(period if period is not None else 30))


def _should_orphan(res: Resource, finalizers: list[str], options: dict) -> bool:
    if options.get("orphanDependents") is not None:
        return bool(options["orphanDependents"])
    policy = options.get("propagationPolicy")
    if policy is not None:
        return policy == "Orphan"
    if ORPHAN in finalizers:
        return True
    if FOREGROUND in finalizers:
        return False
    return (res.group, res.version, res.kind) in _ORPHAN_BY_DEFAULT


def _should_foreground(finalizers: list[str], options: dict) -> bool:
    if options.get("orphanDependents") is not None:
        return False
    policy = options.get("propagationPolicy")
    if policy is not None:
        return policy == "Foreground"
    return FOREGROUND in finalizers
