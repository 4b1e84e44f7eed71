"""JobController: runs a batch/v1 Job's pods to completion (upstream's syncJob, v1.32).

Level-based on the shared Job and Pod informers; a pod event wakes its controlling Job. One
reconcile of a Job:
1. gone: drop its expectations and backoff record and release the finalizers of pods still
   naming it; finished (Complete/Failed True): release its pods' finalizers, nothing else;
2. claim the pods matching its selector (ownership.ControllerRefManager) and tally them
   (job_status.tally: active, ready, terminating, newly succeeded/failed pods);
3. decide whether the Job is finishing: an interim condition already written, a FailJob rule
   of podFailurePolicy, failures above backoffLimit (or OnFailure restarts reaching it), or
   activeDeadlineSeconds passed since startTime -> FailureTarget with upstream's reason;
   enough successes -> SuccessCriteriaMet (CompletionsReached). A failing Job deletes its
   active pods;
4. otherwise, with expectations satisfied, manage pods (job_manage.py): suspend deletes active
   pods (condition Suspended), resume resets startTime, else create up to
   min(parallelism, completions - succeeded) after the failure backoff, or delete a surplus;
5. write status (optimistic concurrency: a stale cache gets 409 and a retry): new finished pods
   go to uncountedTerminatedPods first, then their finalizers are removed, then they are
   counted. The terminal Complete / Failed condition (with completionTime, the Completed or
   the failure-reason Event) is added once nothing is uncounted and no pod is terminating.
Durations (deadline, backoff) run on the Kubernetes clock: the controller remembers when it
saw startTime set, back-dating a startTime it finds already set by the wall-time difference.
"""

from __future__ import annotations

import logging
from typing import Any

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.api.objects import deep_copy, parse_rfc3339, rfc3339
from kubemu.cluster.api.selectors import selector_from_dict
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.nodeutil import owned_runtime
from kubemu.cluster.controllers.events import NORMAL, WARNING, EventRecorder
from kubemu.cluster.controllers.expectations import ControllerExpectations
from kubemu.cluster.controllers.job_manage import JobPods
from kubemu.cluster.controllers.job_status import (
    past_backoff_limit_on_failure, tally, uid_of)
from kubemu.cluster.controllers.job_util import (
    COMPLETE, FAILED, FAILURE_TARGET, SUCCESS_CRITERIA_MET, find_condition,
    format_indexes, has_tracking_finalizer, is_indexed, is_job_finished, set_condition)
from kubemu.cluster.controllers.ownership import ControllerRefManager, controller_of
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.timing import Timing

__all__ = ["JobController", "CONTROLLER_NAME"]

CONTROLLER_NAME = "job-controller"
_API_VERSION, _KIND = "batch/v1", "Job"
_INTERIM = {FAILURE_TARGET: FAILED, SUCCESS_CRITERIA_MET: COMPLETE}

log = logging.getLogger("kubemu.controllers.job")


class JobController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, workers: int = 5) -> None:
        self.client = client
        self.timing = timing
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._own_recorder = recorder is None
        self.recorder = recorder if recorder is not None else EventRecorder(
            client, timing, component=CONTROLLER_NAME)
        self.expectations = ControllerExpectations(timing.clock)
        self.pods = JobPods(client, timing, self.recorder, self.expectations)
        self._started: dict[str, float] = {}  # job uid -> clock time of startTime
        self._released: dict[str, set[str]] = {}  # job key -> pod uids without finalizer
        self.job_informer = self.factory.informer(_API_VERSION, _KIND)
        self.pod_informer = self.factory.informer("v1", "Pod")
        self.controller = Controller("job", reconcile=self.reconcile, clock=timing.clock,
                                     workers=workers, sleep=timing.sleep)
        self.pod_informer.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.controller.watch(self.job_informer)
        self.controller.watch(self.pod_informer, map_to=self._pod_requests)

    async def run(self) -> None:
        """Reconcile Jobs until `stop()` (or cancellation)."""
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=self.recorder if self._own_recorder else None):
            await self.controller.run([self.job_informer, self.pod_informer])

    async def stop(self) -> None:
        await self.controller.stop()

    async def reconcile(self, request: Request) -> Result | None:
        key = request.key
        job = self.job_informer.lister.get(request.name, request.namespace or None)
        if job is None:
            self.expectations.delete(key)
            self.pods.forget(key)
            self._released.pop(key, None)
            await self._release_orphans(request)
            return None
        md = job.get("metadata") or {}
        if is_job_finished(job):
            self.pods.forget(key)
            await self._release_orphans(request, job=job)
            return None
        selector = selector_from_dict((job.get("spec") or {}).get("selector"))
        manager = ControllerRefManager(self.client, job, selector, api_version=_API_VERSION,
                                       kind=_KIND)
        pods = await manager.claim(self.pod_informer.lister.list(request.namespace))
        return await self._sync(key, deep_copy(job), pods, md)

    # -- one sync ----------------------------------------------------------------------------

    async def _sync(self, key: str, job: dict, pods: list[dict], md: dict) -> Result | None:
        spec = job.get("spec") or {}
        status = job.setdefault("status", {})
        stored = deep_copy(status)
        now, wall = self.timing.clock.now(), self.timing.wall()
        released = self._released.setdefault(key, set())
        t = tally(job, pods, released)
        if t.new_succeeded:
            self.pods.succeeded(key)
        if t.new_failed:
            self.pods.failed(key, [uid_of(p) for p in t.new_failed], now)
        suspended = bool(spec.get("suspend"))
        if not status.get("startTime") and not suspended:
            status["startTime"] = rfc3339(wall)
            self._started[md.get("uid", "")] = now
        requeue: float | None = None
        finishing = self._finishing(job, t, pods, now)
        if finishing is None and spec.get("activeDeadlineSeconds") is not None \
                and not suspended and status.get("startTime"):
            requeue = max(0.0, self._start(job, now) + spec["activeDeadlineSeconds"] - now)
        error: BaseException | None = None
        active, terminating = len(t.active), t.terminating
        satisfied = self.expectations.satisfied(key)
        if finishing is not None:
            deleted, ready_deleted, error = await self.pods.delete_active(key, job, t.active)
            active -= deleted
            terminating += deleted
            t.ready -= ready_deleted
        else:
            managed = False
            if satisfied and not md.get("deletionTimestamp"):
                outcome = await self.pods.manage(key, job, t)
                managed, error = True, outcome.error
                active, terminating = outcome.active, terminating + outcome.deleted
                if outcome.requeue is not None:
                    requeue = outcome.requeue if requeue is None else min(requeue,
                                                                          outcome.requeue)
            completions = spec.get("completions")
            done = t.succeeded > 0 if completions is None else t.succeeded >= completions
            if done and active == 0:
                finishing = (SUCCESS_CRITERIA_MET, "CompletionsReached",
                             "Reached expected number of succeeded pods")
            elif managed:
                self._suspension(job, suspended, now, wall)
        conditions = status.setdefault("conditions", [])
        if finishing is not None:
            set_condition(conditions, *finishing[:1], "True", finishing[1], finishing[2], wall)
        status["active"], status["ready"], status["terminating"] = active, t.ready, terminating
        # step 1: record newly finished pods as uncounted before releasing them
        new_s = [uid_of(p) for p in t.new_succeeded]
        new_f = [uid_of(p) for p in t.new_failed]
        status["uncountedTerminatedPods"] = _uncounted(t.uncounted_succeeded + new_s,
                                                       t.uncounted_failed + new_f)
        if new_s or new_f:
            written = await self._write_status(job)
            if written is None:
                return None
            job, stored = written, deep_copy(written.get("status") or {})
        # step 2: remove finalizers of every finished pod we hold
        holding = {uid_of(p): p for p in pods if has_tracking_finalizer(p)}
        to_release = [p for uid, p in holding.items()
                      if uid in set(t.uncounted_succeeded + new_s + t.uncounted_failed + new_f)]
        to_release += t.release_only
        gone = await self.pods.release_finalizers(to_release)
        released.update(gone)
        # step 3: flush the released ones into the counters
        status = job.setdefault("status", {})
        unc = status.get("uncountedTerminatedPods") or {}
        flushed_s = [u for u in unc.get("succeeded") or () if u in released or u not in holding]
        flushed_f = [u for u in unc.get("failed") or () if u in released or u not in holding]
        if is_indexed(job):
            indexes = t.completed_indexes
            status["completedIndexes"] = format_indexes(indexes)
            status["succeeded"] = len(indexes)
        else:
            status["succeeded"] = int(status.get("succeeded") or 0) + len(flushed_s)
        status["failed"] = int(status.get("failed") or 0) + len(flushed_f)
        left_s = [u for u in unc.get("succeeded") or () if u not in flushed_s]
        left_f = [u for u in unc.get("failed") or () if u not in flushed_f]
        status["uncountedTerminatedPods"] = _uncounted(left_s, left_f)
        for name in ("active", "succeeded", "failed"):
            if not status.get(name):
                status.pop(name, None)
        finished_event = None
        if finishing is not None and not left_s and not left_f and terminating == 0 \
                and active == 0 and self.expectations.satisfied(key):
            final = _INTERIM[finishing[0]]
            set_condition(status.setdefault("conditions", []), final, "True", finishing[1],
                          finishing[2], wall)
            if final == COMPLETE:
                status["completionTime"] = rfc3339(wall)
                finished_event = (NORMAL, "Completed", "Job completed")
            else:
                finished_event = (WARNING, finishing[1], finishing[2])
        if not status.get("conditions"):
            status.pop("conditions", None)
        if status != stored:
            written = await self._write_status(job)
            if written is None:
                return None
            job = written
        if finished_event is not None:
            self.recorder.record(job, *finished_event)
            self.pods.forget(key)
            return None
        if error is not None:
            raise error
        return Result(requeue_after=requeue) if requeue is not None else None

    def _finishing(self, job: dict, t: Any, pods: list[dict],
                   now: float) -> tuple[str, str, str] | None:
        """The interim condition (type, reason, message) if the Job is finishing."""
        spec = job.get("spec") or {}
        for type_ in (SUCCESS_CRITERIA_MET, FAILURE_TARGET):
            cond = find_condition(job, type_)
            if cond is not None and cond.get("status") == "True":
                return type_, cond.get("reason") or "", cond.get("message") or ""
        if t.fail_job_message is not None:
            return FAILURE_TARGET, "PodFailurePolicy", t.fail_job_message
        if t.failed > int(spec.get("backoffLimit") or 0) \
                or past_backoff_limit_on_failure(job, pods):
            return (FAILURE_TARGET, "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit")
        deadline = spec.get("activeDeadlineSeconds")
        if deadline is not None and not spec.get("suspend") \
                and (job.get("status") or {}).get("startTime") \
                and now - self._start(job, now) >= deadline:
            return (FAILURE_TARGET, "DeadlineExceeded",
                    "Job was active longer than specified deadline")
        return None

    def _suspension(self, job: dict, suspended: bool, now: float, wall: float) -> None:
        status = job["status"]
        conditions = status.setdefault("conditions", [])
        if suspended:
            if set_condition(conditions, "Suspended", "True", "JobSuspended", "Job suspended",
                             wall):
                self.recorder.record(job, NORMAL, "Suspended", "Job suspended")
        elif set_condition(conditions, "Suspended", "False", "JobResumed", "Job resumed", wall):
            self.recorder.record(job, NORMAL, "Resumed", "Job resumed")
            status["startTime"] = rfc3339(wall)  # the deadline counts from the resume
            self._started[(job.get("metadata") or {}).get("uid", "")] = now

    def _start(self, job: dict, now: float) -> float:
        """The clock time of the Job's startTime (back-dated when first seen)."""
        uid = (job.get("metadata") or {}).get("uid", "")
        if uid not in self._started:
            stamp = parse_rfc3339((job.get("status") or {})["startTime"])
            self._started[uid] = now - max(0.0, self.timing.wall() - stamp) * self.timing.scale
        return self._started[uid]

    async def _write_status(self, job: dict) -> dict | None:
        """PUT the status (resourceVersion-checked); the stored Job, or None if gone."""
        try:
            return await self.client.update(job, subresource="status")
        except NotFound:
            return None

    async def _release_orphans(self, request: Request, *, job: dict | None = None) -> None:
        """Remove the finalizer from pods of a gone (or finished) Job."""
        uid = ((job or {}).get("metadata") or {}).get("uid")
        orphans = []
        for pod in self.pod_informer.lister.list(request.namespace):
            ref = controller_of(pod)
            if ref is None or ref.get("kind") != _KIND or ref.get("name") != request.name:
                continue
            if has_tracking_finalizer(pod) and (uid is None or ref.get("uid") == uid):
                orphans.append(pod)
        await self.pods.release_finalizers(orphans)

    # -- pod events --------------------------------------------------------------------------

    def _pod_requests(self, pod: dict) -> list[Request]:
        ref = controller_of(pod)
        if ref is not None and ref.get("kind") == _KIND \
                and (ref.get("apiVersion") or "").startswith("batch/"):
            return [Request((pod.get("metadata") or {}).get("namespace") or "",
                            ref.get("name") or "")]
        return []

    def _pod_added(self, pod: dict) -> None:
        key = self._job_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)

    def _pod_updated(self, old: dict, new: dict) -> None:
        if (new.get("metadata") or {}).get("deletionTimestamp"):
            key = self._job_key(new)
            if key is not None:
                self.expectations.deletion_observed(key, _pod_key(new))
        if not has_tracking_finalizer(new):
            self._cache_caught_up(new)

    def _pod_deleted(self, pod: dict) -> None:
        key = self._job_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, _pod_key(pod))
        self._cache_caught_up(pod)

    def _cache_caught_up(self, pod: dict) -> None:
        key = self._job_key(pod)
        if key is not None and key in self._released:
            self._released[key].discard(uid_of(pod))

    def _job_key(self, pod: dict) -> str | None:
        requests = self._pod_requests(pod)
        return requests[0].key if requests else None


def _uncounted(succeeded: list[str], failed: list[str]) -> dict:
    out: dict = {}
    if succeeded:
        out["succeeded"] = succeeded
    if failed:
        out["failed"] = failed
    return out


def _pod_key(pod: dict) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace') or ''}/{md.get('name') or ''}"
