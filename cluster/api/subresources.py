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
    BadRequest, Conflict, Forbidden, InternalError, NotFound, TooManyRequests,
)
from kubemu.cluster.api.handlers import Handlers, Options
from kubemu.cluster.api.objects import decode, meta, rfc3339
from kubemu.cluster.api.patch import json_patch, merge_patch
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.api.selectors import selector_from_dict
from kubemu.cluster.store import prefix_end

__all__ = ["get_scale", "update_scale", "patch_scale", "bind", "evict", "SCALABLE",
           "MAX_DISRUPTED_POD_SIZE"]

SCALABLE = frozenset({("apps", "deployments"), ("apps", "replicasets"),
                      ("apps", "statefulsets")})
_PDBS = Resource(group="policy", version="v1", kind="PodDisruptionBudget",
                 plural="poddisruptionbudgets", singular="poddisruptionbudget",
                 namespaced=True, subresources=("status",))
MAX_DISRUPTED_POD_SIZE = 2000  # upstream's MaxDisruptedPodSize
_EVICTION_RETRIES = 20  # upstream's EvictionsRetry steps
_VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


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
    """POST pods/{name}/eviction: delete the pod if its disruption budget allows it
    (upstream's EvictionREST.Create)."""
    if not isinstance(body, dict):
        raise BadRequest("the body of an eviction request must be an Eviction")
    given = (body.get("metadata") or {}).get("name")
    if given and given != name:
        raise BadRequest("name in URL does not match name in Eviction object")
    delete_options = dict(body.get("deleteOptions") or {})
    for _ in range(_EVICTION_RETRIES):
        pod = await h.get(res, namespace, name)
        if _can_ignore_pdb(pod):
            await h.delete(res, namespace, name, delete_options, opts)
            return _success(201)
        budgets = await _budgets_of(h, namespace, pod)
        if len(budgets) > 1:
            raise InternalError("This pod has more than one PodDisruptionBudget, which the "
                                "eviction subresource does not support.")
        if budgets:
            kv, pdb = budgets[0]
            if not _is_ready(pod) and _unhealthy_may_go(pdb):
                # an unready pod does not count as healthy: taking it away costs the budget
                # nothing, as long as it is still the pod that was judged (resourceVersion)
                pre = {**(delete_options.get("preconditions") or {}),
                       "resourceVersion": meta(pod)["resourceVersion"]}
                await h.delete(res, namespace, name, {**delete_options, "preconditions": pre},
                               opts)
                return _success(201)
            if not await _check_and_decrement(h, kv, pdb, name, opts):
                continue  # the budget changed under us: judge again from fresh reads
        await _mark_disruption_target(h, res, namespace, name, opts)
        await h.delete(res, namespace, name, delete_options, opts)
        return _success(201)
    raise TooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.",
                          details={"retryAfterSeconds": 1})


async def _budgets_of(h: Handlers, namespace: str, pod: dict) -> list[tuple[dict, dict]]:
    """The PodDisruptionBudgets of the pod's namespace whose selector matches it (a nil
    selector matches nothing, an empty one everything)."""
    listed = await h.store.request({"op": "range", "key": _PDBS.prefix(namespace),
                                    "range_end": prefix_end(_PDBS.prefix(namespace))})
    labels = meta(pod).get("labels") or {}
    budgets = []
    for kv in listed["kvs"]:
        pdb = decode(kv)
        selector = (pdb.get("spec") or {}).get("selector")
        if selector is not None and selector_from_dict(selector).matches(labels):
            budgets.append((kv, pdb))
    return budgets


async def _check_and_decrement(h: Handlers, kv: dict, pdb: dict, pod_name: str,
                               opts: Options) -> bool:
    """Take one disruption from the budget in one guarded write: raise 429 when none is
    allowed, False when someone wrote the budget since it was read."""
    name = meta(pdb)["name"]
    status = pdb.setdefault("status", {})
    if int(status.get("observedGeneration", 0)) < int(meta(pdb).get("generation", 1)):
        raise TooManyRequests(
            _VIOLATION, details={"retryAfterSeconds": 10, "causes": [{
                "reason": "DisruptionBudget",
                "message": f"The disruption budget {name} is still being processed by the "
                           f"server."}]})
    allowed = int(status.get("disruptionsAllowed", 0))
    if allowed < 0:
        raise _forbidden(name, "pdb disruptions allowed is negative")
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_POD_SIZE:
        raise _forbidden(name, "DisruptedPods map too big - too many evictions not "
                               "confirmed by PDB controller")
    if allowed == 0:
        raise TooManyRequests(_VIOLATION, details={"causes": [{
            "reason": "DisruptionBudget",
            "message": f"The disruption budget {name} needs "
                       f"{status.get('desiredHealthy', 0)} healthy pods and has "
                       f"{status.get('currentHealthy', 0)} currently"}]})
    status["disruptionsAllowed"] = allowed - 1
    if allowed - 1 == 0:
        _set_insufficient(status, h.wall_clock())
    if opts.dry_run:
        return True
    status.setdefault("disruptedPods", {})[pod_name] = rfc3339(h.wall_clock())
    return await h.put_if_unchanged(kv, pdb, opts) is not None


async def _mark_disruption_target(h: Handlers, res: Resource, namespace: str, name: str,
                                  opts: Options) -> None:
    """Add the DisruptionTarget condition (reason EvictionByEvictionAPI) before deleting,
    as upstream does; best effort: a pod that changed meanwhile is deleted without it."""
    if opts.dry_run:
        return
    kv = await h.read_kv(res, namespace, name)
    if kv is None:
        return
    pod = decode(kv)
    status = pod.setdefault("status", {})
    conditions = status.get("conditions") or []
    if any(c.get("type") == "DisruptionTarget" and c.get("status") == "True"
           for c in conditions):
        return
    status["conditions"] = [c for c in conditions if c.get("type") != "DisruptionTarget"] + [{
        "type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
        "lastTransitionTime": rfc3339(h.wall_clock()), "reason": "EvictionByEvictionAPI",
        "message": "Eviction API: evicting"}]
    await h.put_if_unchanged(kv, pod, opts)


def _forbidden(name: str, why: str) -> Forbidden:
    return Forbidden(f'poddisruptionbudgets.policy "{name}" is forbidden: {why}',
                     details={"name": name, "group": "policy",
                              "kind": "poddisruptionbudgets"})


def _can_ignore_pdb(pod: dict) -> bool:
    """Terminal, pending and terminating pods are evicted without asking a budget."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or bool(
        meta(pod).get("deletionTimestamp"))


def _is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def _unhealthy_may_go(pdb: dict) -> bool:
    """unhealthyPodEvictionPolicy: AlwaysAllow always; IfHealthyBudget (the default) only
    while the budget has its desired healthy pods."""
    if (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
        return True
    status = pdb.get("status") or {}
    desired = int(status.get("desiredHealthy", 0))
    return desired > 0 and int(status.get("currentHealthy", 0)) >= desired


def _set_insufficient(status: dict, wall: float) -> None:
    """DisruptionAllowed False/InsufficientPods (upstream's UpdateDisruptionAllowedCondition
    once the last allowed disruption is taken)."""
    conditions = status.get("conditions") or []
    old = next((c for c in conditions if c.get("type") == "DisruptionAllowed"), None)
    cond = {"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods",
            "message": "", "observedGeneration": status.get("observedGeneration", 0),
            "lastTransitionTime": (old["lastTransitionTime"] if old is not None
                                   and old.get("status") == "False"
                                   and old.get("lastTransitionTime") else rfc3339(wall))}
    status["conditions"] = [c for c in conditions if c.get("type") != "DisruptionAllowed"] + [
        cond]


def _success(code: int) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "code": code}
