"""StatefulSetController: stable, ordered pods with stable storage (upstream's
StatefulSetController + defaultStatefulSetControl).

Level-based on shared informers of apps/v1 StatefulSets and ControllerRevisions and v1 Pods
and PersistentVolumeClaims. A pod event wakes the StatefulSet controlling it (an orphan: every
set of its namespace whose selector matches); a revision wakes its controller; a claim wakes
the sets whose selector matches its labels. One reconcile of a StatefulSet:
1. claim its pods -- members only (named `<set>-<ordinal>`) -- and its ControllerRevisions
   (orphan revisions matching the selector are adopted), as upstream;
2. revisions: the update revision holds the current template (`history.template_patch`); an
   equal revision that is the newest is reused, an equal older one is renumbered to the next
   revision (a rollback), otherwise a new one is created, probing names on hash collisions
   (status.collisionCount). The current revision is status.currentRevision's (the update
   revision on the first sync);
3. `statefulset_control.update_stateful_set` creates, repairs and deletes pods;
4. the status subresource is written when it changed, even when a write above failed, and
   a finished rolling update makes the update revision current;
5. history beyond revisionHistoryLimit is deleted, oldest first, keeping every revision that
   is current, update, or still labels a pod;
6. a failed write raises (the runtime backs off); otherwise the key requeues when the next
   Ready pod becomes available (minReadySeconds, by the Kubernetes clock via ReadyTracker).
No expectations are kept, as upstream: pod names are fixed, so a sync that runs before the
cache shows its own create gets AlreadyExists and retries, and never makes a second pod.
"""

from __future__ import annotations

import logging
from typing import Any

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.api.selectors import LabelSelector, selector_from_dict
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers import history
from kubemu.cluster.controllers.nodeutil import owned_runtime
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.ownership import ControllerRefManager, controller_of
from kubemu.cluster.controllers.podutil import ReadyTracker, available_in
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller, owner_requests
from kubemu.cluster.controllers.statefulset_control import (
    stateful_set_status,
    update_stateful_set,
)
from kubemu.cluster.controllers.statefulset_pods import StatefulPodControl
from kubemu.cluster.controllers.statefulset_utils import (
    is_member_of,
    is_running_and_ready,
    pod_revision,
)
from kubemu.cluster.timing import Timing

__all__ = ["CONTROLLER_NAME", "StatefulSetController"]

CONTROLLER_NAME = "statefulset-controller"
_API_VERSION, _KIND = "apps/v1", "StatefulSet"

log = logging.getLogger("kubemu.controllers.statefulset")


class StatefulSetController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, workers: int = 5) -> None:
        self.client = client
        self.timing = timing
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._own_recorder = recorder is None
        self.recorder = recorder if recorder is not None else EventRecorder(
            client, timing, component=CONTROLLER_NAME)
        self.ready = ReadyTracker(timing)
        self.sts_informer = self.factory.informer(_API_VERSION, _KIND)
        self.pod_informer = self.factory.informer("v1", "Pod")
        self.rev_informer = self.factory.informer(history.API_VERSION, history.KIND)
        self.pvc_informer = self.factory.informer("v1", "PersistentVolumeClaim")
        self.pod_control = StatefulPodControl(client, self.recorder,
                                              claim_lister=self.pvc_informer.lister)
        self.controller = Controller("statefulset", reconcile=self.reconcile,
                                     clock=timing.clock, workers=workers, sleep=timing.sleep)
        self.pod_informer.add_handler(self.ready.observe, lambda _o, new: self.ready.observe(new),
                                      self.ready.forget)
        self.controller.watch(self.sts_informer)
        self.controller.watch(self.pod_informer, map_to=self._pod_requests)
        self.controller.watch(self.rev_informer, map_to=owner_requests(_KIND))
        self.controller.watch(self.pvc_informer, map_to=self._selecting_sets)

    async def run(self) -> None:
        """Reconcile StatefulSets until `stop()` (or cancellation)."""
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=self.recorder if self._own_recorder else None):
            await self.controller.run([self.sts_informer, self.pod_informer,
                                   self.rev_informer, self.pvc_informer])

    async def stop(self) -> None:
        await self.controller.stop()

    async def reconcile(self, request: Request) -> Result | None:
        sts = self.sts_informer.lister.get(request.name, request.namespace or None)
        if sts is None:
            return None
        try:
            selector = selector_from_dict((sts.get("spec") or {}).get("selector"))
        except ValueError as err:
            log.error("statefulset %s: invalid selector: %s", request.key, err)
            return None
        manager = ControllerRefManager(self.client, sts, selector, api_version=_API_VERSION,
                                       kind=_KIND)
        pods = await manager.claim(self.pod_informer.lister.list(request.namespace),
                                   match=lambda pod: is_member_of(sts, pod))
        revisions = history.sorted_revisions(await self._claim_revisions(sts, selector))
        current, update, collisions = await self._revisions(sts, revisions)
        min_ready = float((sts.get("spec") or {}).get("minReadySeconds") or 0)
        now = self.timing.clock.now()

        def until_available(pod: dict) -> float | None:
            if not is_running_and_ready(pod):
                return None
            return available_in(pod, min_ready, now, ready_since=self.ready.ready_since(pod))

        outcome = await update_stateful_set(sts, pods, current, update,
                                            control=self.pod_control,
                                            available_in=until_available)
        status = stateful_set_status(
            sts, outcome.counts, current=_name(current), update=_name(update),
            collision_count=collisions)
        await self._update_status(sts, status)
        await self._truncate_history(sts, pods, revisions, current, update)
        if outcome.error is not None:
            raise outcome.error
        waits = [w for w in map(until_available, pods) if w]
        return Result(requeue_after=min(waits)) if waits else None

    # -- revisions ---------------------------------------------------------------------------

    async def _claim_revisions(self, sts: dict, selector: LabelSelector) -> list[dict]:
        """The set's revisions, adopting orphans that match its selector (upstream's
        ListControllerRevisions + AdoptOrphanRevisions)."""
        namespace = (sts.get("metadata") or {}).get("namespace") or ""
        uid = (sts.get("metadata") or {}).get("uid")
        owned, orphans = [], []
        for rev in self.rev_informer.lister.list(namespace):
            ref = controller_of(rev)
            if ref is not None:
                if ref.get("uid") == uid:
                    owned.append(rev)
            elif selector.matches((rev.get("metadata") or {}).get("labels")):
                orphans.append(rev)
        if orphans and not (sts.get("metadata") or {}).get("deletionTimestamp"):
            manager = ControllerRefManager(self.client, sts, selector,
                                           api_version=_API_VERSION, kind=_KIND)
            owned += await manager.claim(orphans)
        return owned

    async def _revisions(self, sts: dict, revisions: list[dict]) -> tuple[dict, dict, int]:
        """(current revision, update revision, collision count): upstream's
        getStatefulSetRevisions."""
        collisions = int((sts.get("status") or {}).get("collisionCount") or 0)
        number = history.next_revision(revisions)
        labels = (((sts.get("spec") or {}).get("template") or {}).get("metadata")
                  or {}).get("labels") or {}
        wanted = history.new_revision(sts, history.template_patch(sts), revision=number,
                                      collision_count=collisions, labels=labels,
                                      api_version=_API_VERSION, kind=_KIND)
        equal = history.find_equal_revisions(revisions, wanted)
        if equal and history.equal_revision(revisions[-1], equal[-1]):
            update = revisions[-1]
        elif equal:
            update = await history.update_revision_number(self.client, equal[-1], number)
        else:
            update, collisions = await history.create_revision(
                self.client, sts, wanted, collision_count=collisions,
                get_existing=lambda name: self.rev_informer.lister.get(
                    name, (sts.get("metadata") or {}).get("namespace") or None))
        current_name = (sts.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if _name(r) == current_name), update)
        return current, update, collisions

    async def _truncate_history(self, sts: dict, pods: list[dict], revisions: list[dict],
                                current: dict, update: dict) -> None:
        limit = (sts.get("spec") or {}).get("revisionHistoryLimit")
        if limit is None or int(limit) < 0:
            return
        live = {_name(current), _name(update), *(pod_revision(p) for p in pods)}
        for rev in history.revisions_to_truncate(revisions, live, int(limit)):
            await history.delete_revision(self.client, rev)

    # -- status ------------------------------------------------------------------------------

    async def _update_status(self, sts: dict, status: dict) -> None:
        md = sts.get("metadata") or {}
        old = sts.get("status") or {}
        if status == old:
            return
        patch = {**status, **{k: None for k in old if k not in status}}
        try:
            await self.client.patch(_API_VERSION, _KIND, md.get("name", ""),
                                    {"status": patch}, namespace=md.get("namespace"),
                                    patch_type="merge", subresource="status")
        except NotFound:
            pass  # deleted meanwhile

    # -- event mapping -----------------------------------------------------------------------

    def _pod_requests(self, pod: dict) -> list[Request]:
        ref = controller_of(pod)
        if ref is not None:
            if ref.get("kind") == _KIND and (ref.get("apiVersion") or "").startswith("apps/"):
                namespace = (pod.get("metadata") or {}).get("namespace") or ""
                return [Request(namespace, ref.get("name") or "")]
            return []
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            return []
        return self._selecting_sets(pod)

    def _selecting_sets(self, obj: dict) -> list[Request]:
        md = obj.get("metadata") or {}
        labels = md.get("labels") or {}
        out = []
        for sts in self.sts_informer.lister.list(md.get("namespace") or ""):
            try:
                selector = selector_from_dict((sts.get("spec") or {}).get("selector"))
            except ValueError:
                continue
            if not selector.empty and selector.matches(labels):
                out.append(Request.from_object(sts))
        return out


def _name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name", "")
