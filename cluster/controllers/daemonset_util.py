"""DaemonSet pod rules: which nodes run a daemon pod, what the pod looks like, which pods are
up to date (upstream pkg/controller/daemon/util and NodeShouldRunDaemonPod).

- Eligibility (`node_should_run`): the daemon pod as it would run on the node -- the template
  plus the automatic tolerations -- must fit the node by nodeSelector and required node
  affinity (the scheduler's own matcher) and tolerate its NoSchedule and NoExecute taints. A
  pod that no longer fits only by taints may keep running while it tolerates every NoExecute
  taint (`should_continue_running`); a template `nodeName` pins the DaemonSet to that node.
- Automatic tolerations (`add_daemon_tolerations`): not-ready and unreachable NoExecute with no
  tolerationSeconds (a daemon pod is never evicted by the node lifecycle), disk-, memory- and
  pid-pressure and unschedulable NoSchedule (cordoned nodes still run daemons), and
  network-unavailable for hostNetwork pods.
- Placement: pods carry a required node affinity term `matchFields metadata.name In [node]`
  (`replace_node_name_affinity`), never spec.nodeName; the scheduler binds them.
  `target_node_name` reads the node back from nodeName or that term.
- Up to date (`is_pod_updated`): the pod's `controller-revision-hash` label is the current
  revision's hash, or its `pod-template-generation` label is the template generation.
  Upstream keeps the template generation in the annotation
  `deprecated.daemonset.template.generation` written by the API server; kubemu's API server
  does not write it, so the DaemonSet's metadata.generation stands in (it grows with every
  template change, so no stale pod ever looks updated).
Everything here is pure.
"""

from __future__ import annotations

import copy
from typing import Any

from kubemu.cluster.controllers.deployment_util import scaled_value
from kubemu.cluster.controllers.taints import (
    NO_EXECUTE,
    NO_SCHEDULE,
    TAINT_NODE_DISK_PRESSURE,
    TAINT_NODE_MEMORY_PRESSURE,
    TAINT_NODE_NETWORK_UNAVAILABLE,
    TAINT_NODE_NOT_READY,
    TAINT_NODE_PID_PRESSURE,
    TAINT_NODE_UNREACHABLE,
    TAINT_NODE_UNSCHEDULABLE,
    find_untolerated_taint,
)
from kubemu.cluster.scheduler.nodeinfo import NodeInfo
from kubemu.cluster.scheduler.plugins.nodeaffinity import required_matcher

__all__ = ["CONTROLLER_REVISION_HASH", "POD_TEMPLATE_GENERATION", "TEMPLATE_GENERATION",
           "FailedPodsBackoff", "add_daemon_tolerations", "allows_surge",
           "daemon_pod_template", "is_pod_updated", "is_rolling_update",
           "max_surge_unavailable", "node_fingerprint", "node_should_run", "pod_order",
           "replace_node_name_affinity", "target_node_name", "template_generation"]

CONTROLLER_REVISION_HASH = "controller-revision-hash"
POD_TEMPLATE_GENERATION = "pod-template-generation"
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"


def add_daemon_tolerations(spec: dict) -> None:
    """Add (or update in place) the tolerations every daemon pod gets (upstream
    AddOrUpdateDaemonPodTolerations)."""
    wanted = [(TAINT_NODE_NOT_READY, NO_EXECUTE), (TAINT_NODE_UNREACHABLE, NO_EXECUTE),
              (TAINT_NODE_DISK_PRESSURE, NO_SCHEDULE), (TAINT_NODE_MEMORY_PRESSURE, NO_SCHEDULE),
              (TAINT_NODE_PID_PRESSURE, NO_SCHEDULE), (TAINT_NODE_UNSCHEDULABLE, NO_SCHEDULE)]
    if spec.get("hostNetwork"):
        wanted.append((TAINT_NODE_NETWORK_UNAVAILABLE, NO_SCHEDULE))
    for key, effect in wanted:
        _add_or_update_toleration(spec, {"key": key, "operator": "Exists", "effect": effect})


def daemon_pod_template(ds: dict, hash_: str) -> dict:
    """The DaemonSet's pod template with the daemon labels and tolerations (upstream
    CreatePodTemplate); the node affinity is added per node."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    md = template.setdefault("metadata", {})
    labels = md.setdefault("labels", {})
    generation = template_generation(ds)
    if generation is not None:
        labels[POD_TEMPLATE_GENERATION] = str(generation)
    if hash_:
        labels[CONTROLLER_REVISION_HASH] = hash_
    add_daemon_tolerations(template.setdefault("spec", {}))
    return template


def node_should_run(node: dict, ds: dict) -> tuple[bool, bool]:
    """(should run, should continue running) a daemon pod of `ds` on `node`."""
    spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    name = (node.get("metadata") or {}).get("name") or ""
    if spec.get("nodeName") and spec["nodeName"] != name:
        return False, False
    pod_spec = copy.deepcopy(spec)
    add_daemon_tolerations(pod_spec)
    pod = {"spec": pod_spec}
    if not required_matcher(pod)(NodeInfo(node)):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or ()
    tolerations = pod_spec.get("tolerations") or ()
    if find_untolerated_taint(taints, tolerations,
                              lambda t: t.get("effect") in (NO_SCHEDULE, NO_EXECUTE)) is None:
        return True, True
    untolerated = find_untolerated_taint(taints, tolerations,
                                         lambda t: t.get("effect") == NO_EXECUTE)
    return False, untolerated is None


def target_node_name(pod: dict) -> str | None:
    """The node a daemon pod is for: spec.nodeName, else its node affinity's only
    `metadata.name In` value (upstream GetTargetNodeName); None if neither names one."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    if len(terms) != 1:
        return None
    for field in terms[0].get("matchFields") or ():
        values = field.get("values") or []
        if field.get("key") == "metadata.name" and field.get("operator") == "In" \
                and len(values) == 1:
            return str(values[0])
    return None


def replace_node_name_affinity(affinity: dict | None, node_name: str) -> dict:
    """`affinity` whose required node affinity is the single term `matchFields
    metadata.name In [node_name]` (upstream ReplaceDaemonSetPodNodeNameNodeAffinity: the
    template's own required terms were already checked against the node and are replaced;
    preferred terms and pod (anti-)affinity stay)."""
    affinity = copy.deepcopy(affinity) if affinity else {}
    affinity.setdefault("nodeAffinity", {})[
        "requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In",
                              "values": [node_name]}]}]}
    return affinity


def template_generation(ds: dict) -> int | None:
    """The template generation: upstream's annotation when set, else metadata.generation."""
    md = ds.get("metadata") or {}
    raw = (md.get("annotations") or {}).get(TEMPLATE_GENERATION)
    if raw is not None:
        try:
            return int(raw)
        except ValueError:
            return None
    generation = md.get("generation")
    return int(generation) if generation else None


def is_pod_updated(pod: dict, hash_: str, generation: int | None) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if hash_ and labels.get(CONTROLLER_REVISION_HASH) == hash_:
        return True
    return generation is not None and labels.get(POD_TEMPLATE_GENERATION) == str(generation)


def pod_order(pod: dict) -> tuple[bool, str, str]:
    """Sort key: scheduled pods first, then oldest, then by name (upstream
    podByCreationTimestampAndPhase). RFC 3339 UTC stamps sort as strings."""
    md = pod.get("metadata") or {}
    return (not (pod.get("spec") or {}).get("nodeName"), md.get("creationTimestamp") or "",
            md.get("name") or "")


def is_rolling_update(ds: dict) -> bool:
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    return (strategy.get("type") or "RollingUpdate") == "RollingUpdate"


def allows_surge(ds: dict) -> bool:
    """Upstream AllowsSurge: a RollingUpdate whose maxSurge resolves above zero (against a
    notional 1 pod, so any percentage > 0 counts)."""
    if not is_rolling_update(ds):
        return False
    rolling = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    return scaled_value(rolling.get("maxSurge"), 1, round_up=True) > 0


def max_surge_unavailable(ds: dict, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods for `desired` scheduled nodes, percentages rounded
    up; both zero with nodes to run on means maxUnavailable 1 (upstream
    updatedDesiredNodeCounts)."""
    rolling = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    surge = unavailable = 0
    if is_rolling_update(ds):
        surge = scaled_value(rolling.get("maxSurge"), desired, round_up=True)
        raw = rolling.get("maxUnavailable")
        unavailable = scaled_value(1 if raw is None else raw, desired, round_up=True)
    if desired > 0 and surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def node_fingerprint(node: dict) -> tuple:
    """What can change a node's eligibility: labels, spec (taints, unschedulable) and the
    condition statuses (upstream shouldIgnoreNodeUpdate ignores the rest of status, so
    heartbeats wake no DaemonSet)."""
    md = node.get("metadata") or {}
    conditions = tuple(sorted((c.get("type") or "", c.get("status") or "")
                              for c in (node.get("status") or {}).get("conditions") or ()))
    return (md.get("labels") or {}, node.get("spec") or {}, conditions)


class FailedPodsBackoff:
    """Per-key exponential backoff between killing failed daemon pods (upstream's
    flowcontrol.Backoff, 1 s doubling to 15 min; a key idle for twice the maximum resets).
    Times are Kubernetes-clock seconds passed in by the caller."""

    def __init__(self, *, initial: float = 1.0, maximum: float = 900.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._entries: dict[str, tuple[float, float]] = {}  # key -> (backoff, last update)

    def get(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry[0] if entry is not None else 0.0

    def in_backoff_since_update(self, key: str, now: float) -> bool:
        entry = self._entries.get(key)
        if entry is None or now - entry[1] > 2 * self.maximum:
            return False
        return now - entry[1] < entry[0]

    def next(self, key: str, now: float) -> None:
        entry = self._entries.get(key)
        if entry is None or now - entry[1] > 2 * self.maximum:
            self._entries[key] = (self.initial, now)
        else:
            self._entries[key] = (min(entry[0] * 2, self.maximum), now)

    def gc(self, now: float) -> None:
        """Drop entries idle for more than twice the maximum."""
        for key in [k for k, (_, t) in self._entries.items() if now - t > 2 * self.maximum]:
            del self._entries[key]


# -- helpers ---------------------------------------------------------------------------------

def _add_or_update_toleration(spec: dict, toleration: dict) -> None:
    """Upstream AddOrUpdateTolerationInPodSpec: a toleration equal in key, operator, value
    and effect is replaced, otherwise the new one is appended."""
    current = spec.get("tolerations") or []
    out: list[dict[str, Any]] = []
    updated = False
    for existing in current:
        if _same_toleration(existing, toleration):
            out.append(dict(toleration))
            updated = True
        else:
            out.append(existing)
    if not updated:
        out.append(dict(toleration))
    spec["tolerations"] = out


def _same_toleration(a: dict, b: dict) -> bool:
    return all((a.get(k) or "") == (b.get(k) or "") for k in ("key", "operator", "value",
                                                              "effect"))
