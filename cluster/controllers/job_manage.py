"""JobPods: the Job controller's pod writes (upstream's manageJob and deleteJobPods).

- `manage`: a suspended Job deletes its active pods. Otherwise it wants
  min(parallelism, completions - succeeded) active pods (parallelism while nothing succeeded
  when completions is unset, then no new ones); a surplus is deleted (the least valuable
  first, for Indexed Jobs duplicated and higher indexes first); a shortfall is created in
  slow-start batches, but only once the pod-failure backoff has passed (10 s doubling per
  consecutive failure since the last success, capped at 6 minutes; measured on the
  Kubernetes clock from when the controller saw the failure). Indexed Jobs create the lowest
  pending indexes (neither completed nor held by an active pod). With podReplacementPolicy
  Failed, pods still terminating hold their place until they reach phase Failed.
- Deleting a pod removes its job-tracking finalizer first (so the deletion is not counted as
  a failure), as upstream. Expectations are recorded before every create and delete.
- `release_finalizers`: the `$deleteFromPrimitiveList` strategic patch, concurrently; the
  uids now free of it (a pod already gone counts as free).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from kubemu.cluster.api.errors import ApiError, NotFound
from kubemu.cluster.controllers.expectations import ControllerExpectations
from kubemu.cluster.controllers.job_status import Tally, uid_of
from kubemu.cluster.controllers.job_util import (
    JOB_TRACKING_FINALIZER, backoff_delay, completion_index, has_tracking_finalizer,
    is_indexed, job_pod_mutator)
from kubemu.cluster.controllers.ownership import new_controller_ref
from kubemu.cluster.controllers.podcontrol import (
    SLOW_START_INITIAL_BATCH_SIZE, PodControl, is_namespace_terminating, slow_start_batch)
from kubemu.cluster.controllers.podutil import is_pod_ready, pod_key, rank_pods_for_deletion
from kubemu.cluster.timing import Timing

__all__ = ["JobPods", "Managed", "BURST"]

BURST = 500


@dataclass
class Managed:
    active: int
    deleted: int = 0
    requeue: float | None = None
    error: BaseException | None = None


class JobPods:
    def __init__(self, client: Any, timing: Timing, recorder: Any,
                 expectations: ControllerExpectations) -> None:
        self.client = client
        self.timing = timing
        self.control = PodControl(client, recorder)
        self.expectations = expectations
        self._backoff: dict[str, tuple[set[str], float]] = {}  # key -> (failed uids, last)

    # -- backoff record ------------------------------------------------------------------------

    def failed(self, key: str, uids: list[str], now: float) -> None:
        """Failures seen (by pod uid, so a retried sync never counts one twice)."""
        seen, _ = self._backoff.get(key, (set(), now))
        fresh = set(uids) - seen
        if fresh:
            self._backoff[key] = (seen | fresh, now)

    def succeeded(self, key: str) -> None:
        self._backoff.pop(key, None)

    def forget(self, key: str) -> None:
        self._backoff.pop(key, None)

    def backoff_remaining(self, key: str, now: float) -> float:
        seen, last = self._backoff.get(key, (set(), now))
        return max(0.0, last + backoff_delay(len(seen)) - now)

    # -- manage --------------------------------------------------------------------------------

    async def manage(self, key: str, job: dict, t: Tally) -> Managed:
        spec = job.get("spec") or {}
        active = list(t.active)
        if spec.get("suspend"):
            deleted, _, error = await self.delete_active(key, job, active)
            return Managed(len(active) - deleted, deleted, error=error)
        parallelism = int(spec.get("parallelism") or 0)
        completions = spec.get("completions")
        if completions is None:
            want = len(active) if t.succeeded > 0 else parallelism
        else:
            want = max(0, min(completions - t.succeeded, parallelism))
        victims: list[dict] = []
        if is_indexed(job):
            victims = _stray_indexed(active, t, completions)
            active = [p for p in active if p not in victims]
        if len(active) > want:
            ranked = rank_pods_for_deletion(active)
            if is_indexed(job):
                ranked.sort(key=lambda p: -(t.index_of.get(uid_of(p), -1)))
            victims += ranked[:len(active) - want]
            active = [p for p in active if p not in victims]
        if victims:
            deleted, _, error = await self.delete_active(key, job, victims)
            return Managed(len(t.active) - deleted, deleted, error=error)
        held = len(active)
        if spec.get("podReplacementPolicy") == "Failed":
            held += t.terminating
        if held >= want:
            return Managed(len(active))
        remaining = self.backoff_remaining(key, self.timing.clock.now())
        if remaining > 0:
            return Managed(len(active), requeue=remaining)
        count = min(want - held, BURST)
        indexes: list[int | None] = [None] * count
        if is_indexed(job):
            indexes = list(_pending_indexes(t, active, count, completions or 0))
            count = len(indexes)
        if count == 0:
            return Managed(len(active))
        successes, error = await self._create(key, job, indexes)
        return Managed(len(active) + successes, error=error)

    async def _create(self, key: str, job: dict,
                      indexes: list[int | None]) -> tuple[int, BaseException | None]:
        self.expectations.expect_creations(key, len(indexes))
        template = (job.get("spec") or {}).get("template") or {}
        ref = new_controller_ref(job, api_version="batch/v1", kind="Job")
        pending = list(indexes)

        async def create() -> None:
            index = pending.pop(0)
            try:
                await self.control.create_pod(template, job, ref,
                                              mutate=job_pod_mutator(job, index))
            except ApiError as err:
                if not is_namespace_terminating(err):
                    raise

        successes, error = await slow_start_batch(len(indexes), SLOW_START_INITIAL_BATCH_SIZE,
                                                  create)
        if len(indexes) - successes > 0:
            self.expectations.lower_expectations(key, add=len(indexes) - successes)
        return successes, error

    # -- deletes -------------------------------------------------------------------------------

    async def delete_active(self, key: str, job: dict,
                            pods: list[dict]) -> tuple[int, int, BaseException | None]:
        """Delete `pods` (finalizer first); (deleted, ready among them, first error)."""
        if not pods:
            return 0, 0, None
        self.expectations.expect_pod_deletions(key, [pod_key(p) for p in pods])
        results = await asyncio.gather(*(self._delete(key, job, p) for p in pods))
        deleted = sum(1 for r in results if r is None)
        ready = sum(1 for p, r in zip(pods, results, strict=True) if r is None and is_pod_ready(p))
        return deleted, ready, next((r for r in results if r is not None), None)

    async def _delete(self, key: str, job: dict, pod: dict) -> BaseException | None:
        md = pod.get("metadata") or {}
        try:
            if has_tracking_finalizer(pod):
                await self._remove_finalizer(pod)
            await self.control.delete_pod(md.get("namespace", ""), md.get("name", ""), job)
        except NotFound:
            self.expectations.deletion_observed(key, pod_key(pod))
            return None
        except ApiError as err:
            self.expectations.deletion_observed(key, pod_key(pod))
            return err
        return None

    async def release_finalizers(self, pods: list[dict]) -> set[str]:
        """Remove the job-tracking finalizer; the uids that no longer hold it."""
        async def one(pod: dict) -> str | None:
            try:
                await self._remove_finalizer(pod)
            except NotFound:
                return uid_of(pod)
            except ApiError:
                return None
            return uid_of(pod)

        results = await asyncio.gather(*(one(p) for p in pods))
        return {uid for uid in results if uid}

    async def _remove_finalizer(self, pod: dict) -> None:
        md = pod.get("metadata") or {}
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [JOB_TRACKING_FINALIZER],
                              "uid": md.get("uid")}}
        await self.control.patch_pod(md.get("namespace", ""), md.get("name", ""), patch)


def _stray_indexed(active: list[dict], t: Tally, completions: int | None) -> list[dict]:
    """Active pods of an Indexed Job with no valid index, a completed index, or a duplicate."""
    seen: set[int] = set()
    stray = []
    for pod in sorted(active, key=lambda p: (p.get("metadata") or {}).get(
            "creationTimestamp") or ""):
        index = completion_index(pod, completions)
        if index is None or index in t.completed_indexes or index in seen:
            stray.append(pod)
        else:
            seen.add(index)
    return stray


def _pending_indexes(t: Tally, active: list[dict], count: int, completions: int):
    held = {completion_index(p, completions) for p in active}
    found = 0
    for index in range(completions):
        if found >= count:
            return
        if index not in held and index not in t.completed_indexes:
            found += 1
            yield index
