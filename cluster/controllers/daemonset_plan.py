"""DaemonSet decisions: which nodes need a daemon pod, which pods go, what the status says
(upstream daemon_controller.go podsShouldBeOnNode and updateDaemonSetStatus, update.go
rollingUpdate). Pure: pods and nodes in, names out; availability is a callable so the
controller can measure minReadySeconds on the Kubernetes clock.

Per node (`plan_node`), with the node's daemon pods:
- should run and has none: it needs one;
- should continue running: terminating pods are ignored; a Failed pod is deleted (at most once
  per backoff period per node, with a FailedDaemonPod Warning), a Succeeded one deleted; of
  the remaining pods only the oldest is kept -- or, with maxSurge, the oldest up-to-date and
  the oldest out-of-date one while the new one is not yet available and the old one is ready;
- must not run: every pod on it is deleted.
Rolling update (`rolling_update`): without surge, out-of-date pods are deleted (and re-created
by the next manage pass) while fewer than maxUnavailable nodes lack an available up-to-date
pod, unavailable old pods always; with surge, a new pod is created next to an old one on at
most maxSurge nodes at a time, and the old one deleted once the new one is available.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kubemu.cluster.controllers.daemonset_util import (
    FailedPodsBackoff,
    allows_surge,
    is_pod_updated,
    max_surge_unavailable,
    node_should_run,
    pod_order,
    target_node_name,
    template_generation,
)
from kubemu.cluster.controllers.podutil import is_pod_ready, is_pod_terminal

__all__ = ["FAILED_DAEMON_POD", "NodePlan", "daemon_set_status", "merge_status",
           "nodes_to_daemon_pods", "plan_node", "rolling_update",
           "unscheduled_without_node"]

FAILED_DAEMON_POD = "FailedDaemonPod"
_ALWAYS = ("desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled",
           "numberReady")
_COUNTS = (*_ALWAYS, "updatedNumberScheduled", "numberAvailable", "numberUnavailable",
           "observedGeneration")

Available = Callable[[dict], bool]


@dataclass
class NodePlan:
    """What the manage pass does for one node."""

    needs_pod: bool = False
    delete: list[dict] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # FailedDaemonPod event messages
    retry_after: float | None = None  # a failed pod waits out its backoff


def nodes_to_daemon_pods(pods: Iterable[dict], *,
                         include_deleted_terminal: bool = False) -> dict[str, list[dict]]:
    """Claimed daemon pods by target node (upstream getNodesToDaemonPods); terminal pods
    already being deleted are left out unless asked for. Pods naming no node are skipped."""
    out: dict[str, list[dict]] = {}
    for pod in pods:
        if not include_deleted_terminal and is_pod_terminal(pod) and \
                (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        node = target_node_name(pod)
        if node is not None:
            out.setdefault(node, []).append(pod)
    return out


def plan_node(node: dict, ds: dict, pods: list[dict], hash_: str, *, available: Available,
              backoff: FailedPodsBackoff, backoff_key: str, now: float) -> NodePlan:
    plan = NodePlan()
    should_run, should_continue = node_should_run(node, ds)
    node_name = (node.get("metadata") or {}).get("name") or ""
    if should_run and not pods:
        plan.needs_pod = True
        return plan
    if not should_continue:
        plan.delete = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
        return plan
    running: list[dict] = []
    for pod in pods:
        md = pod.get("metadata") or {}
        if md.get("deletionTimestamp"):
            continue
        phase = (pod.get("status") or {}).get("phase")
        if phase == "Failed":
            if backoff.in_backoff_since_update(backoff_key, now):
                delay = backoff.get(backoff_key)
                plan.retry_after = delay if plan.retry_after is None else min(plan.retry_after,
                                                                              delay)
                continue
            backoff.next(backoff_key, now)
            plan.failed.append(f"Found failed daemon pod {md.get('namespace')}/{md.get('name')}"
                               f" on node {node_name}, will try to kill it")
            plan.delete.append(pod)
        elif phase == "Succeeded":
            plan.delete.append(pod)
        else:
            running.append(pod)
    running.sort(key=pod_order)
    if not allows_surge(ds):
        plan.delete.extend(running[1:])
        return plan
    if len(running) < 2:
        return plan
    oldest_new = oldest_old = None
    generation = template_generation(ds)
    for pod in running:
        if is_pod_updated(pod, hash_, generation):
            if oldest_new is None:
                oldest_new = pod
                continue
        elif oldest_old is None:
            oldest_old = pod
            continue
        plan.delete.append(pod)
    if oldest_new is not None and oldest_old is not None and (
            not is_pod_ready(oldest_old) or available(oldest_new)):
        plan.delete.append(oldest_old)
    return plan


def rolling_update(ds: dict, nodes: list[dict], node_pods: dict[str, list[dict]], hash_: str,
                   *, available: Available) -> tuple[list[dict], list[str]]:
    """(old pods to delete, nodes to create a new pod on) for one RollingUpdate pass."""
    node_pods = {name: list(pods) for name, pods in node_pods.items()}
    by_name = {(n.get("metadata") or {}).get("name") or "": n for n in nodes}
    desired = 0
    for name, node in by_name.items():
        if node_should_run(node, ds)[0]:
            desired += 1
            node_pods.setdefault(name, [])
    surge, unavailable = max_surge_unavailable(ds, desired)
    generation = template_generation(ds)
    if surge == 0:
        num_unavailable = 0
        replace: list[dict] = []
        candidates: list[dict] = []
        for name in sorted(node_pods):
            found = _updated_pods_on_node(node_pods[name], hash_, generation)
            if found is None:
                num_unavailable += 1
                continue
            new, old = found
            if (new is None) == (old is None):
                num_unavailable += 1
            elif new is not None:
                if not available(new):
                    num_unavailable += 1
            elif old is not None:
                if not available(old):
                    replace.append(old)
                elif num_unavailable < unavailable:
                    candidates.append(old)
        remaining = max(0, min(unavailable - num_unavailable, len(candidates)))
        return replace + candidates[:remaining], []
    to_delete: list[dict] = []
    allowed_nodes: list[str] = []
    candidate_nodes: list[str] = []
    num_surge = 0
    for name in sorted(node_pods):
        found = _updated_pods_on_node(node_pods[name], hash_, generation)
        if found is None:
            num_surge += 1
            continue
        new, old = found
        if old is None:
            continue
        if new is None:
            node = by_name.get(name)
            should_run = node is not None and node_should_run(node, ds)[0]
            if not available(old):
                if not should_run:
                    to_delete.append(old)
                else:
                    allowed_nodes.append(name)
            elif should_run and num_surge < surge:
                candidate_nodes.append(name)
            continue
        if not available(new):
            num_surge += 1
            continue
        to_delete.append(old)
    remaining = max(0, min(surge - num_surge, len(candidate_nodes)))
    return to_delete, allowed_nodes + candidate_nodes[:remaining]


def unscheduled_without_node(pods: Iterable[dict], node_names: set[str]) -> list[dict]:
    """Unbound, not terminating pods for nodes that no longer exist (bound ones are left to
    pod GC, as upstream)."""
    return [p for p in pods
            if (target := target_node_name(p)) is not None and target not in node_names
            and not (p.get("spec") or {}).get("nodeName")
            and not (p.get("metadata") or {}).get("deletionTimestamp")]


def merge_status(ds: dict, counts: dict[str, int], *, observed: bool) -> dict:
    """The DaemonSet's new status: `counts` over the old status (other fields such as
    collisionCount and conditions kept); updated/available/unavailable omitted when zero as
    upstream's JSON omits them; observedGeneration advanced only when `observed`."""
    old = ds.get("status") or {}
    status = {k: v for k, v in old.items() if k not in _COUNTS}
    for name, value in counts.items():
        if value or name in _ALWAYS:
            status[name] = value
    generation = (ds.get("metadata") or {}).get("generation")
    if observed and generation:
        status["observedGeneration"] = generation
    elif old.get("observedGeneration"):
        status["observedGeneration"] = old["observedGeneration"]
    return status


def daemon_set_status(ds: dict, nodes: list[dict], node_pods: dict[str, list[dict]],
                      hash_: str, *, available: Available) -> dict[str, int]:
    """The counts of upstream updateDaemonSetStatus, judged by each node's oldest pod."""
    desired = current = misscheduled = ready = updated = num_available = 0
    generation = template_generation(ds)
    for node in nodes:
        name = (node.get("metadata") or {}).get("name") or ""
        pods = node_pods.get(name) or []
        should_run = node_should_run(node, ds)[0]
        if not should_run:
            misscheduled += bool(pods)
            continue
        desired += 1
        if not pods:
            continue
        current += 1
        pod = min(pods, key=pod_order)
        if is_pod_ready(pod):
            ready += 1
            num_available += available(pod)
        updated += is_pod_updated(pod, hash_, generation)
    return {"desiredNumberScheduled": desired, "currentNumberScheduled": current,
            "numberMisscheduled": misscheduled, "numberReady": ready,
            "updatedNumberScheduled": updated, "numberAvailable": num_available,
            "numberUnavailable": desired - num_available}


# -- helpers ---------------------------------------------------------------------------------

def _updated_pods_on_node(pods: list[dict], hash_: str,
                          generation: int | None) -> tuple[dict | None, dict | None] | None:
    """(the up-to-date pod, the out-of-date pod) on a node; None when there are two of
    either (the manage pass cleans the node up first). Terminating pods do not count."""
    new = old = None
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        if is_pod_updated(pod, hash_, generation):
            if new is not None:
                return None
            new = pod
        else:
            if old is not None:
                return None
            old = pod
    return new, old
