"""DeploymentController: rolls a Deployment's pods through ReplicaSets (upstream's
syncDeployment).

Level-based on the shared informers of apps/v1 Deployments and ReplicaSets and v1 Pods. An RS
event wakes its controlling Deployment -- or, for an orphan, every Deployment of its namespace
whose selector matches it; a pod that finishes or goes away wakes its RS's Deployment (a
Recreate rollout waits for the old pods to be gone). One reconcile of a Deployment:
1. claim ReplicaSets (ownership.ControllerRefManager: adopt matching orphans, release owned
   ones that stopped matching);
2. being deleted: only the status is synced. Otherwise the Progressing condition notes a
   pause or resume; a paused Deployment, and one whose spec.replicas changed in mid-rollout,
   is only scaled (proportionally) and its status synced: no rollout while paused;
3. otherwise roll out by the strategy (deployment_rollout holds the arithmetic): the new RS
   (found or created by deployment_newrs) and the old ones are scaled one step, then the
   status and the Progressing condition are written (deployment_status);
4. once the rollout is complete, old RSs beyond revisionHistoryLimit are deleted.
The progress deadline is measured by `timing.clock` (deployment_status.ProgressClock): the
controller remembers when it first saw (or wrote) each Progressing lastUpdateTime, so after a
restart a rollout gets a fresh deadline rather than one computed from a stored wall-clock
timestamp; a rollout without progress is requeued after the time left. Writes use the cached objects' resourceVersions, so acting on a
stale cache ends in a Conflict and a retry, never in a double step.
"""

from __future__ import annotations

from typing import Any

from kubemu.cluster.api.errors import ApiError, NotFound
from kubemu.cluster.api.objects import deep_copy, rfc3339
from kubemu.cluster.api.selectors import selector_from_dict
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers import deployment_rollout as rollout
from kubemu.cluster.controllers import deployment_status as dstatus
from kubemu.cluster.controllers import deployment_util as util
from kubemu.cluster.controllers.deployment_newrs import NewReplicaSets, write_status
from kubemu.cluster.controllers.nodeutil import owned_runtime
from kubemu.cluster.controllers.events import NORMAL, WARNING, EventRecorder
from kubemu.cluster.controllers.ownership import ControllerRefManager, controller_of
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.timing import Timing

__all__ = ["DeploymentController", "CONTROLLER_NAME"]

CONTROLLER_NAME = "deployment-controller"
_API_VERSION, _KIND = "apps/v1", "Deployment"


class DeploymentController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, workers: int = 5) -> None:
        self.client = client
        self.timing = timing
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._own_recorder = recorder is None
        self.recorder = recorder if recorder is not None else EventRecorder(
            client, timing, component=CONTROLLER_NAME)
        self.deployment_informer = self.factory.informer(_API_VERSION, _KIND)
        self.rs_informer = self.factory.informer("apps/v1", "ReplicaSet")
        self.pod_informer = self.factory.informer("v1", "Pod")
        self.progress = dstatus.ProgressClock(timing.clock)
        self.new_rss = NewReplicaSets(client, self.recorder, self.rs_informer.lister,
                                      now=self._now, touch=self.progress.touch)
        self.controller = Controller("deployment", reconcile=self.reconcile,
                                     clock=timing.clock, workers=workers, sleep=timing.sleep)
        self.controller.watch(self.deployment_informer)
        self.controller.watch(self.rs_informer, map_to=self._rs_requests)
        self.pod_informer.add_handler(on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.deployment_informer.add_handler(on_delete=self.progress.forget)

    async def run(self) -> None:
        """Reconcile Deployments until `stop()` (or cancellation)."""
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=self.recorder if self._own_recorder else None):
            await self.controller.run([self.deployment_informer, self.rs_informer,
                                   self.pod_informer])

    async def stop(self) -> None:
        await self.controller.stop()

    async def reconcile(self, request: Request) -> Result | None:
        cached = self.deployment_informer.lister.get(request.name, request.namespace or None)
        if cached is None:
            return None
        d = deep_copy(cached)
        d.setdefault("apiVersion", _API_VERSION)
        d.setdefault("kind", _KIND)
        spec, md = d.get("spec") or {}, d["metadata"]
        if not _has_selector(spec.get("selector")):
            self.recorder.record(d, WARNING, "SelectingAll", "This deployment is selecting "
                                 "all pods. A non-empty selector is required.")
            if int((d.get("status") or {}).get("observedGeneration") or 0) < int(
                    md.get("generation") or 0):
                d.setdefault("status", {})["observedGeneration"] = int(md["generation"])
                await write_status(self.client, d)
            return None
        rss = await self._claim_replica_sets(d)
        if md.get("deletionTimestamp"):
            new_rs, old = await self.new_rss.split(d, rss)
            return await self._sync_status(d, [*old, new_rs], new_rs)
        if dstatus.paused_conditions(d, self._now()):
            await write_status(self.client, d)
            self.progress.touch(d)
        new_rs, old = await self.new_rss.split(d, rss)
        if spec.get("paused") or rollout.is_scaling_event(d, new_rs, old):
            return await self._sync(d, new_rs, old)
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            return await self._rollout_recreate(d, rss, new_rs, old)
        if new_rs is None:
            new_rs = await self.new_rss.create(d, old)
        return await self._rollout_rolling(d, new_rs, old)

    # -- strategies --------------------------------------------------------------------------

    async def _rollout_rolling(self, d: dict, new_rs: dict, old: list[dict]) -> Result | None:
        target = rollout.new_rs_target(d, [*old, new_rs], new_rs)
        scaled, new_rs = await self._scale(d, new_rs, target)
        if scaled:
            return await self._sync_rollout_status(d, [*old, new_rs], new_rs)
        steps = rollout.scale_down_old(d, [*old, new_rs], old, new_rs)
        if steps:
            old = await self._apply(d, old, steps)
            return await self._sync_rollout_status(d, [*old, new_rs], new_rs)
        if dstatus.deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old)
        return await self._sync_rollout_status(d, [*old, new_rs], new_rs)

    async def _rollout_recreate(self, d: dict, rss: list[dict], new_rs: dict | None,
                                old: list[dict]) -> Result | None:
        steps = rollout.recreate_scale_down(old)
        if steps:
            old = await self._apply(d, old, steps)
            return await self._sync_rollout_status(d, [*old, new_rs], new_rs)
        if rollout.old_pods_running(new_rs, old, self._pods_by_rs(d, rss)):
            return await self._sync_rollout_status(d, [*old, new_rs], new_rs)
        if new_rs is None:
            new_rs = await self.new_rss.create(d, old)
        _, new_rs = await self._scale(d, new_rs, util.replicas(d))
        if dstatus.deployment_complete(d, d.get("status") or {}):
            await self._cleanup(d, old)
        return await self._sync_rollout_status(d, [*old, new_rs], new_rs)

    async def _sync(self, d: dict, new_rs: dict | None, old: list[dict]) -> Result | None:
        """Scale only (paused, or spec.replicas changed in mid-rollout), then sync status."""
        by_name = {_name(rs): rs for rs in old}
        for step in rollout.proportional_scale(d, new_rs, old):
            _, rs = await self._scale(d, step.rs, step.replicas, operation=step.operation)
            if new_rs is not None and _name(rs) == _name(new_rs):
                new_rs = rs
            else:
                by_name[_name(rs)] = rs
        old = [by_name[_name(rs)] for rs in old]
        if (d.get("spec") or {}).get("paused"):
            await self._cleanup(d, old)
        return await self._sync_status(d, [*old, new_rs], new_rs)

    # -- replica sets ------------------------------------------------------------------------

    async def _claim_replica_sets(self, d: dict) -> list[dict]:
        md = d["metadata"]
        manager = ControllerRefManager(self.client, d, selector_from_dict(
            d["spec"]["selector"]), api_version=_API_VERSION, kind=_KIND)
        return await manager.claim(self.rs_informer.lister.list(md.get("namespace") or ""))

    async def _scale(self, d: dict, rs: dict, size: int, *,
                     operation: str | None = None) -> tuple[bool, dict]:
        """Set the RS's replicas (and replicas annotations); (whether the size changed, RS).
        Without `operation` an unchanged size writes nothing."""
        current = util.replicas(rs)
        if operation is None:
            if current == size:
                return False, rs
            operation = "up" if current < size else "down"
        want, most = util.replicas(d), util.replicas(d) + util.max_surge(d)
        if current == size and not util.replicas_annotations_need_update(rs, want, most):
            return False, rs
        copy = deep_copy(rs)
        copy["spec"]["replicas"] = size
        util.set_replicas_annotations(copy, want, most)
        written = await self.client.update(copy)
        if current == size:
            return False, written
        self.recorder.record(d, NORMAL, "ScalingReplicaSet",
                             f"Scaled {operation} replica set {_name(rs)} from {current} to "
                             f"{size}")
        return True, written

    async def _apply(self, d: dict, rss: list[dict],
                     steps: list[rollout.Scale]) -> list[dict]:
        by_name = {_name(rs): rs for rs in rss}
        for step in steps:
            _, by_name[_name(step.rs)] = await self._scale(d, step.rs, step.replicas)
        return [by_name[_name(rs)] for rs in rss]

    async def _cleanup(self, d: dict, old: list[dict]) -> None:
        for rs in rollout.rss_to_prune(d, old):
            md = rs["metadata"]
            try:
                await self.client.delete("apps/v1", "ReplicaSet", md["name"],
                                         namespace=md.get("namespace"),
                                         preconditions={"uid": md.get("uid")})
            except NotFound:
                pass

    def _pods_by_rs(self, d: dict, rss: list[dict]) -> dict[str, list[dict]]:
        """The Deployment's pods grouped by the uid of their controlling RS."""
        selector = selector_from_dict(d["spec"]["selector"])
        groups: dict[str, list[dict]] = {util.uid(rs): [] for rs in rss}
        for pod in self.pod_informer.lister.list(d["metadata"].get("namespace") or ""):
            ref = controller_of(pod)
            if ref is not None and ref.get("uid") in groups and selector.matches(
                    (pod.get("metadata") or {}).get("labels")):
                groups[ref["uid"]].append(pod)
        return groups

    # -- status ------------------------------------------------------------------------------

    async def _sync_status(self, d: dict, all_rss: list[dict | None],
                           new_rs: dict | None) -> None:
        status = dstatus.calculate_status(d, all_rss, new_rs, self._now())
        if status != (d.get("status") or {}):
            d["status"] = status
            await write_status(self.client, d)

    async def _sync_rollout_status(self, d: dict, all_rss: list[dict | None],
                                   new_rs: dict | None) -> Result | None:
        current = dstatus.get_condition(d.get("status"), dstatus.PROGRESSING)
        elapsed = self.progress.elapsed(d, current)
        status, touched = dstatus.rollout_status(d, all_rss, new_rs, now=self._now(),
                                                 elapsed=elapsed)
        if status == (d.get("status") or {}):
            after = dstatus.stuck_requeue_after(d, status, elapsed)
            if after is not None and after < 1.0:  # upstream: enqueueRateLimited, no hot loop
                md = d["metadata"]
                self.controller.queue.add_rate_limited(Request(md.get("namespace") or "",
                                                               md["name"]))
                return None
            return Result(requeue_after=after) if after is not None else None
        d["status"] = status
        await write_status(self.client, d)
        if touched:
            self.progress.touch(d)
        return None

    def _now(self) -> str:
        return rfc3339(self.timing.wall())

    # -- event mapping -----------------------------------------------------------------------

    def _rs_requests(self, rs: dict) -> list[Request]:
        md = rs.get("metadata") or {}
        namespace = md.get("namespace") or ""
        ref = controller_of(rs)
        if ref is not None:
            if ref.get("kind") != _KIND:
                return []
            return [Request(namespace, ref.get("name") or "")]
        labels = md.get("labels") or {}
        return [Request(namespace, _name(d))
                for d in self.deployment_informer.lister.list(namespace)
                if _has_selector((d.get("spec") or {}).get("selector"))
                and _matches((d.get("spec") or {}).get("selector"), labels)]

    def _pod_updated(self, old: dict, new: dict) -> None:
        if (old.get("status") or {}).get("phase") != (new.get("status") or {}).get("phase"):
            self._pod_deleted(new)

    def _pod_deleted(self, pod: dict) -> None:
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        namespace = (pod.get("metadata") or {}).get("namespace") or ""
        rs = self.rs_informer.lister.get(ref.get("name") or "", namespace)
        owner = controller_of(rs) if rs is not None else None
        if owner is None or owner.get("kind") != _KIND:
            return
        d = self.deployment_informer.lister.get(owner.get("name") or "", namespace)
        if d is not None and ((d.get("spec") or {}).get("strategy") or {}).get(
                "type") == "Recreate":
            self.controller.enqueue(Request(namespace, _name(d)))


def _name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name") or ""


def _has_selector(selector: dict | None) -> bool:
    return bool(selector) and bool(selector.get("matchLabels") or selector.get(
        "matchExpressions"))


def _matches(selector: dict | None, labels: dict) -> bool:
    try:
        return selector_from_dict(selector).matches(labels)
    except (ValueError, ApiError):
        return False
