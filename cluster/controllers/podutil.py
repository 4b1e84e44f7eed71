"""Pod helpers every workload controller shares: active, ready, available, deletion ranking.

Upstream's `controller.IsPodActive`, `podutil.IsPodReady`, `podutil.IsPodAvailable` and
`controller.ActivePodsWithRanks`:
- active: not Succeeded or Failed and no deletionTimestamp (a terminating pod is on its way out
  and never counts toward replicas);
- ready: the pod's `Ready` condition is True;
- available: ready for at least minReadySeconds. Durations are measured against the
  Kubernetes clock, never against stored timestamps, so `--time-scale` and virtual time work:
  a `ReadyTracker` remembers, by `timing.clock`, when each pod was first seen Ready (a pod first
  seen already Ready -- a controller restart -- is back-dated from its condition's
  lastTransitionTime, scaled);
- deletion ranking (scale down removes the least valuable pods first): unassigned < assigned;
  Pending < Unknown < Running; not ready < ready; lower pod-deletion-cost first; more related
  pods on the same node first; ready for less time first; more container restarts first (then
  sidecar restarts); newer first. Upstream's LogarithmicScaleDown bucketing is not emulated:
  ready and creation times compare exactly.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubemu.cluster.api.objects import parse_rfc3339
from kubemu.cluster.timing import Timing

__all__ = ["POD_DELETION_COST", "is_pod_active", "is_pod_terminal", "is_pod_ready",
           "pod_ready_condition", "is_pod_available", "available_in", "filter_active_pods",
           "max_container_restarts", "deletion_cost", "rank_pods_for_deletion",
           "pods_to_delete", "pod_key", "ReadyTracker"]

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def pod_key(pod: dict) -> str:
    """`namespace/name` (upstream's controller.PodKey)."""
    md = pod.get("metadata") or {}
    return f"{md.get('namespace') or ''}/{md.get('name') or ''}"


def is_pod_terminal(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_pod_active(pod: dict) -> bool:
    """Not terminal and not being deleted."""
    return not is_pod_terminal(pod) and not (pod.get("metadata") or {}).get(
        "deletionTimestamp")


def filter_active_pods(pods: Iterable[dict]) -> list[dict]:
    return [p for p in pods if is_pod_active(p)]


def pod_ready_condition(pod: dict) -> dict | None:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return cond
    return None


def is_pod_ready(pod: dict) -> bool:
    cond = pod_ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def is_pod_available(pod: dict, min_ready_seconds: float, now: float, *,
                     ready_since: float | None = None) -> bool:
    """Ready for at least `min_ready_seconds` at `now`. `now` and `ready_since` share one
    time base: pass a `ReadyTracker`'s `ready_since` and `timing.clock.now()`; without
    `ready_since` the Ready condition's lastTransitionTime is used and `now` must be epoch
    seconds (upstream's form)."""
    return available_in(pod, min_ready_seconds, now, ready_since=ready_since) == 0.0


def available_in(pod: dict, min_ready_seconds: float, now: float, *,
                 ready_since: float | None = None) -> float | None:
    """Seconds until the pod becomes available: 0.0 if it is, None if it is not ready."""
    if not is_pod_ready(pod):
        return None
    if min_ready_seconds <= 0:
        return 0.0
    since = ready_since if ready_since is not None else _ready_transition(pod)
    if since is None:
        return float(min_ready_seconds)
    return max(0.0, since + min_ready_seconds - now)


def max_container_restarts(pod: dict) -> tuple[int, int]:
    """(highest restartCount of a regular container, highest of a sidecar)."""
    status = pod.get("status") or {}
    regular = max((int(c.get("restartCount") or 0)
                   for c in status.get("containerStatuses") or ()), default=0)
    sidecars = {c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or ()
                if c.get("restartPolicy") == "Always"}
    sidecar = max((int(c.get("restartCount") or 0)
                   for c in status.get("initContainerStatuses") or ()
                   if c.get("name") in sidecars), default=0)
    return regular, sidecar


def deletion_cost(pod: dict) -> int:
    """The `controller.kubernetes.io/pod-deletion-cost` annotation (0 if unset or bad)."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def rank_pods_for_deletion(pods: Iterable[dict],
                           related: Iterable[dict] = ()) -> list[dict]:
    """`pods` ordered so the first ones are deleted first; `related` are the pods whose
    count per node ranks co-located pods (this ReplicaSet's and its siblings')."""
    per_node: dict[str, int] = {}
    for pod in related:
        if is_pod_active(pod):
            node = (pod.get("spec") or {}).get("nodeName") or ""
            per_node[node] = per_node.get(node, 0) + 1
    return sorted(pods, key=lambda p: _deletion_key(p, per_node))


def pods_to_delete(pods: list[dict], related: Iterable[dict], count: int) -> list[dict]:
    """The `count` pods a scale down removes (upstream's getPodsToDelete)."""
    if count < len(pods):
        pods = rank_pods_for_deletion(pods, related)
    return pods[:count]


class ReadyTracker:
    """When each pod (by uid) was first seen Ready, in `timing.clock` seconds.

    Feed it every pod the informer reports (`observe`) and `forget` deleted ones; a pod that
    turns unready loses its time and gets a new one when it is Ready again."""

    def __init__(self, timing: Timing) -> None:
        self._timing = timing
        self._since: dict[str, float | None] = {}  # uid -> ready since (None: seen unready)

    def observe(self, pod: dict) -> float | None:
        """Record the pod's readiness now; when it has been Ready since (None: unready)."""
        uid = (pod.get("metadata") or {}).get("uid") or pod_key(pod)
        if not is_pod_ready(pod):
            self._since[uid] = None
            return None
        if uid in self._since and self._since[uid] is not None:
            return self._since[uid]
        now = self._timing.clock.now()
        since = now
        if uid not in self._since:  # first sight, already ready: back-date by the condition
            stamp = _ready_transition(pod)
            if stamp is not None:
                since = now - max(0.0, self._timing.wall() - stamp) * self._timing.scale
        self._since[uid] = since
        return since

    def ready_since(self, pod: dict) -> float | None:
        """When the pod has been Ready since (observing it if it is new to the tracker)."""
        uid = (pod.get("metadata") or {}).get("uid") or pod_key(pod)
        since = self._since.get(uid)
        if since is None or not is_pod_ready(pod):
            return self.observe(pod)
        return since

    def forget(self, pod: dict) -> None:
        self._since.pop((pod.get("metadata") or {}).get("uid") or pod_key(pod), None)

    def __len__(self) -> int:
        return len(self._since)


# -- helpers ---------------------------------------------------------------------------------

def _ready_transition(pod: dict) -> float | None:
    cond = pod_ready_condition(pod)
    return _parse(cond.get("lastTransitionTime") if cond else None)


def _timestamp_key(stamp: float | None) -> tuple[int, float]:
    """Zero (unknown) first, then later first (upstream's afterOrZero)."""
    return (0, 0.0) if stamp is None else (1, -stamp)


def _deletion_key(pod: dict, per_node: dict[str, int]) -> tuple:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    node = spec.get("nodeName") or ""
    ready = is_pod_ready(pod)
    regular, sidecar = max_container_restarts(pod)
    created = (pod.get("metadata") or {}).get("creationTimestamp")
    return (bool(node), _PHASE_ORDINAL.get(status.get("phase") or "", 0), ready,
            deletion_cost(pod), -per_node.get(node, 0),
            _timestamp_key(_ready_transition(pod)) if ready else (0, 0.0),
            -regular, -sidecar, _timestamp_key(_parse(created)))


def _parse(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return parse_rfc3339(stamp)
    except ValueError:
        return None
