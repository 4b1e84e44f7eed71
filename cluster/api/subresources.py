"""Subresources with their own shapes: scale, binding and eviction.

`scale` presents a workload's replicas as an autoscaling/v1 Scale (spec.replicas, status.replicas
and the selector as a string) and writes a new scale back into the owner's spec under the same
optimistic concurrency as an update. `binding` assigns a pod to a node once (409 when it is
already assigned or being deleted) and marks it PodScheduled. `eviction` deletes a pod only
when every PodDisruptionBudget covering it allows a disruption, counting the disruption in the
budget's status in the same way kube-apiserver does; otherwise 429 TooManyRequests.
"""

from __future__ import annotations

from typing import Any

import orjson

from kubemu.cluster.api.errors import (
    BadRequest, Conflict, InternalError, NotFound, TooManyRequests,
)
from kubemu.cluster.api.handlers import Handlers, Options
from kubemu.cluster.api.objects import decode, meta, rfc3339
from kubemu.cluster.api.patch import json_patch, merge_patch
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.api.selectors import selector_from_dict
from kubemu.cluster.store import prefix_end

__all__ = ["get_scale", "update_scale", "patch_scale", "bind", "evict", "SCALABLE"]

SCALABLE = frozenset({("apps", "deployments"), ("apps", "replicasets"),
                      ("apps", "statefulsets")})
_PDBS = Resource(group="policy", version="v1", kind="PodDisruptionBudget",
                 plural="poddisruptionbudgets", singular="poddisruptionbudget",
                 namespaced=True, subresources=("status",))


def _check_scalable(res: Resource) -> None:
    if (res.group, res.plural) not in SCALABLE:
        raise NotFound(f"the server could not find the requested resource "
                       f"({res.group_resource}/scale)")


def scale_of(obj: dict) -> dict:
    md = meta(obj)
    selector = selector_from_dict((obj.get("spec") or {}).get("selector"))
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                            "creationTimestamp") if k in md},
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                       "selector": str(selector)}}


async def get_scale(h: Handlers, res: Resource, namespace: str, name: str) -> dict:
    _check_scalable(res)
    return scale_of(await h.get(res, namespace, name))


async def update_scale(h: Handlers, res: Resource, namespace: str, name: str, body: Any,
                       opts: Options) -> dict:
    _check_scalable(res)
    if not isinstance(body, dict) or body.get("kind", "Scale") != "Scale":
        raise BadRequest("the body of a scale request must be an autoscaling/v1 Scale")
    replicas = (body.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise BadRequest("spec.replicas of a Scale must be an integer")
    rv = str((body.get("metadata") or {}).get("resourceVersion") or "")
    patch = {"metadata": {"resourceVersion": rv} if rv else {}, "spec": {"replicas": replicas}}
    updated = await h.patch(res, namespace, name, "merge", orjson.dumps(patch), opts)
    return scale_of(updated)


async def patch_scale(h: Handlers, res: Resource, namespace: str, name: str,
                      patch_type: str, body: bytes, opts: Options) -> dict:
    current = await get_scale(h, res, namespace, name)
    try:
        patch = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"error decoding patch: {exc}") from None
    patched = json_patch(current, patch) if patch_type == "json" else merge_patch(current, patch)
    return await update_scale(h, res, namespace, name, patched, opts)


async def bind(h: Handlers, res: Resource, namespace: str, name: str, body: Any,
               opts: Options) -> dict:
    """POST pods/{name}/binding: set spec.nodeName once."""
    if not isinstance(body, dict):
        raise BadRequest("the body of a binding request must be a Binding")
    target = body.get("target") or {}
    node = target.get("name")
    if not node:
        raise BadRequest("Binding target.name (the node) is required")
    bname = (body.get("metadata") or {}).get("name") or name
    if bname != name:
        raise BadRequest(f"the name of the object ({bname}) does not match the name on the URL "
                         f"({name})")
    for _ in range(16):
        kv = await h.read_kv(res, namespace, name)
        if kv is None:
            raise NotFound.of("pods", "", name)
        pod = decode(kv)
        spec = pod.setdefault("spec", {})
        if meta(pod).get("deletionTimestamp"):
            raise Conflict.of("pods/binding", "", name,
                              f"pod {name} is being deleted, cannot be assigned to a host")
        if spec.get("nodeName"):
            raise Conflict.of("pods/binding", "", name,
                              f'pod {name} is already assigned to node "{spec["nodeName"]}"')
        spec["nodeName"] = node
        status = pod.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                           "lastTransitionTime": rfc3339(h.wall_clock())})
        status["conditions"] = conditions
        if opts.dry_run or await h.put_if_unchanged(kv, pod, opts) is not None:
            return _success(201)
    raise Conflict.modified("pods", "", name)


async def evict(h: Handlers, res: Resource, namespace: str, name: str, body: Any,
                opts: Options) -> dict:
    """POST pods/{name}/eviction: delete the pod if its disruption budgets allow it."""
    if not isinstance(body, dict):
        raise BadRequest("the body of an eviction request must be an Eviction")
    delete_options = body.get("deleteOptions") or {}
    pod = await h.get(res, namespace, name)
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed", "Pending") or meta(pod).get("deletionTimestamp"):
        await h.delete(res, namespace, name, delete_options, opts)
        return _success(201)
    listed = await h.store.request({"op": "range", "key": _PDBS.prefix(namespace),
                                    "range_end": prefix_end(_PDBS.prefix(namespace))})
    labels = meta(pod).get("labels") or {}
    budgets = []
    for kv in listed["kvs"]:
        pdb = decode(kv)
        selector = (pdb.get("spec") or {}).get("selector")
        if selector is None:
            continue
        if selector_from_dict(selector).matches(labels):
            budgets.append((kv, pdb))
    if len(budgets) > 1:
        raise InternalError("This pod has more than one PodDisruptionBudget, which the "
                            "eviction subresource does not support.")
    if budgets:
        kv, pdb = budgets[0]
        status = pdb.setdefault("status", {})
        stale = int(status.get("observedGeneration", 0)) < int(meta(pdb).get("generation", 1))
        allowed = int(status.get("disruptionsAllowed", 0))
        if stale or allowed <= 0:
            why = ("the disruption budget's status is not yet up to date" if stale else
                   f"The disruption budget {meta(pdb)['name']} needs "
                   f"{status.get('desiredHealthy', 0)} healthy pods and has "
                   f"{status.get('currentHealthy', 0)} currently")
            raise TooManyRequests(
                "Cannot evict pod as it would violate the pod's disruption budget.",
                details={"causes": [{"reason": "DisruptionBudget", "message": why}]})
        status["disruptionsAllowed"] = allowed - 1
        status.setdefault("disruptedPods", {})[name] = rfc3339(h.wall_clock())
        if await h.put_if_unchanged(kv, pdb, opts) is None:
            raise TooManyRequests("Cannot evict pod as it would violate the pod's "
                                  "disruption budget: the budget changed, retry",
                                  details={"retryAfterSeconds": 1})
    await h.delete(res, namespace, name, delete_options, opts)
    return _success(201)


def _success(code: int) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "code": code}
