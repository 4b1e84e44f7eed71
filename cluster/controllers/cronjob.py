"""CronJobController: starts Jobs on a cron schedule (upstream's cronjob_controllerv2, 1.32).

Level-based on the shared CronJob and Job informers; a Job event wakes its controlling CronJob.
One reconcile of a CronJob:
1. reconcile `status.active` with its Jobs: a finished one leaves it (SawCompletedJob; a
   Complete one moves lastSuccessfulTime up to its completionTime), an unfinished Job it does
   not list is reported (UnexpectedJob, after a fresh read of the CronJob), a listed Job that
   the API server no longer has leaves it (MissingJob);
2. unless deleted or suspended: find the most recent unmet schedule time (cronjob_util);
   more than 100 missed -> Warning TooManyMissedTimes; older than startingDeadlineSeconds ->
   Warning MissSchedule; already started (named in active, or equal to lastScheduleTime) ->
   nothing; Forbid with an active Job -> JobAlreadyActive; Replace -> delete the active Jobs
   (Background propagation) first; then create `<name>-<minutes since epoch>` from the
   jobTemplate (AlreadyExists means a previous sync made it) and record it in active and
   lastScheduleTime;
3. delete finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit, oldest
   start first (SuccessfulDelete "Deleted job <name>");
4. write status (resourceVersion-checked) and requeue at the next schedule time + 100 ms.

Cron time: schedules are wall-clock cron expressions, yet they must follow --time-scale. The
controller's cron clock is `epoch0 + (clock.now() - clock0)`, taken when it first reads the
time: it starts at the wall time and then advances at Kubernetes-clock speed, so under
--time-scale 60 an every-minute CronJob fires once per real second, and requeue delays (cron
seconds) are Kubernetes seconds. lastScheduleTime and the scheduled-timestamp annotation are
cron times. A restarted controller restarts its cron clock at the wall time; under a time
scale it then waits until cron time passes the stored lastScheduleTime (a kubemu
simplification; unscaled clusters are unaffected).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from kubemu.cluster.api.errors import AlreadyExists, ApiError, NotFound
from kubemu.cluster.api.objects import deep_copy, parse_rfc3339, rfc3339
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.cronjob_util import (
    MANY_MISSED, Schedule, job_from_template, job_name, most_recent_schedule,
    next_schedule_after, parse_schedule)
from kubemu.cluster.controllers.nodeutil import owned_runtime
from kubemu.cluster.controllers.events import NORMAL, WARNING, EventRecorder
from kubemu.cluster.controllers.job_util import COMPLETE, finished_condition
from kubemu.cluster.controllers.ownership import is_controlled_by
from kubemu.cluster.controllers.podcontrol import is_namespace_terminating
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller, owner_requests
from kubemu.cluster.timing import Timing

__all__ = ["CronJobController", "CONTROLLER_NAME", "NEXT_SCHEDULE_DELTA"]

CONTROLLER_NAME = "cronjob-controller"
NEXT_SCHEDULE_DELTA = 0.1
_API_VERSION, _KIND = "batch/v1", "CronJob"

log = logging.getLogger("kubemu.controllers.cronjob")


class CronJobController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, workers: int = 5) -> None:
        self.client = client
        self.timing = timing
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._own_recorder = recorder is None
        self.recorder = recorder if recorder is not None else EventRecorder(
            client, timing, component=CONTROLLER_NAME)
        self._origin: tuple[float, float] | None = None  # (epoch0, clock0)
        self.cronjob_informer = self.factory.informer(_API_VERSION, _KIND)
        self.job_informer = self.factory.informer(_API_VERSION, "Job")
        self.controller = Controller("cronjob", reconcile=self.reconcile, clock=timing.clock,
                                     workers=workers, sleep=timing.sleep)
        self.controller.watch(self.cronjob_informer)
        self.controller.watch(self.job_informer,
                              map_to=owner_requests(_KIND, api_version=_API_VERSION))

    def cron_now(self) -> float:
        """Cron time: the wall time at the first call, then advancing with the clock."""
        now = self.timing.clock.now()
        if self._origin is None:
            self._origin = (self.timing.wall(), now)
        epoch0, clock0 = self._origin
        return epoch0 + (now - clock0)

    async def run(self) -> None:
        """Reconcile CronJobs until `stop()` (or cancellation)."""
        self.cron_now()
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=self.recorder if self._own_recorder else None):
            await self.controller.run([self.cronjob_informer, self.job_informer])

    async def stop(self) -> None:
        await self.controller.stop()

    async def reconcile(self, request: Request) -> Result | None:
        cached = self.cronjob_informer.lister.get(request.name, request.namespace or None)
        if cached is None:
            return None
        cj = deep_copy(cached)
        cj.setdefault("status", {})
        stored = deep_copy(cj["status"])
        jobs = [j for j in self.job_informer.lister.list(request.namespace)
                if is_controlled_by(j, cj)]
        cj = await self._track_jobs(cj, jobs)
        requeue: float | None = None
        error: BaseException | None = None
        if not (cj.get("metadata") or {}).get("deletionTimestamp"):
            try:
                requeue = await self._schedule(cj)
            except ApiError as err:
                error = err
            await self._cleanup(cj, jobs)
        status = cj.get("status") or {}
        if not status.get("active"):
            status.pop("active", None)
        if status != stored:
            try:
                await self.client.update(cj, subresource="status")
            except NotFound:
                return None
        if error is not None:
            raise error
        return Result(requeue_after=requeue) if requeue is not None else None

    # -- steps ---------------------------------------------------------------------------------

    async def _track_jobs(self, cj: dict, jobs: list[dict]) -> dict:
        status = cj["status"]
        children = {(j.get("metadata") or {}).get("uid") for j in jobs}
        for job in jobs:
            jmd = job.get("metadata") or {}
            listed = _in_active(cj, jmd.get("uid"))
            finished = finished_condition(job)
            if not listed and finished is None:
                fresh = await self._fresh(cj)
                if fresh is not None and _in_active(fresh, jmd.get("uid")):
                    cj = fresh
                    status = cj.setdefault("status", {})
                    continue
                self.recorder.record(cj, WARNING, "UnexpectedJob", "Saw a job that the "
                                     f"controller did not create or forgot: {jmd.get('name')}")
            elif listed and finished is not None:
                _remove_active(cj, jmd.get("uid"))
                self.recorder.record(cj, NORMAL, "SawCompletedJob",
                                     f"Saw completed job: {jmd.get('name')}, condition: "
                                     f"{finished.get('type')}")
            if finished is not None and finished.get("type") == COMPLETE:
                done = (job.get("status") or {}).get("completionTime")
                last = status.get("lastSuccessfulTime")
                if done and (not last or parse_rfc3339(done) > parse_rfc3339(last)):
                    status["lastSuccessfulTime"] = done
        for ref in list(status.get("active") or ()):
            if ref.get("uid") in children:
                continue
            try:
                await self.client.get(_API_VERSION, "Job", ref.get("name", ""),
                                      namespace=ref.get("namespace"))
            except NotFound:
                self.recorder.record(cj, NORMAL, "MissingJob",
                                     f"Active job went missing: {ref.get('name')}")
                _remove_active(cj, ref.get("uid"))
        return cj

    async def _schedule(self, cj: dict) -> float | None:
        """Start the Job due now, if any; seconds until the next schedule time."""
        spec, status = cj.get("spec") or {}, cj["status"]
        if spec.get("suspend"):
            return None
        try:
            schedule = parse_schedule(spec.get("schedule") or "", spec.get("timeZone"))
        except ValueError as err:
            reason = "UnknownTimeZone" if "time zone" in str(err) else "UnparseableSchedule"
            self.recorder.record(cj, WARNING, reason, str(err))
            return None
        now = self.cron_now()
        earliest = self._earliest(cj)
        deadline = spec.get("startingDeadlineSeconds")
        window = earliest if deadline is None else max(earliest, now - deadline)
        scheduled, missed = most_recent_schedule(schedule, earliest=window, now=now)
        if missed > MANY_MISSED:
            self.recorder.record(cj, WARNING, "TooManyMissedTimes",
                                 f"too many missed start times: {missed}. Set or decrease "
                                 ".spec.startingDeadlineSeconds or check clock skew")
        if scheduled is None:
            return self._until_next(cj, schedule, now)
        if deadline is not None and scheduled + deadline < now:
            self.recorder.record(cj, WARNING, "MissSchedule",
                                 "Missed scheduled time to start a job: "
                                 f"{_rfc1123z(scheduled)}")
            return self._until_next(cj, schedule, now)
        name = job_name(cj, scheduled)
        last = status.get("lastScheduleTime")
        if any(r.get("name") == name for r in status.get("active") or ()) or (
                last and parse_rfc3339(last) == int(scheduled)):
            return self._until_next(cj, schedule, now)
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and status.get("active"):
            self.recorder.record(cj, NORMAL, "JobAlreadyActive", "Not starting job because "
                                 "prior execution is running and concurrency policy is Forbid")
            return self._until_next(cj, schedule, now)
        if policy == "Replace":
            for ref in list(status.get("active") or ()):
                await self._delete_job(cj, ref.get("name", ""), ref.get("uid"))
        md = cj.get("metadata") or {}
        try:
            job = await self.client.create(job_from_template(cj, scheduled, schedule.zone),
                                           namespace=md.get("namespace"))
            self.recorder.record(cj, NORMAL, "SuccessfulCreate",
                                 f"Created job {job['metadata']['name']}")
        except AlreadyExists:
            job = await self.client.get(_API_VERSION, "Job", name, namespace=md.get("namespace"))
            if not is_controlled_by(job, cj):
                return None
        except ApiError as err:
            if is_namespace_terminating(err):
                return None
            self.recorder.record(cj, WARNING, "FailedCreate", f"Error creating job: {err}")
            raise
        jmd = job["metadata"]
        if not _in_active(cj, jmd.get("uid")):
            status.setdefault("active", []).append({
                "kind": "Job", "namespace": jmd.get("namespace"), "name": jmd.get("name"),
                "uid": jmd.get("uid"), "apiVersion": _API_VERSION,
                "resourceVersion": jmd.get("resourceVersion")})
        status["lastScheduleTime"] = rfc3339(int(scheduled))
        return self._until_next(cj, schedule, now)

    async def _cleanup(self, cj: dict, jobs: list[dict]) -> None:
        spec = cj.get("spec") or {}
        for kind, limit in ((COMPLETE, spec.get("successfulJobsHistoryLimit")),
                            ("Failed", spec.get("failedJobsHistoryLimit"))):
            if limit is None:
                continue
            done = [j for j in jobs if (c := finished_condition(j)) is not None
                    and c.get("type") == kind]
            if len(done) <= limit:
                continue
            done.sort(key=_start_key)
            for job in done[:len(done) - limit]:
                jmd = job.get("metadata") or {}
                await self._delete_job(cj, jmd.get("name", ""), jmd.get("uid"))

    async def _delete_job(self, cj: dict, name: str, uid: str | None) -> None:
        try:
            await self.client.delete(_API_VERSION, "Job", name,
                                     namespace=(cj.get("metadata") or {}).get("namespace"),
                                     propagation_policy="Background",
                                     preconditions={"uid": uid} if uid else None)
        except NotFound:
            pass
        except ApiError as err:
            self.recorder.record(cj, WARNING, "FailedDelete", f"Deleted job: {err}")
            raise
        else:
            self.recorder.record(cj, NORMAL, "SuccessfulDelete", f"Deleted job {name}")
        _remove_active(cj, uid)

    # -- time ----------------------------------------------------------------------------------

    def _earliest(self, cj: dict) -> float:
        status, md = cj.get("status") or {}, cj.get("metadata") or {}
        stamp = status.get("lastScheduleTime") or md.get("creationTimestamp")
        return parse_rfc3339(stamp) if stamp else self.cron_now()

    def _until_next(self, cj: dict, schedule: Schedule, now: float) -> float:
        upcoming = next_schedule_after(schedule, earliest=self._earliest(cj), now=now)
        return max(0.0, upcoming - now) + NEXT_SCHEDULE_DELTA

    async def _fresh(self, cj: dict) -> dict | None:
        md = cj.get("metadata") or {}
        try:
            return await self.client.get(_API_VERSION, _KIND, md.get("name", ""),
                                         namespace=md.get("namespace"))
        except NotFound:
            return None


def _in_active(cj: dict, uid: str | None) -> bool:
    return any(r.get("uid") == uid for r in (cj.get("status") or {}).get("active") or ())


def _remove_active(cj: dict, uid: str | None) -> None:
    status = cj.setdefault("status", {})
    status["active"] = [r for r in status.get("active") or () if r.get("uid") != uid]


def _start_key(job: dict) -> tuple:
    start = (job.get("status") or {}).get("startTime")
    return (start is None, parse_rfc3339(start) if start else 0.0,
            (job.get("metadata") or {}).get("name", ""))


def _rfc1123z(t: float) -> str:
    return format_datetime(datetime.fromtimestamp(int(t), timezone.utc)).replace(
        "-0000", "+0000")
