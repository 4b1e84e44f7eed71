"""TTLAfterFinishedController: deletes finished Jobs once ttlSecondsAfterFinished passed
(upstream's ttl-after-finished controller).

Level-based on the shared Job informer. A Job with `spec.ttlSecondsAfterFinished` and a True
Complete or Failed condition expires ttl seconds after it finished. The wait runs on the
Kubernetes clock: the controller remembers when it first saw the Job finished; a Job already
finished when first seen (a controller restart) is back-dated by the wall time since its
completionTime (else the condition's lastTransitionTime), scaled. Before deleting, the Job is
read fresh from the API server and checked again (its ttl may have been changed); the delete
uses Background propagation (the garbage collector removes the pods) and a uid precondition,
so a same-named new Job is never deleted. Not yet expired: requeue after the remaining time.
"""

from __future__ import annotations

from typing import Any

from kubemu.cluster.api.errors import Conflict, NotFound
from kubemu.cluster.api.objects import parse_rfc3339
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.job_util import finished_condition
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.timing import Timing

__all__ = ["TTLAfterFinishedController", "CONTROLLER_NAME", "expires_in"]

CONTROLLER_NAME = "ttl-after-finished-controller"


def expires_in(job: dict, *, finished_at: float, now: float) -> float | None:
    """Seconds until the finished Job expires (0 when due); None if it never does."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if ttl is None or finished_condition(job) is None:
        return None
    return max(0.0, finished_at + ttl - now)


class TTLAfterFinishedController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, workers: int = 5) -> None:
        self.client = client
        self.timing = timing
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self.recorder = recorder
        self._finished_at: dict[str, float] = {}  # job uid -> clock time it finished
        self.job_informer = self.factory.informer("batch/v1", "Job")
        self.controller = Controller("ttlafterfinished", reconcile=self.reconcile,
                                     clock=timing.clock, workers=workers, sleep=timing.sleep)
        self.controller.watch(self.job_informer)
        self.job_informer.add_handler(on_delete=self._forget)

    async def run(self) -> None:
        if self._own_factory:
            self.factory.start()
        try:
            await self.controller.run([self.job_informer])
        finally:
            if self._own_factory:
                await self.factory.stop()

    async def stop(self) -> None:
        await self.controller.stop()

    async def reconcile(self, request: Request) -> Result | None:
        job = self.job_informer.lister.get(request.name, request.namespace or None)
        if job is None:
            return None
        now = self.timing.clock.now()
        remaining = expires_in(job, finished_at=self._finish_time(job, now), now=now)
        if remaining is None:
            return None
        if remaining > 0:
            return Result(requeue_after=remaining)
        md = job.get("metadata") or {}
        try:
            fresh = await self.client.get("batch/v1", "Job", md.get("name", ""),
                                          namespace=md.get("namespace"))
        except NotFound:
            return None
        if (fresh.get("metadata") or {}).get("uid") != md.get("uid"):
            return None
        remaining = expires_in(fresh, finished_at=self._finish_time(fresh, now), now=now)
        if remaining is None:
            return None
        if remaining > 0:
            return Result(requeue_after=remaining)
        try:
            await self.client.delete("batch/v1", "Job", md.get("name", ""),
                                     namespace=md.get("namespace"),
                                     propagation_policy="Background",
                                     preconditions={"uid": md.get("uid")})
        except (NotFound, Conflict):
            pass
        return None

    def _finish_time(self, job: dict, now: float) -> float:
        uid = (job.get("metadata") or {}).get("uid") or ""
        if uid not in self._finished_at:
            cond = finished_condition(job) or {}
            stamp = (job.get("status") or {}).get("completionTime") \
                or cond.get("lastTransitionTime")
            since = now
            if stamp:
                since = now - max(0.0, self.timing.wall() - parse_rfc3339(stamp)) \
                    * self.timing.scale
            self._finished_at[uid] = since
        return self._finished_at[uid]

    def _forget(self, job: dict) -> None:
        self._finished_at.pop((job.get("metadata") or {}).get("uid") or "", None)
