"""Job helpers shared by the Job, CronJob and TTL-after-finished controllers (pure logic).

Upstream's `pkg/controller/job` utilities, on plain dicts:
- conditions: a Job is finished once its `Complete` or `Failed` condition is True. Since 1.31
  the terminal condition is preceded by an interim one -- `SuccessCriteriaMet` before
  `Complete`, `FailureTarget` before `Failed` -- written as soon as the outcome is known, while
  pods may still be terminating; `set_condition` updates a condition in place and only moves
  lastTransitionTime when the status changes (upstream's ensureJobConditionStatus);
- completion indexes: `batch.kubernetes.io/job-completion-index` on pods (annotation, and the
  label of the same name), the interval string of `status.completedIndexes` ("0-2,4", ranges
  of three or more contiguous indexes collapse, two stay a list as upstream);
- pod failure backoff: a Job waits 10 s before recreating a pod after one failure, doubling per
  consecutive failure since the last success, capped at 6 minutes (upstream's
  DefaultJobPodFailureBackOff / MaxJobPodFailureBackOff);
- the new pod of a Job (`job_pod_mutator`): the job-tracking finalizer; for Indexed Jobs the
  index annotation and label, the JOB_COMPLETION_INDEX env var (a downward-API fieldRef to the
  annotation, as upstream) in every container and init container, the hostname
  `<job>-<index>` and the generateName `<job>-<index>-`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kubemu.cluster.api.objects import rfc3339

__all__ = ["JOB_TRACKING_FINALIZER", "COMPLETION_INDEX", "JOB_NAME_LABEL",
           "CONTROLLER_UID_LABEL", "INDEX_FAILURE_COUNT", "COMPLETE", "FAILED",
           "FAILURE_TARGET", "SUCCESS_CRITERIA_MET", "SUSPENDED", "is_job_finished",
           "finished_condition", "find_condition", "set_condition", "new_condition",
           "completion_index", "parse_indexes", "format_indexes", "backoff_delay",
           "job_pod_mutator", "has_tracking_finalizer", "is_indexed"]

JOB_TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
COMPLETE, FAILED = "Complete", "Failed"
FAILURE_TARGET, SUCCESS_CRITERIA_MET, SUSPENDED = "FailureTarget", "SuccessCriteriaMet", \
    "Suspended"
DEFAULT_BACKOFF = 10.0
MAX_BACKOFF = 360.0


def find_condition(job: dict, type_: str) -> dict | None:
    for cond in (job.get("status") or {}).get("conditions") or ():
        if cond.get("type") == type_:
            return cond
    return None


def finished_condition(job: dict) -> dict | None:
    """The True Complete or Failed condition, if the Job finished."""
    for cond in (job.get("status") or {}).get("conditions") or ():
        if cond.get("type") in (COMPLETE, FAILED) and cond.get("status") == "True":
            return cond
    return None


def is_job_finished(job: dict) -> bool:
    return finished_condition(job) is not None


def is_indexed(job: dict) -> bool:
    return (job.get("spec") or {}).get("completionMode") == "Indexed"


def new_condition(type_: str, reason: str, message: str, wall: float,
                  status: str = "True") -> dict:
    stamp = rfc3339(wall)
    return {"type": type_, "status": status, "lastProbeTime": stamp,
            "lastTransitionTime": stamp, "reason": reason, "message": message}


def set_condition(conditions: list[dict], type_: str, status: str, reason: str, message: str,
                  wall: float) -> bool:
    """Ensure `conditions` holds (type, status, reason, message); whether it changed. A
    condition that is absent and would be False is not added (upstream)."""
    for cond in conditions:
        if cond.get("type") != type_:
            continue
        if (cond.get("status"), cond.get("reason"), cond.get("message")) == (status, reason,
                                                                             message):
            return False
        stamp = rfc3339(wall)
        if cond.get("status") != status:
            cond["lastTransitionTime"] = stamp
        cond.update(status=status, reason=reason, message=message, lastProbeTime=stamp)
        return True
    if status == "False":
        return False
    conditions.append(new_condition(type_, reason, message, wall, status))
    return True


def completion_index(pod: dict, completions: int | None = None) -> int | None:
    """The pod's completion index from its annotation (label as fallback); None if absent,
    malformed or (with `completions`) out of range."""
    md = pod.get("metadata") or {}
    raw = (md.get("annotations") or {}).get(COMPLETION_INDEX)
    if raw is None:
        raw = (md.get("labels") or {}).get(COMPLETION_INDEX)
    if raw is None or not raw.isdigit():
        return None
    index = int(raw)
    if completions is not None and index >= completions:
        return None
    return index


def parse_indexes(text: str | None, completions: int | None = None) -> set[int]:
    """The indexes of an interval string "0-2,4" (out-of-range ones dropped)."""
    found: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi or lo)
        except ValueError:
            continue
        found.update(i for i in range(first, last + 1)
                     if completions is None or i < completions)
    return found


def format_indexes(indexes: Iterable[int]) -> str:
    """Upstream's interval format: "0-2,4,6,7" (ranges of three or more collapse)."""
    ordered = sorted(set(indexes))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{ordered[i]}-{ordered[j]}")
        else:
            parts.extend(str(x) for x in ordered[i:j + 1])
        i = j + 1
    return ",".join(parts)


def backoff_delay(failures: int) -> float:
    """Seconds to wait before creating a pod after `failures` consecutive failures."""
    if failures <= 0:
        return 0.0
    return min(DEFAULT_BACKOFF * 2 ** min(failures - 1, 30), MAX_BACKOFF)


def has_tracking_finalizer(pod: dict) -> bool:
    return JOB_TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or ())


def job_pod_mutator(job: dict, index: int | None, *,
                    failure_count: int | None = None) -> Callable[[dict], None]:
    """Adjust a pod made from the Job's template: finalizer, and the completion index."""
    name = (job.get("metadata") or {}).get("name") or ""

    def mutate(pod: dict) -> None:
        md = pod["metadata"]
        finalizers = md.setdefault("finalizers", [])
        if JOB_TRACKING_FINALIZER not in finalizers:
            finalizers.append(JOB_TRACKING_FINALIZER)
        if index is None:
            return
        md.setdefault("annotations", {})[COMPLETION_INDEX] = str(index)
        if failure_count is not None:
            md["annotations"][INDEX_FAILURE_COUNT] = str(failure_count)
        md.setdefault("labels", {})[COMPLETION_INDEX] = str(index)
        md["generateName"] = f"{name}-{index}-"
        spec = pod.setdefault("spec", {})
        if not spec.get("hostname"):
            spec["hostname"] = f"{name}-{index}"
        for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
            env = container.setdefault("env", [])
            if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in env):
                env.append({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                    "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}})

    return mutate
