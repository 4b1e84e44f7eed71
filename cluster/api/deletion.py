"""Deletion: DeleteOptions, preconditions, graceful pod termination, finalizers, namespaces.

A delete checks its preconditions (uid, resourceVersion) against the stored object, then
either removes the key at once or marks the object: a pod bound to a node gets a
deletionTimestamp and grace period and stays until its kubelet deletes it; an object with
finalizers gets a deletionTimestamp and stays until they are removed; a namespace turns
Terminating and is emptied by the namespace finaliser (`namespaces`). Every step is one txn
guarded by the key's mod_revision, retried when another writer got there first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubemu.cluster.api.errors import BadRequest, Conflict, NotFound
from kubemu.cluster.api.objects import decode, meta, rfc3339
from kubemu.cluster.api.registry import Resource

if TYPE_CHECKING:
    from kubemu.cluster.api.handlers import Handlers, Options

__all__ = ["delete"]

_MAX_RETRIES = 16


async def delete(h: Handlers, res: Resource, namespace: str, name: str, options: dict,
                 opts: Options) -> dict:
    """Delete one object: preconditions, graceful pod deletion, finalizers, namespaces."""
    policy = options.get("propagationPolicy")
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise BadRequest(f'propagationPolicy: Unsupported value: "{policy}": supported '
                         'values: "Foreground", "Background", "Orphan"')
    grace = options.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise BadRequest("gracePeriodSeconds must be an integer")
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
            result = await _delete_object(h, res, kv, obj, grace, opts)
        if result is not None:
            return result
    raise Conflict.modified(res.plural, res.group, name)

async def _delete_object(h: Handlers, res: Resource, kv: dict, obj: dict,
                         grace: int | None, opts: Options) -> dict | None:
    md = meta(obj)
    now = h.wall_clock()
    if res.kind == "Pod" and not res.group:
        grace_default = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        period = grace_default if grace is None else grace
        phase = (obj.get("status") or {}).get("phase")
        bound = bool((obj.get("spec") or {}).get("nodeName"))
        if period > 0 and bound and phase not in ("Succeeded", "Failed"):
            current = md.get("deletionGracePeriodSeconds")
            if current is not None and current <= period:
                return obj  # already terminating at least this fast
            md["deletionTimestamp"] = rfc3339(now + period)
            md["deletionGracePeriodSeconds"] = period
            return await h.put_if_unchanged(kv, obj, opts)
    if md.get("finalizers"):
        if md.get("deletionTimestamp"):
            return obj
        md["deletionTimestamp"] = rfc3339(now)
        md["deletionGracePeriodSeconds"] = 0
        return await h.put_if_unchanged(kv, obj, opts)
    return await h.delete_now(res, kv, obj, opts)

async def _delete_namespace(h: Handlers, kv: dict, obj: dict, opts: Options) -> dict | None:
    md = meta(obj)
    if md.get("deletionTimestamp"):
        return obj
    md["deletionTimestamp"] = rfc3339(h.wall_clock())
    md["deletionGracePeriodSeconds"] = 0
    obj.setdefault("status", {})["phase"] = "Terminating"
    written = await h.put_if_unchanged(kv, obj, opts)
    if written is not None and not opts.dry_run:
        for callback in h.on_namespace_delete:
            callback(md["name"])
    return written
