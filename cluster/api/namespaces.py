"""Namespace deletion: a Terminating namespace is emptied, then removed.

Until the controller manager's namespace controller exists, the API server finishes what a
namespace DELETE starts (as kube-apiserver's namespace finalizer would): every namespaced
resource in it is deleted (pods with their own grace period: a bound pod leaves when its
kubelet says so), and once nothing is left the namespace itself goes. `sweep` finds every
Terminating namespace, so an API server that restarts mid-way finishes the job; running it
in several API servers at once is harmless, because each step is an idempotent delete.
"""

from __future__ import annotations

import logging

from kubemu.cluster.api.errors import ApiError, NotFound
from kubemu.cluster.api.handlers import Handlers
from kubemu.cluster.api.objects import decode, meta
from kubemu.cluster.store import prefix_end

__all__ = ["sweep", "empty_namespace"]

log = logging.getLogger(__name__)


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
