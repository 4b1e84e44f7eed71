"""Namespace lifecycle in the API server: the `finalize` subresource, and the optional sweep.

A namespace DELETE marks it Terminating (`deletion`); it stays while spec.finalizers holds
anything. The namespace controller empties it, then removes its `kubernetes` finalizer through
`finalize` (PUT namespaces/<name>/finalize, which changes only spec.finalizers); the update
that leaves a Terminating namespace without finalizers removes it, as kube-apiserver's
ShouldDeleteNamespaceDuringUpdate does.

Without a controller manager (a standalone API server, `ApiServer(finalize_namespaces=True)`)
the API server finishes the job itself: `sweep` finds every Terminating namespace, deletes
every namespaced resource in it (pods with their own grace period: a bound pod leaves when its
kubelet says so), and once nothing is left removes the namespace. A restarted API server
finishes the job; running it in several API servers at once is harmless, because each step is
an idempotent delete.
"""

from __future__ import annotations

import logging
from typing import Any

from kubemu.cluster.api import deletion, validation
from kubemu.cluster.api.errors import ApiError, BadRequest, Conflict, Invalid, NotFound
from kubemu.cluster.api.handlers import Handlers, Options
from kubemu.cluster.api.objects import decode, deep_copy, meta
from kubemu.cluster.store import prefix_end

__all__ = ["finalize", "sweep", "empty_namespace"]

_MAX_RETRIES = 16

log = logging.getLogger(__name__)


async def finalize(h: Handlers, name: str, body: Any, opts: Options) -> dict:
    """PUT namespaces/<name>/finalize: store the body's spec.finalizers (nothing else); a
    Terminating namespace left without finalizers is removed. Answers the namespace."""
    if not isinstance(body, dict) or body.get("kind", "Namespace") != "Namespace":
        raise BadRequest("the body of a finalize request must be a v1 Namespace")
    finalizers = list((body.get("spec") or {}).get("finalizers") or [])
    body_name = (body.get("metadata") or {}).get("name")
    if body_name and body_name != name:
        raise BadRequest(f"the name of the object ({body_name}) does not match the name on "
                         f"the URL ({name})")
    precondition = str((body.get("metadata") or {}).get("resourceVersion") or "")
    res = h.registry.lookup("", "v1", "namespaces")
    for _ in range(_MAX_RETRIES):
        kv = await h.read_kv(res, "", name)
        if kv is None:
            raise NotFound.of(res.plural, res.group, name)
        if precondition and precondition != str(kv["mod_revision"]):
            raise Conflict.modified(res.plural, res.group, name)
        old = decode(kv)
        new = deep_copy(old)
        spec = new.setdefault("spec", {})
        if finalizers:
            spec["finalizers"] = finalizers
        else:
            spec.pop("finalizers", None)
        errors = validation.validate_update(res, new, old)
        if errors:
            raise Invalid.of(res.kind, res.group, name, errors)
        if new == old:
            return old
        if deletion.should_delete_during_update(res, new):
            written = await h.delete_now(res, kv, new, opts)
        else:
            written = await h.put_if_unchanged(kv, new, opts)
        if written is not None:
            return written
        if precondition:
            raise Conflict.modified(res.plural, res.group, name)
    raise Conflict.modified(res.plural, res.group, name)


async def sweep(h: Handlers) -> int:
    """Empty and remove every Terminating namespace; how many remain Terminating."""
    ns_res = h.registry.lookup("", "v1", "namespaces")
    prefix = ns_res.prefix()
    listed = await h.store.request({"op": "range", "key": prefix,
                                    "range_end": prefix_end(prefix)})
    waiting = 0
    for kv in listed["kvs"]:
        ns = decode(kv)
        if not meta(ns).get("deletionTimestamp"):
            continue
        if not await empty_namespace(h, meta(ns)["name"]):
            waiting += 1
            continue
        result = await h.store.request({
            "op": "txn", "compares": [{"key": kv["key"], "target": "mod", "result": "=",
                                       "value": kv["mod_revision"]}],
            "success": [{"op": "delete_range", "key": kv["key"]}], "failure": []})
        if not result["succeeded"]:
            waiting += 1
    return waiting


async def empty_namespace(h: Handlers, namespace: str) -> bool:
    """Delete everything in `namespace`; True once nothing is left."""
    empty = True
    for res in h.registry.resources():
        if not res.namespaced:
            continue
        prefix = res.prefix(namespace)
        listed = await h.store.request({"op": "range", "key": prefix,
                                        "range_end": prefix_end(prefix), "keys_only": True})
        for kv in listed["kvs"]:
            empty = False
            name = kv["key"][len(prefix):]
            try:
                await h.delete(res, namespace, name, {"propagationPolicy": "Background"})
            except NotFound:
                pass
            except ApiError as exc:
                log.warning("namespace %s: cannot delete %s %s: %s", namespace,
                            res.group_resource, name, exc)
    return empty
