"""DisruptionController: the status of every PodDisruptionBudget (upstream's disruption
controller), which the eviction subresource reads to allow or refuse a voluntary disruption.

Level-based on the shared informers of policy/v1 PodDisruptionBudgets, v1 Pods and the apps/v1
workloads whose scale a budget may need (ReplicaSets, Deployments, StatefulSets). A pod event
wakes every budget of its namespace whose selector matches it (old and new labels); a workload
event wakes every budget of its namespace. One sync of a budget (`trySync`):
1. pods: those of its namespace its selector matches (a nil selector matches none, an empty
   one all), terminal and terminating pods included, as upstream;
2. expectedPods and desiredHealthy: integer minAvailable needs no controller (expected = the
   matching pods, desired = minAvailable); maxUnavailable and a percentage minAvailable need
   the scale of every controller of those pods: a ReplicaSet owned by a Deployment counts the
   Deployment's spec.replicas, else the ReplicaSet's; a StatefulSet its own; any other kind
   its scale subresource. A pod without a controller is "unmanaged" (a Warning Event, and it
   counts for nothing); a controller that cannot be found fails the sync;
3. disruptedPods: the pods the eviction subresource recorded as about to go. An entry is kept
   for DELETION_TIMEOUT (2 minutes) from when this controller first saw it -- measured by the
   Kubernetes clock, never against the stored timestamp -- and dropped once its pod is
   terminating or gone, or expired (Warning NotDeleted); the budget is requeued for the
   earliest expiry;
4. currentHealthy: Ready pods neither terminating nor in disruptedPods; disruptionsAllowed =
   currentHealthy - desiredHealthy, floored at 0, and 0 while expectedPods is 0; condition
   DisruptionAllowed True/SufficientPods or False/InsufficientPods; observedGeneration. The
   status subresource is written only when something changed.
A sync that fails for any reason but a write conflict writes the fail-safe status
(disruptionsAllowed 0, DisruptionAllowed False/SyncFailed with the error) and requeues; a
conflict just backs off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from kubemu.cluster.api.errors import ApiError, Conflict, NotFound
from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.api.selectors import selector_from_dict
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.deployment_util import scaled_value
from kubemu.cluster.controllers.nodeutil import owned_runtime
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.ownership import controller_of
from kubemu.cluster.controllers.podutil import is_pod_ready
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.timing import Timing

__all__ = ["DisruptionController", "CONTROLLER_NAME", "DELETION_TIMEOUT", "SYNC_FAILED_RETRY",
           "expected_and_desired", "count_healthy", "disruption_status", "allowed_condition"]

CONTROLLER_NAME = "disruption-controller"
DELETION_TIMEOUT = 120.0  # upstream's DeletionTimeout: an evicted pod must go within 2 min
SYNC_FAILED_RETRY = 30.0  # a failed budget is looked at again (upstream's resync covers it)
_PDB = ("policy/v1", "PodDisruptionBudget")
_WORKLOADS = (("apps/v1", "ReplicaSet"), ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet"))

log = logging.getLogger("kubemu.controllers.disruption")

ScaleOf = Callable[[dict, str], Any]  # (controllerRef, namespace) -> awaitable replicas|None


class DisruptionController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, workers: int = 2) -> None:
        self.client = client
        self.timing = timing
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._own_recorder = recorder is None
        self.recorder = recorder if recorder is not None else EventRecorder(
            client, timing, component=CONTROLLER_NAME)
        self.pdb_informer = self.factory.informer(*_PDB)
        self.pod_informer = self.factory.informer("v1", "Pod")
        self.workload_informers = {kind: self.factory.informer(av, kind)
                                   for av, kind in _WORKLOADS}
        self._first_seen: dict[tuple[str, str, str], float] = {}  # (pdb, pod, stamp) -> clock
        self.controller = Controller("disruption", reconcile=self.reconcile,
                                     clock=timing.clock, workers=workers, sleep=timing.sleep)
        self.controller.watch(self.pdb_informer)
        self.controller.watch(self.pod_informer, map_to=self._budgets_of_pod)
        for informer in self.workload_informers.values():
            self.controller.watch(informer, map_to=self._budgets_of_namespace)

    async def run(self) -> None:
        """Keep budget statuses current until `stop()` (or cancellation)."""
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=self.recorder if self._own_recorder else None):
            await self.controller.run([self.pdb_informer, self.pod_informer,
                                   *self.workload_informers.values()])

    async def stop(self) -> None:
        await self.controller.stop()

    async def reconcile(self, request: Request) -> Result | None:
        pdb = self.pdb_informer.lister.get(request.name, request.namespace or None)
        if pdb is None:
            self._forget(request.key)
            return None
        try:
            return await self._try_sync(request.key, pdb)
        except Conflict:
            raise
        except (ApiError, _SyncError) as err:
            log.info("pdb %s: sync failed: %s", request.key, err)
            await self._fail_safe(pdb, str(err))
            return Result(requeue_after=SYNC_FAILED_RETRY)

    # -- one sync ----------------------------------------------------------------------------

    async def _try_sync(self, key: str, pdb: dict) -> Result | None:
        pods = self._pods_of(pdb)
        if not pods:
            self.recorder.record(pdb, "Normal", "NoPods", "No matching pods found")
        expected, desired, unmanaged = await expected_and_desired(pdb, pods, self._scale_of)
        if unmanaged:
            self.recorder.record(
                pdb, "Warning", "UnmanagedPods",
                f"Pods selected by this PodDisruptionBudget (selector: "
                f"{_selector_text(pdb)}) were found to be unmanaged. As a result, the status "
                f"of the PDB cannot be calculated correctly, which may result in undefined "
                f"behavior. To account for these pods please set \".spec.minAvailable\" "
                f"field of the PDB to an integer value.")
        now = self.timing.clock.now()
        disrupted, recheck = self._disrupted_pods(key, pdb, pods, now)
        healthy = count_healthy(pods, disrupted)
        status = disruption_status(pdb, current_healthy=healthy, desired_healthy=desired,
                                   expected_pods=expected, disrupted_pods=disrupted,
                                   wall=self.timing.wall())
        if status != (pdb.get("status") or {}):
            await self.client.update({**pdb, "status": status}, subresource="status")
        return Result(requeue_after=max(0.0, recheck - now)) if recheck is not None else None

    def _pods_of(self, pdb: dict) -> list[dict]:
        selector = (pdb.get("spec") or {}).get("selector")
        if selector is None:
            return []
        try:
            sel = selector_from_dict(selector)
        except ValueError as err:
            raise _SyncError(f"invalid selector: {err}") from None
        namespace = pdb["metadata"].get("namespace") or ""
        return [p for p in self.pod_informer.lister.list(namespace)
                if sel.matches((p.get("metadata") or {}).get("labels") or {})]

    def _disrupted_pods(self, key: str, pdb: dict, pods: list[dict],
                        now: float) -> tuple[dict[str, str], float | None]:
        """The disruptedPods entries still pending, and when the earliest one expires."""
        recorded = (pdb.get("status") or {}).get("disruptedPods") or {}
        result: dict[str, str] = {}
        recheck: float | None = None
        live = set()
        for pod in pods:
            md = pod.get("metadata") or {}
            name = md.get("name") or ""
            stamp = recorded.get(name)
            if stamp is None or md.get("deletionTimestamp"):
                continue
            seen = (key, name, stamp)
            live.add(seen)
            expires = self._first_seen.setdefault(seen, now) + DELETION_TIMEOUT
            if expires <= now:
                ns = pdb["metadata"].get("namespace") or ""
                self.recorder.record(pod, "Warning", "NotDeleted",
                                     f"Pod was expected by PDB {ns}/{pdb['metadata']['name']}"
                                     f" to be deleted but it wasn't")
                continue
            result[name] = stamp
            recheck = expires if recheck is None else min(recheck, expires)
        for seen in [s for s in self._first_seen if s[0] == key and s not in live]:
            del self._first_seen[seen]
        return result, recheck

    async def _scale_of(self, ref: dict, namespace: str) -> int | None:
        """The replicas of the controller `ref` names, or None when it does not exist
        (upstream's finders: Deployment through its ReplicaSet, ReplicaSet, StatefulSet,
        then any kind with a scale subresource)."""
        kind, group = ref.get("kind"), (ref.get("apiVersion") or "").rpartition("/")[0]
        if group == "apps" and kind in ("ReplicaSet", "StatefulSet"):
            owner = self.workload_informers[kind].lister.get(ref.get("name"), namespace)
            if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
                return None
            parent = controller_of(owner)
            if kind == "ReplicaSet" and parent is not None and parent.get("kind") == \
                    "Deployment" and (parent.get("apiVersion") or "").startswith("apps/"):
                deploy = self.workload_informers["Deployment"].lister.get(
                    parent.get("name"), namespace)
                if deploy is None or deploy["metadata"].get("uid") != parent.get("uid"):
                    return None
                return _replicas(deploy)
            return _replicas(owner)
        try:
            scale = await self.client.get(ref.get("apiVersion") or "", kind or "",
                                          ref.get("name") or "", namespace=namespace,
                                          subresource="scale")
        except NotFound:
            return None
        if (scale.get("metadata") or {}).get("uid") not in (None, ref.get("uid")):
            return None
        return int((scale.get("spec") or {}).get("replicas") or 0)

    async def _fail_safe(self, pdb: dict, message: str) -> None:
        """disruptionsAllowed 0 and DisruptionAllowed False/SyncFailed (upstream's failSafe)."""
        status = dict(pdb.get("status") or {})
        status["disruptionsAllowed"] = 0
        status["conditions"] = _set_condition(
            status.get("conditions") or [], allowed_condition(
                False, "SyncFailed", message, status.get("observedGeneration", 0)),
            self.timing.wall())
        if status != (pdb.get("status") or {}):
            await self.client.update({**pdb, "status": status}, subresource="status")

    # -- event mapping -----------------------------------------------------------------------

    def _budgets_of_pod(self, pod: dict) -> list[Request]:
        md = pod.get("metadata") or {}
        labels = md.get("labels") or {}
        out = []
        for pdb in self.pdb_informer.lister.list(md.get("namespace") or ""):
            selector = (pdb.get("spec") or {}).get("selector")
            try:
                if selector is not None and selector_from_dict(selector).matches(labels):
                    out.append(Request.from_object(pdb))
            except ValueError:
                continue
        return out

    def _budgets_of_namespace(self, obj: dict) -> list[Request]:
        namespace = (obj.get("metadata") or {}).get("namespace") or ""
        return [Request.from_object(p) for p in self.pdb_informer.lister.list(namespace)]

    def _forget(self, key: str) -> None:
        for seen in [s for s in self._first_seen if s[0] == key]:
            del self._first_seen[seen]


# -- the arithmetic (pure) -------------------------------------------------------------------

async def expected_and_desired(pdb: dict, pods: list[dict],
                               scale_of: ScaleOf) -> tuple[int, int, list[str]]:
    """(expectedPods, desiredHealthy, unmanaged pod names) of a budget over its pods
    (upstream's getExpectedPodCount); `scale_of(controllerRef, namespace)` awaits the
    controller's replicas or None when it does not exist."""
    spec = pdb.get("spec") or {}
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if max_unavailable is not None:
        expected, unmanaged = await _expected_scale(pods, scale_of)
        unavailable = scaled_value(max_unavailable, expected, round_up=True)
        return expected, max(0, expected - unavailable), unmanaged
    if isinstance(min_available, int) and not isinstance(min_available, bool):
        return len(pods), min_available, []
    if min_available is not None:
        expected, unmanaged = await _expected_scale(pods, scale_of)
        return expected, scaled_value(min_available, expected, round_up=True), unmanaged
    return 0, 0, []


def count_healthy(pods: Iterable[dict], disrupted: dict[str, str]) -> int:
    """Ready pods that are neither terminating nor about to be evicted."""
    return sum(1 for p in pods
               if not (p.get("metadata") or {}).get("deletionTimestamp")
               and (p.get("metadata") or {}).get("name") not in disrupted and is_pod_ready(p))


def disruption_status(pdb: dict, *, current_healthy: int, desired_healthy: int,
                      expected_pods: int, disrupted_pods: dict[str, str],
                      wall: float) -> dict:
    """The budget's new status (upstream's updatePdbStatus plus
    UpdateDisruptionAllowedCondition); zero counts are kept, as kubectl shows them."""
    allowed = current_healthy - desired_healthy
    if expected_pods <= 0 or allowed <= 0:
        allowed = 0
    generation = int((pdb.get("metadata") or {}).get("generation") or 1)
    old = pdb.get("status") or {}
    condition = (allowed_condition(True, "SufficientPods", "", generation) if allowed > 0 else
                 allowed_condition(False, "InsufficientPods", "", generation))
    status = {"observedGeneration": generation, "disruptionsAllowed": allowed,
              "currentHealthy": current_healthy, "desiredHealthy": desired_healthy,
              "expectedPods": expected_pods,
              "conditions": _set_condition(old.get("conditions") or [], condition, wall)}
    if disrupted_pods:
        status["disruptedPods"] = dict(disrupted_pods)
    return status


def allowed_condition(allowed: bool, reason: str, message: str, generation: int) -> dict:
    """The DisruptionAllowed condition (without lastTransitionTime)."""
    return {"type": "DisruptionAllowed", "status": "True" if allowed else "False",
            "reason": reason, "message": message, "observedGeneration": generation}


# -- helpers ---------------------------------------------------------------------------------

class _SyncError(Exception):
    """A budget whose status cannot be computed (fail-safe)."""


async def _expected_scale(pods: list[dict], scale_of: ScaleOf) -> tuple[int, list[str]]:
    """The sum of the scales of the pods' controllers, each counted once, and the names of
    pods without a controller."""
    scales: dict[str, int] = {}
    unmanaged: list[str] = []
    for pod in pods:
        md = pod.get("metadata") or {}
        ref = controller_of(pod)
        if ref is None:
            unmanaged.append(md.get("name") or "")
            continue
        if ref.get("uid") in scales:
            continue
        replicas = await scale_of(ref, md.get("namespace") or "")
        if replicas is None:
            raise _SyncError(f'found no controllers for pod "{md.get("name")}"')
        scales[ref.get("uid") or ""] = replicas
    return sum(scales.values()), unmanaged


def _set_condition(conditions: list[dict], new: dict, wall: float) -> list[dict]:
    """apimachinery's SetStatusCondition: lastTransitionTime moves only when status does."""
    old = next((c for c in conditions if c.get("type") == new["type"]), None)
    since = (old.get("lastTransitionTime") if old is not None
             and old.get("status") == new["status"] else None)
    cond = {**new, "lastTransitionTime": since or rfc3339(wall)}
    return [cond if c.get("type") == new["type"] else c for c in conditions] \
        if old is not None else [*conditions, cond]


def _replicas(obj: dict) -> int:
    replicas = (obj.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)


def _selector_text(pdb: dict) -> str:
    try:
        return str(selector_from_dict((pdb.get("spec") or {}).get("selector")))
    except ValueError:
        return "<invalid>"
