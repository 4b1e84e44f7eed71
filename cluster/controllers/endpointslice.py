"""EndpointSliceController: discovery.k8s.io/v1 EndpointSlices for every Service with a
selector (upstream pkg/controller/endpointslice, v1.32).

Level-based on shared informers of Services, Pods, EndpointSlices and Nodes. A pod event wakes
the Services of its namespace whose selector matches its old or new labels; a slice event
wakes the Service named by its kubernetes.io/service-name label when this controller manages
it (endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io); a Node change
that moves the zones' CPU shares wakes every Service with topology-mode Auto.

One reconcile of a Service:
1. gone: forget its topology hints and written-slice record (the garbage collector removes
   its slices through their ownerReference); no selector or type ExternalName: nothing to do
   (user-managed slices are left alone);
2. if the slice cache has not yet caught up with this controller's own writes (a created or
   updated slice missing or older, a deleted one still there: upstream's
   endpointSliceTracker), requeue instead of acting on stale state -- this is what keeps two
   syncs from creating the same slice twice;
3. plan with endpointslice_reconciler (desired endpoints from the pods, minimal churn
   packing of at most `max_endpoints_per_slice` per slice);
4. hints: topology-mode Auto -> TopologyCache.add_hints; else trafficDistribution
   PreferClose -> own-zone hints; else none (endpointslice_hints);
5. write: create (not while the Service is being deleted), update (PUT with the cached
   resourceVersion: a stale write gets 409 and backs off), delete. A failed write records a
   FailedToUpdateEndpointSlices Warning event on the Service and raises, so the key backs
   off; pods on unknown nodes also raise after the write (retried later).
"""

from __future__ import annotations

import logging
from typing import Any

from kubemu.cluster.api.errors import ApiError, NotFound
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.client.lister import LABEL_INDEX, label_index
from kubemu.cluster.controllers.endpointslice_hints import (
    TOPOLOGY_AWARE_HINTS_DISABLED, HintEvent, SliceInfo, TopologyCache, hints_enabled,
    prefer_close, remove_hints)
from kubemu.cluster.controllers.endpointslice_reconciler import (
    CONTROLLER_NAME, MAX_ENDPOINTS_PER_SLICE, desired_endpoints, plan_slices)
from kubemu.cluster.controllers.endpointslice_util import (
    LABEL_MANAGED_BY, LABEL_SERVICE_NAME, service_matches_pod, service_selector)
from kubemu.cluster.controllers.nodeutil import owned_runtime
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.timing import Timing

__all__ = ["EndpointSliceController", "COMPONENT", "SERVICE_INDEX"]

COMPONENT = "endpoint-slice-controller"
SERVICE_INDEX = "endpointslice-controller/service"
_SLICE_API = "discovery.k8s.io/v1"
_STALE_REQUEUE = 1.0

log = logging.getLogger("kubemu.controllers.endpointslice")


class EndpointSliceController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, workers: int = 5,
                 max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> None:
        self.client = client
        self.timing = timing
        self.max_endpoints_per_slice = max_endpoints_per_slice
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self._own_recorder = recorder is None
        self.recorder = recorder if recorder is not None else EventRecorder(
            client, timing, component=COMPONENT)
        self.topology = TopologyCache()
        self._written: dict[str, dict[str, int | None]] = {}
        self.service_informer = self.factory.informer("v1", "Service")
        self.pod_informer = self.factory.informer("v1", "Pod",
                                                  indexers={LABEL_INDEX: label_index})
        self.node_informer = self.factory.informer("v1", "Node")
        self.slice_informer = self.factory.informer(
            _SLICE_API, "EndpointSlice", indexers={SERVICE_INDEX: _service_index})
        self.controller = Controller("endpointslice", reconcile=self.reconcile,
                                     clock=timing.clock, workers=workers, sleep=timing.sleep)
        self.controller.watch(self.service_informer)
        self.controller.watch(self.pod_informer, map_to=self._pod_requests)
        self.controller.watch(self.slice_informer, map_to=self._slice_requests)
        self.slice_informer.add_handler(on_delete=self._slice_deleted)
        self.node_informer.add_handler(lambda n: self._nodes_changed(n),
                                       lambda o, n: self._nodes_changed(n),
                                       lambda n: self._nodes_changed(n, gone=True))

    @property
    def informers(self) -> list[Any]:
        return [self.service_informer, self.pod_informer, self.node_informer,
                self.slice_informer]

    async def run(self) -> None:
        """Reconcile Services' EndpointSlices until `stop()` (or cancellation)."""
        async with owned_runtime(factory=self.factory if self._own_factory else None,
                                 recorder=self.recorder if self._own_recorder else None):
            await self.controller.run(self.informers)

    async def stop(self) -> None:
        await self.controller.stop()

    async def reconcile(self, request: Request) -> Result | None:
        key = request.key
        service = self.service_informer.lister.get(request.name, request.namespace or None)
        if service is None:
            self.topology.forget(key)
            self._written.pop(key, None)
            return None
        if service_selector(service) is None:
            return None
        existing = self.slice_informer.lister.by_index(SERVICE_INDEX, key)
        if self._stale(key, existing):
            return Result(requeue_after=_STALE_REQUEUE)
        pods = [p for p in self.pod_informer.lister.with_labels(
            request.namespace, service["spec"]["selector"]) if service_matches_pod(service, p)]
        desired, skipped = desired_endpoints(
            service, pods, lambda name: self.node_informer.lister.get(name))
        plan = plan_slices(service, existing, desired,
                           max_endpoints_per_slice=self.max_endpoints_per_slice)
        info = SliceInfo(key, plan.to_create, plan.to_update, plan.unchanged)
        for event in self._hints(service, key, info):
            self.recorder.record(service, event.type, event.reason, event.message)
        error = await self._write(key, service, info.to_create, info.to_update,
                                  plan.to_delete)
        if error is not None:
            md = service.get("metadata") or {}
            self.recorder.record(service, "Warning", "FailedToUpdateEndpointSlices",
                                 f"Error updating Endpoint Slices for Service "
                                 f"{md.get('namespace')}/{md.get('name')}: {error}")
            raise error
        if skipped:
            raise RuntimeError(f"skipping pods {', '.join(skipped)} for Service {key}: "
                               "Node not found")
        return None

    # -- steps -------------------------------------------------------------------------------

    def _hints(self, service: dict, key: str, info: SliceInfo) -> list[HintEvent]:
        md = service.get("metadata") or {}
        if hints_enabled(md.get("annotations")):
            return self.topology.add_hints(info)
        events: list[HintEvent] = []
        if self.topology.has_populated_hints(key):
            events.append(HintEvent("Warning", "TopologyAwareHintsDisabled",
                                    f"{TOPOLOGY_AWARE_HINTS_DISABLED}, addressType: IPv4"))
            self.topology.forget(key)
        if (service.get("spec") or {}).get("trafficDistribution") == "PreferClose":
            prefer_close(info)
        else:
            remove_hints(info)
        return events

    async def _write(self, key: str, service: dict, to_create: list[dict],
                     to_update: list[dict], to_delete: list[dict]) -> BaseException | None:
        md = service.get("metadata") or {}
        namespace = md.get("namespace") or ""
        written = self._written.setdefault(key, {})
        error: BaseException | None = None
        if not md.get("deletionTimestamp"):
            for slice_ in to_create:
                try:
                    created = await self.client.create(slice_, namespace=namespace)
                except ApiError as err:
                    error = error or err
                    continue
                written[created["metadata"]["name"]] = _rv(created)
        for slice_ in to_update:
            try:
                updated = await self.client.update(slice_)
            except ApiError as err:
                error = error or err
                continue
            written[updated["metadata"]["name"]] = _rv(updated)
        for slice_ in to_delete:
            name = (slice_.get("metadata") or {}).get("name") or ""
            try:
                await self.client.delete(_SLICE_API, "EndpointSlice", name,
                                         namespace=namespace)
            except NotFound:
                pass
            except ApiError as err:
                error = error or err
                continue
            written[name] = None
        return error

    def _stale(self, key: str, existing: list[dict]) -> bool:
        """Whether the cache lacks a write of ours (upstream's StaleSlices); forgets the
        writes it has caught up with."""
        written = self._written.get(key)
        if not written:
            return False
        cached = {(s.get("metadata") or {}).get("name"): _rv(s) for s in existing}
        stale = False
        for name, rv in list(written.items()):
            have = cached.get(name)
            if rv is None:
                caught_up = name not in cached
            else:
                caught_up = have is not None and (have >= rv if have and rv else True)
            if caught_up:
                del written[name]
            else:
                stale = True
        return stale

    # -- events ------------------------------------------------------------------------------

    def _pod_requests(self, pod: dict) -> list[Request]:
        namespace = (pod.get("metadata") or {}).get("namespace") or ""
        return [Request.from_object(svc) for svc in self.service_informer.lister.list(namespace)
                if service_matches_pod(svc, pod)]

    def _slice_requests(self, slice_: dict) -> list[Request]:
        return [Request(*k.split("/", 1)) for k in _service_index(slice_)]

    def _slice_deleted(self, slice_: dict) -> None:
        for key in _service_index(slice_):
            name = (slice_.get("metadata") or {}).get("name")
            written = self._written.get(key)
            if written is not None and name in written:
                del written[name]

    def _nodes_changed(self, node: dict, *, gone: bool = False) -> None:
        before = self.topology.cpu_ratios_by_zone
        if gone:
            self.topology.remove_node(node)
        else:
            self.topology.update_node(node)
        if self.topology.cpu_ratios_by_zone == before:
            return
        for service in self.service_informer.lister.list():
            if hints_enabled((service.get("metadata") or {}).get("annotations")):
                self.controller.enqueue(Request.from_object(service))


# -- helpers ---------------------------------------------------------------------------------

def _service_index(slice_: dict) -> list[str]:
    """`namespace/service` of a slice this controller manages."""
    md = slice_.get("metadata") or {}
    labels = md.get("labels") or {}
    if labels.get(LABEL_MANAGED_BY) != CONTROLLER_NAME or not labels.get(LABEL_SERVICE_NAME):
        return []
    return [f"{md.get('namespace') or ''}/{labels[LABEL_SERVICE_NAME]}"]


def _rv(obj: dict) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0
