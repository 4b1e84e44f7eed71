"""Job status accounting: which pods are newly finished, and the counts they make.

Upstream's finalizer-based tracking (`trackJobStatusAndRemoveFinalizers`). Every Job pod is
created with the `batch.kubernetes.io/job-tracking` finalizer, so it cannot vanish before the
Job controller counted it. A finished pod still holding the finalizer is *new*: succeeded
(phase Succeeded), or failed (phase Failed; with podReplacementPolicy TerminatingOrFailed
also any pod being deleted before it succeeded, so orphans count). New pods first go into
`status.uncountedTerminatedPods` (written to the API), then their finalizers are removed, then
they are flushed from the uncounted lists into `succeeded` / `failed` (and, for Indexed Jobs,
`completedIndexes`). A crash between steps never loses or double-counts a pod: uncounted uids
are not new again, and a pod without the finalizer is never new.

`tally` is pure: it takes the claimed pods, the Job, and the uids whose finalizer the
controller removed but whose update the cache has not shown yet, and answers a `Tally`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubemu.cluster.controllers.job_podfailure import match_pod_failure_policy
from kubemu.cluster.controllers.job_util import (
    completion_index, has_tracking_finalizer, is_indexed, parse_indexes)
from kubemu.cluster.controllers.podutil import is_pod_active, is_pod_ready

__all__ = ["Tally", "tally", "is_pod_failed", "uid_of", "past_backoff_limit_on_failure"]


@dataclass
class Tally:
    active: list[dict] = field(default_factory=list)
    terminating: int = 0
    ready: int = 0
    new_succeeded: list[dict] = field(default_factory=list)  # counted on flush
    new_failed: list[dict] = field(default_factory=list)  # counted toward backoffLimit
    release_only: list[dict] = field(default_factory=list)  # finalizer removed, not counted
    uncounted_succeeded: list[str] = field(default_factory=list)
    uncounted_failed: list[str] = field(default_factory=list)
    succeeded: int = 0  # all successes, counted or about to be
    failed: int = 0
    completed_indexes: set[int] = field(default_factory=set)
    fail_job_message: str | None = None
    index_of: dict[str, int] = field(default_factory=dict)  # uid -> completion index


def uid_of(pod: dict) -> str:
    return (pod.get("metadata") or {}).get("uid") or ""


def is_pod_failed(pod: dict, job: dict) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Failed":
        return True
    only_failed = (job.get("spec") or {}).get("podReplacementPolicy") == "Failed"
    return (not only_failed and phase != "Succeeded"
            and bool((pod.get("metadata") or {}).get("deletionTimestamp")))


def tally(job: dict, pods: list[dict], released: set[str]) -> Tally:
    """Count the Job's pods; `released`: uids whose finalizer is already removed."""
    spec, status = job.get("spec") or {}, job.get("status") or {}
    uncounted = status.get("uncountedTerminatedPods") or {}
    t = Tally(uncounted_succeeded=list(uncounted.get("succeeded") or ()),
              uncounted_failed=list(uncounted.get("failed") or ()))
    seen = set(t.uncounted_succeeded) | set(t.uncounted_failed) | released
    indexed = is_indexed(job)
    completions = spec.get("completions")
    if indexed:
        t.completed_indexes = parse_indexes(status.get("completedIndexes"), completions)
    policy = spec.get("podFailurePolicy")
    for pod in pods:
        uid = uid_of(pod)
        index = completion_index(pod, completions) if indexed else None
        if index is not None:
            t.index_of[uid] = index
        if is_pod_active(pod):
            t.active.append(pod)
            t.ready += is_pod_ready(pod)
            continue
        phase = (pod.get("status") or {}).get("phase")
        if phase not in ("Succeeded", "Failed"):
            t.terminating += 1
        if uid in t.uncounted_succeeded and index is not None:
            t.completed_indexes.add(index)
        if not has_tracking_finalizer(pod) or uid in seen:
            continue
        if phase == "Succeeded":
            if indexed and (index is None or index in t.completed_indexes):
                t.release_only.append(pod)  # a duplicate or stray index: not counted
                continue
            if index is not None:
                t.completed_indexes.add(index)
            t.new_succeeded.append(pod)
        elif is_pod_failed(pod, job):
            match = match_pod_failure_policy(policy, pod) if policy else None
            if match is not None and match.action == "FailJob" and t.fail_job_message is None:
                t.fail_job_message = match.message
            if match is None or match.counts:
                t.new_failed.append(pod)
            else:
                t.release_only.append(pod)
    if indexed:
        t.succeeded = len(t.completed_indexes)
    else:
        t.succeeded = (int(status.get("succeeded") or 0) + len(t.uncounted_succeeded)
                       + len(t.new_succeeded))
    t.failed = int(status.get("failed") or 0) + len(t.uncounted_failed) + len(t.new_failed)
    return t


def past_backoff_limit_on_failure(job: dict, pods: list[dict]) -> bool:
    """restartPolicy OnFailure: container restarts of active pods reached backoffLimit."""
    spec = job.get("spec") or {}
    if ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = 0
    for pod in pods:
        if not is_pod_active(pod):
            continue
        status = pod.get("status") or {}
        for cs in [*(status.get("initContainerStatuses") or ()),
                   *(status.get("containerStatuses") or ())]:
            restarts += int(cs.get("restartCount") or 0)
    limit = int(spec.get("backoffLimit") or 0)
    return restarts > 0 if limit == 0 else restarts >= limit
