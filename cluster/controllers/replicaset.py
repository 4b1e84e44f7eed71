"""ReplicaSetController: keeps `spec.replicas` active pods per ReplicaSet (upstream's
syncReplicaSet).

Level-based on the shared informers of apps/v1 ReplicaSets and v1 Pods. A pod event wakes the
ReplicaSet controlling it, or -- for an orphan -- every ReplicaSet of its namespace whose
selector matches it (a candidate for adoption). One reconcile of a ReplicaSet:
1. gone from the cache: drop its expectations (the garbage collector removes its pods);
2. claim the namespace's active pods (ownership.ControllerRefManager: adopt matching orphans,
   release owned pods that stopped matching; no adoption while the ReplicaSet is deleted);
3. only if its expectations are satisfied and it is not being deleted, act on the difference:
   create missing pods from the template in slow-start batches (at most `burst_replicas` per
   sync) or delete the surplus chosen by podutil's ranking. Expectations are recorded before
   the writes and lowered by the pod handlers as the informer shows them, so a sync that runs
   before the cache caught up never creates or deletes twice; they expire after 5 minutes;
4. write the status subresource when it changed: replicas (active claimed pods),
   fullyLabeledReplicas, readyReplicas, availableReplicas (Ready for minReadySeconds by the
   Kubernetes clock, via a ReadyTracker fed by the pod handlers), observedGeneration, and the
   ReplicaFailure condition (FailedCreate / FailedDelete while writes fail, removed once they
   succeed). Zero counts are omitted, as upstream's JSON omits them;
5. requeue after the time until the next ready pod becomes available; a failed write raises,
   so the runtime backs the key off.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubemu.cluster.api.errors import ApiError, NotFound
from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.api.selectors import LabelSelector, selector_from_dict
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.client.lister import LABEL_INDEX, label_index
from kubemu.cluster.controllers.nodeutil import owned_runtime
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.expectations import ControllerExpectations
from kubemu.cluster.controllers.ownership import (
    CONTROLLER_INDEX, ControllerRefManager, claim_candidates, controller_index, controller_of,
    new_controller_ref)
from kubemu.cluster.controllers.podcontrol import (
    SLOW_START_INITIAL_BATCH_SIZE, PodControl, is_namespace_terminating, slow_start_batch)
from kubemu.cluster.controllers.podutil import (
    ReadyTracker, available_in, filter_active_pods, is_pod_active, is_pod_ready, pod_key,
    pods_to_delete)
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.timing import Timing

__all__ = ["ReplicaSetController", "replica_set_status", "BURST_REPLICAS", "REPLICA_FAILURE",
           "CONTROLLER_NAME"]

CONTROLLER_NAME = "replicaset-controller"
BURST_REPLICAS = 500
REPLICA_FAILURE = "ReplicaFailure"
_API_VERSION, _KIND = "apps/v1", "ReplicaSet"

log = logging.getLogger("kubemu.controllers.replicaset")


class ReplicaSetController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, workers: int = 5,
                 burst_replicas: int = BURST_REPLICAS) -> None:
        self.client = client
        self.timing = timing
        self.burst_replicas = burst_replicas
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._own_recorder = recorder is None
        self.recorder = recorder if recorder is not None else EventRecorder(
            client, timing, component=CONTROLLER_NAME)
        self.expectations = ControllerExpectations(timing.clock)
        self.ready = ReadyTracker(timing)
        self.pod_control = PodControl(client, self.recorder)
        self.rs_informer = self.factory.informer(_API_VERSION, _KIND)
        self.pod_informer = self.factory.informer(
            "v1", "Pod", indexers={CONTROLLER_INDEX: controller_index, LABEL_INDEX: label_index})
        self.controller = Controller("replicaset", reconcile=self.reconcile, clock=timing.clock,
                                     workers=workers, sleep=timing.sleep)
        self.pod_informer.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.controller.watch(self.rs_informer)
        self.controller.watch(self.pod_informer, map_to=self._pod_requests)

    async def run(self) -> None:
        """Reconcile ReplicaSets until `stop()` (or cancellation)."""
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=self.recorder if self._own_recorder else None):
            await self.controller.run([self.rs_informer, self.pod_informer])

    async def stop(self) -> None:
        await self.controller.stop()

    async def reconcile(self, request: Request) -> Result | None:
        key = request.key
        rs = self.rs_informer.lister.get(request.name, request.namespace or None)
        if rs is None:
            self.expectations.delete(key)
            return None
        spec = rs.get("spec") or {}
        try:
            selector = selector_from_dict(spec.get("selector"))
        except ValueError as err:
            log.error("replicaset %s: invalid selector: %s", key, err, extra={"rs": key})
            return None
        needs_sync = self.expectations.satisfied(key)
        manager = ControllerRefManager(self.client, rs, selector, api_version=_API_VERSION,
                                       kind=_KIND)
        pods = await manager.claim(filter_active_pods(
            claim_candidates(self.pod_informer.lister, request.namespace, rs)))
        error: BaseException | None = None
        if needs_sync and not (rs.get("metadata") or {}).get("deletionTimestamp"):
            error = await self._manage_replicas(key, rs, pods)
        now = self.timing.clock.now()
        status, next_available = replica_set_status(
            rs, pods, error, now=now, wall=self.timing.wall(),
            ready_since=self.ready.ready_since)
        await self._update_status(rs, status)
        if error is not None:
            raise error
        return Result(requeue_after=next_available) if next_available is not None else None

    # -- replicas ----------------------------------------------------------------------------

    async def _manage_replicas(self, key: str, rs: dict,
                               pods: list[dict]) -> BaseException | None:
        diff = len(pods) - _replicas(rs)
        if diff < 0:
            count = min(-diff, self.burst_replicas)
            self.expectations.expect_creations(key, count)
            template = (rs.get("spec") or {}).get("template") or {}
            ref = new_controller_ref(rs, api_version=_API_VERSION, kind=_KIND)

            async def create() -> None:
                try:
                    await self.pod_control.create_pod(template, rs, ref)
                except ApiError as err:
                    if not is_namespace_terminating(err):
                        raise  # a terminating namespace is going away: nothing to report

            successes, error = await slow_start_batch(count, SLOW_START_INITIAL_BATCH_SIZE,
                                                      create)
            if count - successes > 0:  # never issued or failed: do not wait to see them
                self.expectations.lower_expectations(key, add=count - successes)
            return error
        if diff > 0:
            victims = pods_to_delete(pods, self._related_pods(rs), min(diff, self.burst_replicas))
            self.expectations.expect_pod_deletions(key, [pod_key(p) for p in victims])
            results = await asyncio.gather(*(self._delete(key, rs, p) for p in victims))
            return next((r for r in results if r is not None), None)
        return None

    async def _delete(self, key: str, rs: dict, pod: dict) -> BaseException | None:
        md = pod.get("metadata") or {}
        try:
            await self.pod_control.delete_pod(md.get("namespace", ""), md.get("name", ""), rs)
        except ApiError as err:
            self.expectations.deletion_observed(key, pod_key(pod))
            return None if isinstance(err, NotFound) else err
        return None

    def _related_pods(self, rs: dict) -> list[dict]:
        """Pods of every ReplicaSet sharing this one's controller (a Deployment's), for
        ranking co-located pods; none when the ReplicaSet has no controller."""
        ref = controller_of(rs)
        if ref is None:
            return []
        namespace = (rs.get("metadata") or {}).get("namespace") or ""
        seen: set[str] = set()
        related: list[dict] = []
        for other in self.rs_informer.lister.list(namespace):
            other_ref = controller_of(other)
            selector = _selector(other)
            if other_ref is None or other_ref.get("uid") != ref.get("uid") or selector is None:
                continue
            for pod in self.pod_informer.lister.list(namespace):
                uid = (pod.get("metadata") or {}).get("uid") or pod_key(pod)
                if uid not in seen and selector.matches(_labels(pod)):
                    seen.add(uid)
                    related.append(pod)
        return related

    async def _update_status(self, rs: dict, status: dict) -> None:
        md = rs.get("metadata") or {}
        old = rs.get("status") or {}
        if status == old:
            return
        patch = {**status, **{k: None for k in old if k not in status}}
        try:
            await self.client.patch(_API_VERSION, _KIND, md.get("name", ""), {"status": patch},
                                    namespace=md.get("namespace"), patch_type="merge",
                                    subresource="status")
        except NotFound:
            pass  # deleted meanwhile

    # -- pod events --------------------------------------------------------------------------

    def _pod_requests(self, pod: dict) -> list[Request]:
        md = pod.get("metadata") or {}
        namespace = md.get("namespace") or ""
        ref = controller_of(pod)
        if ref is not None:
            if ref.get("kind") == _KIND and (ref.get("apiVersion") or "").startswith("apps/"):
                return [Request(namespace, ref.get("name") or "")]
            return []
        if md.get("deletionTimestamp"):
            return []
        labels = md.get("labels") or {}
        return [Request.from_object(rs) for rs in self.rs_informer.lister.list(namespace)
                if (sel := _selector(rs)) is not None and sel.matches(labels)]

    def _pod_added(self, pod: dict) -> None:
        self.ready.observe(pod)
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            self._deletion_seen(pod)  # a restart may first see a pod already terminating
            return
        key = self._controlling_key(pod)
        if key is not None:
            self.expectations.creation_observed(key)

    def _pod_updated(self, old: dict, new: dict) -> None:
        self.ready.observe(new)
        if (new.get("metadata") or {}).get("deletionTimestamp"):
            self._deletion_seen(new)
            if self._controlling_key(old) != self._controlling_key(new):
                self._deletion_seen(old)

    def _pod_deleted(self, pod: dict) -> None:
        self.ready.forget(pod)
        self._deletion_seen(pod)

    def _deletion_seen(self, pod: dict) -> None:
        key = self._controlling_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, pod_key(pod))

    def _controlling_key(self, pod: dict) -> str | None:
        """The key of the cached ReplicaSet controlling `pod` (its uid must match)."""
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != _KIND:
            return None
        namespace = (pod.get("metadata") or {}).get("namespace") or ""
        rs = self.rs_informer.lister.get(ref.get("name") or "", namespace or None)
        if rs is None or (rs.get("metadata") or {}).get("uid") != ref.get("uid"):
            return None
        return f"{namespace}/{ref.get('name')}" if namespace else ref.get("name") or ""


def replica_set_status(rs: dict, pods: list[dict], error: BaseException | None, *,
                       now: float, wall: float,
                       ready_since: Any) -> tuple[dict, float | None]:
    """The ReplicaSet's new status from its claimed active pods and the last write error,
    and the seconds until the next ready pod becomes available (None if none will).
    `ready_since(pod)` answers when the pod became Ready, on the clock `now` reads."""
    spec = rs.get("spec") or {}
    min_ready = float(spec.get("minReadySeconds") or 0)
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    labeled = ready = available = 0
    next_available: float | None = None
    for pod in pods:
        labels = _labels(pod)
        if all(labels.get(k) == v for k, v in template_labels.items()):
            labeled += 1
        if not (is_pod_active(pod) and is_pod_ready(pod)):
            continue
        ready += 1
        remaining = available_in(pod, min_ready, now, ready_since=ready_since(pod))
        if remaining == 0.0:
            available += 1
        elif remaining is not None:
            next_available = remaining if next_available is None else min(next_available,
                                                                          remaining)
    old = rs.get("status") or {}
    status = {k: v for k, v in old.items()
              if k not in ("replicas", "fullyLabeledReplicas", "readyReplicas",
                           "availableReplicas", "observedGeneration", "conditions")}
    status["replicas"] = len(pods)
    for name, value in (("fullyLabeledReplicas", labeled), ("readyReplicas", ready),
                        ("availableReplicas", available)):
        if value:
            status[name] = value
    generation = (rs.get("metadata") or {}).get("generation")
    if generation:
        status["observedGeneration"] = generation
    conditions = _conditions(old.get("conditions") or [], error, len(pods) - _replicas(rs),
                             wall)
    if conditions:
        status["conditions"] = conditions
    return status, next_available


# -- helpers ---------------------------------------------------------------------------------

def _conditions(old: list[dict], error: BaseException | None, diff: int,
                wall: float) -> list[dict]:
    """Upstream calculateStatus: add ReplicaFailure on the first failure (keeping an existing
    one as it is), drop it once a sync succeeds."""
    failure = next((c for c in old if c.get("type") == REPLICA_FAILURE), None)
    if error is not None and failure is None:
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        message = error.message if isinstance(error, ApiError) else str(error)
        return [*old, {"type": REPLICA_FAILURE, "status": "True",
                       "lastTransitionTime": rfc3339(wall), "reason": reason,
                       "message": message}]
    if error is None and failure is not None:
        return [c for c in old if c.get("type") != REPLICA_FAILURE]
    return list(old)


def _replicas(rs: dict) -> int:
    value = (rs.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _labels(obj: dict) -> dict:
    return (obj.get("metadata") or {}).get("labels") or {}


def _selector(rs: dict) -> LabelSelector | None:
    """The ReplicaSet's selector; None if it is invalid or empty (matches nothing)."""
    try:
        selector = selector_from_dict((rs.get("spec") or {}).get("selector"))
    except ValueError:
        return None
    return None if selector.empty else selector
