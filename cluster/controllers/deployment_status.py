"""Deployment status: the counters and the Available / Progressing / ReplicaFailure conditions.

Upstream's `calculateStatus`, `syncRolloutStatus` and the condition helpers of
`deployment/util`, as pure functions over dicts:
- counters come from the ReplicaSets: `replicas` (their actual pods), `updatedReplicas` (the
  new RS's), ready and available sums, `unavailableReplicas` = desired pods - available;
  `observedGeneration` is the Deployment's generation. Zero counters are omitted, as in
  upstream's JSON (`omitempty`), so an unchanged status compares equal and is not rewritten;
- Available is True (MinimumReplicasAvailable) while available >= replicas - maxUnavailable;
- Progressing follows the rollout: NewReplicaSetAvailable once complete, ReplicaSetUpdated
  (lastUpdateTime refreshed, lastTransitionTime kept) whenever the counters show progress,
  ProgressDeadlineExceeded once no progress was seen for progressDeadlineSeconds.
  A condition is replaced only when its status or reason changes; lastTransitionTime moves
  only when its status does.
Time: timestamps written into conditions are wall-clock RFC 3339 strings passed in by the
caller; how long the Deployment has gone without progress is `elapsed` Kubernetes seconds,
measured by the caller against its clock, never computed from the stored timestamps.
"""

from __future__ import annotations

from kubemu.cluster.clock import Clock
from kubemu.cluster.controllers.deployment_util import (
    actual_replicas_sum,
    available_replicas_sum,
    max_unavailable,
    ready_replicas_sum,
    replicas,
    spec_replicas_sum,
    uid,
)

__all__ = [
    "AVAILABLE", "PROGRESSING", "REPLICA_FAILURE", "NEW_RS_REASON", "FOUND_NEW_RS_REASON",
    "RS_UPDATED_REASON", "NEW_RS_AVAILABLE_REASON", "TIMED_OUT_REASON", "PAUSED_REASON",
    "RESUMED_REASON", "MIN_AVAILABLE_REASON", "MIN_UNAVAILABLE_REASON",
    "FAILED_RS_CREATE_REASON", "new_condition", "get_condition", "set_condition",
    "remove_condition", "has_progress_deadline", "calculate_status", "deployment_complete",
    "deployment_progressing", "rollout_status", "paused_conditions", "stuck_requeue_after",
    "ProgressClock",
]

AVAILABLE = "Available"
PROGRESSING = "Progressing"
REPLICA_FAILURE = "ReplicaFailure"

NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"
MIN_AVAILABLE_REASON = "MinimumReplicasAvailable"
MIN_UNAVAILABLE_REASON = "MinimumReplicasUnavailable"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"

_MAX_INT32 = 2**31 - 1
_COUNTERS = ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
             "availableReplicas", "unavailableReplicas")


def new_condition(type_: str, status: str, reason: str, message: str, now: str) -> dict:
    return {"type": type_, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def get_condition(status: dict | None, type_: str) -> dict | None:
    for cond in (status or {}).get("conditions") or ():
        if cond.get("type") == type_:
            return cond
    return None


def set_condition(status: dict, condition: dict) -> None:
    """Put `condition` in place of its type's (a no-op when status and reason are the same;
    lastTransitionTime kept when only the reason changes)."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"]:
        if current.get("reason") == condition["reason"]:
            return
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, condition["type"])
    status.setdefault("conditions", []).append(condition)


def remove_condition(status: dict, type_: str) -> None:
    kept = [c for c in status.get("conditions") or () if c.get("type") != type_]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


def has_progress_deadline(deployment: dict) -> bool:
    deadline = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
    return deadline is not None and deadline != _MAX_INT32


def calculate_status(deployment: dict, all_rss: list[dict | None], new_rs: dict | None,
                     now: str) -> dict:
    """The status the ReplicaSets imply (conditions other than Available carried over)."""
    old = deployment.get("status") or {}
    available = available_replicas_sum(all_rss)
    status = {
        "observedGeneration": int((deployment.get("metadata") or {}).get("generation") or 0),
        "replicas": actual_replicas_sum(all_rss),
        "updatedReplicas": actual_replicas_sum([new_rs]),
        "readyReplicas": ready_replicas_sum(all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(0, spec_replicas_sum(all_rss) - available),
    }
    status = {k: v for k, v in status.items() if v}
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = [dict(c) for c in old["conditions"]]
    if available >= replicas(deployment) - max_unavailable(deployment):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE_REASON,
                                            "Deployment has minimum availability.", now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE_REASON,
                                            "Deployment does not have minimum availability.",
                                            now))
    return status


def deployment_complete(deployment: dict, status: dict) -> bool:
    """Every desired replica is updated and available, and the spec is observed."""
    want = replicas(deployment)
    return (status.get("updatedReplicas", 0) == want and status.get("replicas", 0) == want
            and status.get("availableReplicas", 0) == want
            and status.get("observedGeneration", 0)
            >= int((deployment.get("metadata") or {}).get("generation") or 0))


def deployment_progressing(deployment: dict, new_status: dict) -> bool:
    """The counters moved forward since the stored status."""
    old = deployment.get("status") or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = new_status.get("replicas", 0) - new_status.get("updatedReplicas", 0)
    return (new_status.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
            or new_old < old_old
            or new_status.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or new_status.get("availableReplicas", 0) > old.get("availableReplicas", 0))


def rollout_status(deployment: dict, all_rss: list[dict | None], new_rs: dict | None, *,
                   now: str, elapsed: float) -> tuple[dict, bool]:
    """The status after a rollout step (upstream's syncRolloutStatus) and whether the
    Progressing condition was set afresh. `elapsed`: Kubernetes seconds since the stored
    Progressing condition was last updated."""
    status = calculate_status(deployment, all_rss, new_rs, now)
    touched = False
    if not has_progress_deadline(deployment):
        remove_condition(status, PROGRESSING)
    current = get_condition(deployment.get("status"), PROGRESSING)
    complete_before = (status.get("replicas", 0) == status.get("updatedReplicas", 0)
                       and current is not None
                       and current.get("reason") == NEW_RS_AVAILABLE_REASON)
    name = (deployment.get("metadata") or {}).get("name", "")
    subject = (f'ReplicaSet "{new_rs["metadata"]["name"]}"' if new_rs is not None
               else f'Deployment "{name}"')
    if has_progress_deadline(deployment) and not complete_before:
        if deployment_complete(deployment, status):
            cond = new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE_REASON,
                                 f"{subject} has successfully progressed.", now)
            touched = _sets(status, cond)
        elif deployment_progressing(deployment, status):
            cond = new_condition(PROGRESSING, "True", RS_UPDATED_REASON,
                                 f"{subject} is progressing.", now)
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(status, PROGRESSING)
            set_condition(status, cond)
            touched = True
        elif _timed_out(deployment, status, elapsed):
            cond = new_condition(PROGRESSING, "False", TIMED_OUT_REASON,
                                 f"{subject} has timed out progressing.", now)
            touched = _sets(status, cond)
    failures = _replica_failures(all_rss, new_rs)
    if failures:
        set_condition(status, failures[0])
    else:
        remove_condition(status, REPLICA_FAILURE)
    return status, touched


def paused_conditions(deployment: dict, now: str) -> bool:
    """Mark Progressing Unknown with DeploymentPaused / DeploymentResumed when the pause
    changed (upstream's checkPausedConditions); whether the status changed."""
    if not has_progress_deadline(deployment):
        return False
    status = deployment.setdefault("status", {})
    current = get_condition(status, PROGRESSING)
    if current is not None and current.get("reason") == TIMED_OUT_REASON:
        return False  # a reported lack of progress is not overwritten
    paused = bool((deployment.get("spec") or {}).get("paused"))
    marked = current is not None and current.get("reason") == PAUSED_REASON
    if paused and not marked:
        set_condition(status, new_condition(PROGRESSING, "Unknown", PAUSED_REASON,
                                            "Deployment is paused", now))
        return True
    if not paused and marked:
        set_condition(status, new_condition(PROGRESSING, "Unknown", RESUMED_REASON,
                                            "Deployment is resumed", now))
        return True
    return False


def stuck_requeue_after(deployment: dict, new_status: dict, elapsed: float) -> float | None:
    """When to look again for a progress deadline that may pass with nothing else happening
    (upstream's requeueStuckDeployment): the time left, or None."""
    current = get_condition(deployment.get("status"), PROGRESSING)
    if not has_progress_deadline(deployment) or current is None:
        return None
    if deployment_complete(deployment, new_status) or current.get("reason") == TIMED_OUT_REASON:
        return None
    deadline = float(deployment["spec"]["progressDeadlineSeconds"])
    return max(0.0, deadline - elapsed)


class ProgressClock:
    """When each Deployment's Progressing condition was last updated, on the Kubernetes
    clock: set by `touch` when the controller writes the condition, or at the first sight of
    a lastUpdateTime it did not write (after a restart the deadline starts afresh)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._seen: dict[str, tuple[str, float]] = {}  # uid -> (lastUpdateTime, clock time)

    def touch(self, deployment: dict) -> None:
        """The Progressing condition was just set: its deadline starts now."""
        cond = get_condition(deployment.get("status"), PROGRESSING)
        if cond is not None:
            self._seen[uid(deployment)] = (cond.get("lastUpdateTime") or "", self._clock.now())

    def elapsed(self, deployment: dict, cond: dict | None) -> float:
        """Seconds since `cond` (the stored Progressing condition) was updated."""
        if cond is None:
            return 0.0
        stamp, now = cond.get("lastUpdateTime") or "", self._clock.now()
        seen = self._seen.get(uid(deployment))
        if seen is None or seen[0] != stamp:
            self._seen[uid(deployment)] = (stamp, now)
            return 0.0
        return now - seen[1]

    def forget(self, deployment: dict) -> None:
        self._seen.pop(uid(deployment), None)


# -- helpers ---------------------------------------------------------------------------------

def _sets(status: dict, condition: dict) -> bool:
    before = get_condition(status, condition["type"])
    set_condition(status, condition)
    return get_condition(status, condition["type"]) is not before


def _timed_out(deployment: dict, status: dict, elapsed: float) -> bool:
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if cond.get("reason") == TIMED_OUT_REASON:
        return True
    return elapsed >= float(deployment["spec"]["progressDeadlineSeconds"])


def _replica_failures(all_rss: list[dict | None], new_rs: dict | None) -> list[dict]:
    """ReplicaFailure conditions of the new RS, else of any RS, as Deployment conditions."""
    for group in ([new_rs], all_rss):
        found = [{"type": REPLICA_FAILURE, "status": c.get("status"),
                  "lastUpdateTime": c.get("lastTransitionTime"),
                  "lastTransitionTime": c.get("lastTransitionTime"),
                  "reason": c.get("reason"), "message": c.get("message")}
                 for rs in group if rs is not None
                 for c in (rs.get("status") or {}).get("conditions") or ()
                 if c.get("type") == REPLICA_FAILURE]
        if found:
            return found
    return []
