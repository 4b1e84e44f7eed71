"""DaemonSetController: one daemon pod on every eligible node (upstream syncDaemonSet).

Level-based on the shared informers of apps/v1 DaemonSets, v1 Pods, v1 Nodes and apps/v1
ControllerRevisions. A pod event wakes its controlling DaemonSet (an orphan: every DaemonSet
of its namespace selecting it); a node added or removed wakes every DaemonSet, a node update
only the DaemonSets whose verdict on it changed (heartbeats change nothing). One sync:
1. gone: drop its expectations; selecting everything: a SelectingAll Warning, nothing else;
   being deleted: nothing (the garbage collector removes its pods);
2. claim the namespace's pods and ControllerRevisions (adopt matching orphans, release owned
   ones that stopped matching) and construct the history (daemonset_history): the current
   revision's hash labels new pods `controller-revision-hash`;
3. while expectations from an earlier sync are unmet, only the status is written;
4. manage (daemonset_plan.plan_node per node): create a pod on each eligible node lacking one
   -- the template with `controller-revision-hash` and `pod-template-generation` labels, the
   automatic tolerations and a required node affinity `metadata.name In [node]`; the default
   scheduler binds it -- and delete pods on nodes that must not run one, duplicates, Succeeded
   pods, Failed pods (backing off per node, FailedDaemonPod Warning), and unscheduled pods
   for nodes that no longer exist (bound pods of deleted nodes are left to pod GC). At most
   `burst_replicas` creates (slow-start batches) and deletes per sync, expectations recorded
   first and lowered by the pod handlers;
5. with expectations met, a RollingUpdate pass (maxUnavailable / maxSurge; OnDelete does
   nothing), then old revisions beyond revisionHistoryLimit that no pod runs are deleted;
6. status: desired/current/misscheduled/ready always, updated/available/unavailable when
   non-zero, observedGeneration (what `kubectl rollout status daemonset` waits on); requeue
   for the next pod to pass minReadySeconds or a failed pod's backoff. A failed write raises
   so the runtime backs the key off.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubemu.cluster.api.errors import ApiError, NotFound
from kubemu.cluster.api.selectors import selector_from_dict
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.daemonset_history import (
    cleanup_history,
    construct_history,
)
from kubemu.cluster.controllers.daemonset_plan import (
    FAILED_DAEMON_POD,
    daemon_set_status,
    merge_status,
    nodes_to_daemon_pods,
    plan_node,
    rolling_update,
    unscheduled_without_node,
)
from kubemu.cluster.controllers.daemonset_util import (
    CONTROLLER_REVISION_HASH,
    FailedPodsBackoff,
    daemon_pod_template,
    is_rolling_update,
    node_fingerprint,
    node_should_run,
    replace_node_name_affinity,
)
from kubemu.cluster.controllers.nodeutil import owned_runtime
from kubemu.cluster.controllers.events import WARNING, EventRecorder
from kubemu.cluster.controllers.expectations import ControllerExpectations
from kubemu.cluster.controllers.ownership import (
    ControllerRefManager,
    controller_of,
    new_controller_ref,
)
from kubemu.cluster.controllers.podcontrol import (
    SLOW_START_INITIAL_BATCH_SIZE,
    PodControl,
    is_namespace_terminating,
    slow_start_batch,
)
from kubemu.cluster.controllers.podutil import ReadyTracker, available_in, pod_key
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller, owner_requests
from kubemu.cluster.timing import Timing

__all__ = ["BURST_REPLICAS", "CONTROLLER_NAME", "SELECTING_ALL", "DaemonSetController"]

CONTROLLER_NAME = "daemonset-controller"
BURST_REPLICAS = 250
SELECTING_ALL = "SelectingAll"
_API_VERSION, _KIND = "apps/v1", "DaemonSet"

log = logging.getLogger("kubemu.controllers.daemonset")


class DaemonSetController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, workers: int = 2,
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
        self.backoff = FailedPodsBackoff()
        self.pod_control = PodControl(client, self.recorder)
        self.ds_informer = self.factory.informer(_API_VERSION, _KIND)
        self.pod_informer = self.factory.informer("v1", "Pod")
        self.node_informer = self.factory.informer("v1", "Node")
        self.history_informer = self.factory.informer("apps/v1", "ControllerRevision")
        self.controller = Controller("daemonset", reconcile=self.reconcile,
                                     clock=timing.clock, workers=workers, sleep=timing.sleep)
        self.pod_informer.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.node_informer.add_handler(self._node_added, self._node_updated,
                                       self._node_deleted)
        self.controller.watch(self.ds_informer)
        self.controller.watch(self.pod_informer, map_to=self._pod_requests)
        self.controller.watch(self.history_informer, map_to=owner_requests(
            _KIND, api_version=_API_VERSION))

    async def run(self) -> None:
        """Reconcile DaemonSets until `stop()` (or cancellation)."""
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=self.recorder if self._own_recorder else None):
            await self.controller.run([self.ds_informer, self.pod_informer,
                                   self.node_informer, self.history_informer])

    async def stop(self) -> None:
        await self.controller.stop()

    async def reconcile(self, request: Request) -> Result | None:
        key = request.key
        ds = self.ds_informer.lister.get(request.name, request.namespace or None)
        if ds is None:
            self.expectations.delete(key)
            return None
        spec, md = ds.get("spec") or {}, ds.get("metadata") or {}
        try:
            selector = selector_from_dict(spec.get("selector"))
        except ValueError as err:
            log.error("daemonset %s: invalid selector: %s", key, err, extra={"ds": key})
            return None
        if selector.empty:
            self.recorder.record(ds, WARNING, SELECTING_ALL, "This daemon set is selecting all "
                                 "pods. A non-empty selector is required.")
            return None
        if md.get("deletionTimestamp"):
            return None
        nodes = self.node_informer.lister.list()
        pods = await ControllerRefManager(self.client, ds, selector, api_version=_API_VERSION,
                                          kind=_KIND).claim(
            self.pod_informer.lister.list(request.namespace))
        revisions = await ControllerRefManager(
            self.client, ds, selector, api_version=_API_VERSION, kind=_KIND).claim(
            self.history_informer.lister.list(request.namespace))
        current, old = await construct_history(self.client, ds, revisions, pods)
        hash_ = ((current.get("metadata") or {}).get("labels") or {}).get(
            CONTROLLER_REVISION_HASH, "")
        now = self.timing.clock.now()
        if not self.expectations.satisfied(key):
            return await self._update_status(ds, nodes, pods, hash_, now, observed=False)
        retry_after = await self._manage(key, ds, nodes, pods, hash_, now)
        if self.expectations.satisfied(key) and is_rolling_update(ds):
            to_delete, to_create = rolling_update(ds, nodes, nodes_to_daemon_pods(pods), hash_,
                                                  available=self._available(ds, now))
            await self._sync_nodes(key, ds, to_delete, to_create, hash_)
        await cleanup_history(self.client, ds, old, {
            (p.get("metadata") or {}).get("labels", {}).get(CONTROLLER_REVISION_HASH, "")
            for p in pods})
        result = await self._update_status(ds, nodes, pods, hash_, now, observed=True)
        if retry_after is not None:
            later = retry_after if result is None or result.requeue_after is None else min(
                retry_after, result.requeue_after)
            return Result(requeue_after=later)
        return result

    # -- manage ------------------------------------------------------------------------------

    async def _manage(self, key: str, ds: dict, nodes: list[dict], pods: list[dict],
                      hash_: str, now: float) -> float | None:
        """Create missing and delete surplus daemon pods; the shortest failed-pod backoff
        still running, if any."""
        node_pods = nodes_to_daemon_pods(pods)
        available = self._available(ds, now)
        to_create: list[str] = []
        to_delete: list[dict] = []
        retry_after: float | None = None
        names = set()
        for node in nodes:
            name = (node.get("metadata") or {}).get("name") or ""
            names.add(name)
            plan = plan_node(node, ds, node_pods.get(name, []), hash_, available=available,
                             backoff=self.backoff, backoff_key=f"{key}/{name}", now=now)
            if plan.needs_pod:
                to_create.append(name)
            to_delete.extend(plan.delete)
            for message in plan.failed:
                self.recorder.record(ds, WARNING, FAILED_DAEMON_POD, message)
            if plan.retry_after is not None:
                retry_after = plan.retry_after if retry_after is None else min(
                    retry_after, plan.retry_after)
        to_delete.extend(unscheduled_without_node(pods, names))
        await self._sync_nodes(key, ds, to_delete, to_create, hash_)
        self.backoff.gc(now)
        return retry_after

    async def _sync_nodes(self, key: str, ds: dict, to_delete: list[dict],
                          to_create: list[str], hash_: str) -> None:
        to_create = to_create[:self.burst_replicas]
        to_delete = to_delete[:self.burst_replicas]
        if not to_create and not to_delete:
            return
        self.expectations.set_expectations(key, add=len(to_create), delete=len(to_delete))
        record = self.expectations.get(key)
        if record is not None:
            record.pending_deletes = {pod_key(p) for p in to_delete}
        template = daemon_pod_template(ds, hash_)
        ref = new_controller_ref(ds, api_version=_API_VERSION, kind=_KIND)
        queue = list(to_create)

        async def create() -> None:
            node = queue.pop(0)

            def pin(pod: dict) -> None:
                pod["spec"]["affinity"] = replace_node_name_affinity(
                    pod["spec"].get("affinity"), node)
            try:
                await self.pod_control.create_pod(template, ds, ref, mutate=pin)
            except ApiError as err:
                self.expectations.creation_observed(key)
                if not is_namespace_terminating(err):
                    raise

        errors: list[BaseException] = []
        if to_create:
            _, error = await slow_start_batch(len(to_create),
                                                      SLOW_START_INITIAL_BATCH_SIZE, create)
            if queue:  # never issued: do not wait to see them
                self.expectations.lower_expectations(key, add=len(queue))
            if error is not None:
                errors.append(error)
        results = await asyncio.gather(*(self._delete(key, ds, p) for p in to_delete))
        errors.extend(r for r in results if r is not None)
        if errors:
            raise errors[0]

    async def _delete(self, key: str, ds: dict, pod: dict) -> BaseException | None:
        md = pod.get("metadata") or {}
        try:
            await self.pod_control.delete_pod(md.get("namespace", ""), md.get("name", ""), ds)
        except ApiError as err:
            self.expectations.deletion_observed(key, pod_key(pod))
            return None if isinstance(err, NotFound) else err
        return None

    # -- status ------------------------------------------------------------------------------

    def _available(self, ds: dict, now: float) -> Any:
        min_ready = float((ds.get("spec") or {}).get("minReadySeconds") or 0)

        def available(pod: dict) -> bool:
            return available_in(pod, min_ready, now,
                                ready_since=self.ready.ready_since(pod)) == 0.0
        return available

    async def _update_status(self, ds: dict, nodes: list[dict], pods: list[dict], hash_: str,
                             now: float, *, observed: bool) -> Result | None:
        old = ds.get("status") or {}
        status = merge_status(ds, daemon_set_status(
            ds, nodes, nodes_to_daemon_pods(pods), hash_, available=self._available(ds, now)),
            observed=observed)
        if status != old:
            md = ds.get("metadata") or {}
            patch = {**status, **{k: None for k in old if k not in status}}
            try:
                await self.client.patch(_API_VERSION, _KIND, md.get("name", ""),
                                        {"status": patch}, namespace=md.get("namespace"),
                                        patch_type="merge", subresource="status")
            except NotFound:
                return None
        return self._next_available(ds, pods, now)

    def _next_available(self, ds: dict, pods: list[dict], now: float) -> Result | None:
        """Requeue when the next ready pod passes minReadySeconds."""
        min_ready = float((ds.get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready <= 0:
            return None
        waits = [w for p in pods if (w := available_in(
            p, min_ready, now, ready_since=self.ready.ready_since(p))) is not None and w > 0]
        return Result(requeue_after=min(waits)) if waits else None

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
        out = []
        for ds in self.ds_informer.lister.list(namespace):
            try:
                selector = selector_from_dict((ds.get("spec") or {}).get("selector"))
            except ValueError:
                continue
            if not selector.empty and selector.matches(labels):
                out.append(Request.from_object(ds))
        return out

    def _pod_added(self, pod: dict) -> None:
        self.ready.observe(pod)
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            self._deletion_seen(pod)
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
        ref = controller_of(pod)
        if ref is None or ref.get("kind") != _KIND:
            return None
        namespace = (pod.get("metadata") or {}).get("namespace") or ""
        ds = self.ds_informer.lister.get(ref.get("name") or "", namespace or None)
        if ds is None or (ds.get("metadata") or {}).get("uid") != ref.get("uid"):
            return None
        return f"{namespace}/{ref.get('name')}" if namespace else ref.get("name") or ""

    # -- node events -------------------------------------------------------------------------

    def _node_added(self, node: dict) -> None:
        self._enqueue_all()

    def _node_deleted(self, node: dict) -> None:
        self._enqueue_all()

    def _node_updated(self, old: dict, new: dict) -> None:
        if node_fingerprint(old) == node_fingerprint(new):
            return  # a heartbeat
        for ds in self.ds_informer.lister.list():
            if node_should_run(old, ds) != node_should_run(new, ds):
                self.controller.enqueue(Request.from_object(ds))

    def _enqueue_all(self) -> None:
        for ds in self.ds_informer.lister.list():
            self.controller.enqueue(Request.from_object(ds))

