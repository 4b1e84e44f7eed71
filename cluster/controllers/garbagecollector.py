"""GarbageCollector: kube-controller-manager's garbage collector (ownerReferences).

Informers (from the shared factory) on the kinds that own or are owned in practice feed an
`OwnerIndex` (gc_graph) and a work queue keyed by `ObjectRef` (apiVersion, kind, namespace,
name); custom resources join when their CRD is Established (one informer per CRD, at its
storage version). Handlers only enqueue: an object whose owner links changed, an object being
deleted with the `orphan` or `foregroundDeletion` finalizer (and, for the latter, all its
dependents), the dependents of a deleted object, and the owners of a changed or deleted
dependent. `reconcile(ref)` is level-based and reads the cache:
- a dependent: each owner is SOLID, DANGLING or WAITING. An owner missing from the cache (or
  cached with another uid) is looked up live (404 or another uid: dangling, remembered by
  uid). A namespaced owner resolves in the dependent's namespace, a cluster-scoped one
  (Node -> Lease) cluster-wide; a cluster-scoped dependent naming a namespaced owner is
  invalid (a Warning Event, no action). `gc_graph.decide` picks the action, which is re-checked
  against a live GET of the dependent before it runs. Deletes carry a uid precondition;
  owner-ref removals are merge patches with a resourceVersion precondition.
- an owner with deletionTimestamp and `orphan`: every dependent loses its refs to the owner,
  then the finalizer goes. With `foregroundDeletion`: its dependents are queued (each one finds
  its owner WAITING and is deleted); once no dependent with blockOwnerDeletion=true is left in
  the cache, the finalizer goes, and the API server removes the owner.
Finalizer removals read the owner live and patch with its resourceVersion, retrying on
conflict. Failures raise, so the runtime retries the key with backoff; `run()` never dies on
an ApiError. Dependents of kinds without an informer are not collected (as upstream, whose
graph covers only what it can watch).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from kubemu.cluster.api.errors import Conflict, NotFound
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.client.informer import Informer
from kubemu.cluster.controllers.events import WARNING, EventRecorder
from kubemu.cluster.controllers.gc_graph import (
    FOREGROUND, ORPHAN, ObjectRef, OwnerIndex, OwnerState, blocks_owner, decide, group_of,
    is_deleting_dependents, owner_uids,
)
from kubemu.cluster.controllers.reconcile import Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.timing import Timing

__all__ = ["GarbageCollector", "GC_KINDS"]

log = logging.getLogger("kubemu.controllers.garbagecollector")

GC_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "Pod"), ("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"),
    ("v1", "ServiceAccount"), ("v1", "PersistentVolumeClaim"), ("v1", "Endpoints"),
    ("v1", "Node"), ("apps/v1", "ReplicaSet"), ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"), ("apps/v1", "DaemonSet"), ("apps/v1", "ControllerRevision"),
    ("batch/v1", "Job"), ("batch/v1", "CronJob"), ("discovery.k8s.io/v1", "EndpointSlice"),
    ("policy/v1", "PodDisruptionBudget"), ("coordination.k8s.io/v1", "Lease"),
)
_CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
_ABSENT_REMEMBERED = 4096
_PATCH_RETRIES = 5


class GarbageCollector:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, workers: int = 2,
                 kinds: Iterable[tuple[str, str]] = GC_KINDS,
                 custom_resources: bool = True) -> None:
        self.client = client
        self.timing = timing
        self.recorder = recorder
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self.index = OwnerIndex()
        self.controller = Controller("garbagecollector", reconcile=self._reconcile,
                                     clock=timing.clock, workers=workers, sleep=timing.sleep)
        self._informers: dict[tuple[str, str], Informer] = {}
        self._absent: OrderedDict[str, None] = OrderedDict()  # owner uids known to be gone
        for api_version, kind in kinds:
            self._watch_kind(api_version, kind)
        if custom_resources:
            crds = self.factory.informer(*_CRD)
            crds.add_handler(on_add=self._crd_seen,
                             on_update=lambda _old, new: self._crd_seen(new))

    async def run(self) -> None:
        """Collect garbage until `stop()`."""
        if self._own_factory:
            self.factory.start()
        await self.controller.run(list(self._informers.values()))

    async def stop(self) -> None:
        await self.controller.stop()
        if self._own_factory:
            await self.factory.stop()

    # -- informers and events ----------------------------------------------------------------

    def _watch_kind(self, api_version: str, kind: str) -> None:
        key = (group_of(api_version), kind)
        if key in self._informers:
            return
        informer = self.factory.informer(api_version, kind)
        self._informers[key] = informer

        def ref(obj: dict) -> ObjectRef:
            return ObjectRef.of(obj, api_version=api_version, kind=kind)

        informer.add_handler(on_add=lambda obj: self._observe(ref(obj), None, obj),
                             on_update=lambda old, new: self._observe(ref(new), old, new),
                             on_delete=lambda obj: self._forget(ref(obj), obj))

    def _crd_seen(self, crd: dict) -> None:
        conditions = (crd.get("status") or {}).get("conditions") or ()
        if not any(c.get("type") == "Established" and c.get("status") == "True"
                   for c in conditions) or (crd.get("metadata") or {}).get("deletionTimestamp"):
            return
        spec = crd.get("spec") or {}
        versions = [v for v in spec.get("versions") or () if v.get("served")]
        if not versions or not spec.get("group"):
            return
        version = next((v for v in versions if v.get("storage")), versions[0])["name"]
        self._watch_kind(f"{spec['group']}/{version}", (spec.get("names") or {}).get("kind", ""))

    def _observe(self, ref: ObjectRef, old: dict | None, new: dict) -> None:
        self.index.upsert(ref, new)
        md = new.get("metadata") or {}
        links_changed = old is None or _links(old) != _links(new)
        if md.get("ownerReferences") and links_changed:
            self.controller.queue.add(ref)
        finalizers = md.get("finalizers") or ()
        if md.get("deletionTimestamp") and (ORPHAN in finalizers or FOREGROUND in finalizers):
            self.controller.queue.add(ref)
            if FOREGROUND in finalizers:
                self._enqueue_all(self.index.dependents(md.get("uid") or ""))
        if old is not None and links_changed:
            self._enqueue_owners(set(owner_uids(old)) | set(owner_uids(new)))

    def _forget(self, ref: ObjectRef, obj: dict) -> None:
        self.index.remove(ref, obj)
        uid = (obj.get("metadata") or {}).get("uid") or ""
        self._enqueue_all(self.index.dependents(uid))
        self._enqueue_owners(owner_uids(obj))

    def _enqueue_owners(self, uids: Iterable[str]) -> None:
        self._enqueue_all(r for r in (self.index.ref_of(u) for u in uids) if r is not None)

    def _enqueue_all(self, refs: Iterable[ObjectRef]) -> None:
        for ref in refs:
            self.controller.queue.add(ref)

    # -- reconcile ---------------------------------------------------------------------------

    async def _reconcile(self, ref: Any) -> Result | None:
        obj = self._cached(ref)
        if obj is None:
            return None
        md = obj.get("metadata") or {}
        if md.get("deletionTimestamp"):
            finalizers = md.get("finalizers") or ()
            if ORPHAN in finalizers:
                await self._orphan_dependents(ref, obj)
            elif FOREGROUND in finalizers:
                await self._process_deleting_dependents(ref, obj)
            return None
        if not md.get("ownerReferences"):
            return None
        states = await self._owner_states(ref, obj, {})
        if states is None:
            return None
        action = decide(obj, states, has_dependents=self.index.has_dependents(md.get("uid")))
        if action is None:
            return None
        try:  # the cache may lag: decide again on the live object
            latest = await self.client.get(ref.api_version, ref.kind, ref.name,
                                           namespace=ref.namespace or None)
        except NotFound:
            return None
        if (latest.get("metadata") or {}).get("uid") != md.get("uid"):
            return None
        states = await self._owner_states(ref, latest, states)
        if states is None:
            return None
        action = decide(latest, states, has_dependents=self.index.has_dependents(md.get("uid")))
        if action is None:
            return None
        if action.delete_policy is not None:
            log.info("garbagecollector: deleting %s (propagationPolicy %s)", ref,
                     action.delete_policy, extra={"object": str(ref)})
            await self._delete(ref, md["uid"], action.delete_policy)
        elif action.remove_owners:
            await self._remove_owner_refs(ref, md["uid"], action.remove_owners)
        return None

    async def _owner_states(self, ref: ObjectRef, obj: dict,
                            known: dict[str, OwnerState]) -> dict[str, OwnerState] | None:
        """The state of each owner of `obj` (None: a ref is invalid; nothing to do)."""
        states: dict[str, OwnerState] = {}
        for owner in (obj.get("metadata") or {}).get("ownerReferences") or ():
            uid = owner.get("uid") or ""
            if uid in known:
                states[uid] = known[uid]
                continue
            state = await self._owner_state(ref, obj, owner)
            if state is None:
                return None
            states[uid] = state
        return states

    async def _owner_state(self, ref: ObjectRef, obj: dict, owner: dict) -> OwnerState | None:
        uid = owner.get("uid") or ""
        if uid in self._absent:
            return OwnerState.DANGLING
        api_version, kind, name = owner.get("apiVersion", ""), owner.get("kind", ""), \
            owner.get("name", "")
        resource = await self.client.resource(api_version, kind)  # unknown kind: retry later
        if resource.namespaced and not ref.namespace:
            if self.recorder is not None:
                self.recorder.record(obj, WARNING, "OwnerRefInvalidNamespace",
                                     f"ownerRef {_describe(owner)} does not exist in "
                                     f"namespace \"\"")
            return None
        namespace = ref.namespace if resource.namespaced else ""
        informer = self._informers.get((group_of(api_version), kind))
        found = informer.lister.get(name, namespace or None) if informer is not None else None
        if found is None or (found.get("metadata") or {}).get("uid") != uid:
            try:
                found = await self.client.get(api_version, kind, name,
                                              namespace=namespace or None)
            except NotFound:
                found = None
            if found is None or (found.get("metadata") or {}).get("uid") != uid:
                self._remember_absent(uid)
                return OwnerState.DANGLING
        return OwnerState.WAITING if is_deleting_dependents(found) else OwnerState.SOLID

    async def _process_deleting_dependents(self, ref: ObjectRef, owner: dict) -> None:
        uid = owner["metadata"].get("uid") or ""
        dependents = [(r, self._cached(r)) for r in self.index.dependents(uid)]
        blocking = [r for r, d in dependents if d is not None and blocks_owner(d, uid)]
        if not blocking:
            await self._remove_finalizer(ref, uid, FOREGROUND)
            return
        for dep_ref, dep in dependents:
            if dep is not None and not (dep.get("metadata") or {}).get("deletionTimestamp"):
                self.controller.queue.add(dep_ref)

    async def _orphan_dependents(self, ref: ObjectRef, owner: dict) -> None:
        uid = owner["metadata"].get("uid") or ""
        for dep_ref in self.index.dependents(uid):
            dep = self._cached(dep_ref)
            if dep is not None:
                await self._remove_owner_refs(dep_ref, dep["metadata"].get("uid") or "",
                                              frozenset({uid}))
        await self._remove_finalizer(ref, uid, ORPHAN)

    # -- writes ------------------------------------------------------------------------------

    async def _delete(self, ref: ObjectRef, uid: str, policy: str) -> None:
        try:
            await self.client.delete(ref.api_version, ref.kind, ref.name,
                                     namespace=ref.namespace or None,
                                     propagation_policy=policy, preconditions={"uid": uid})
        except NotFound:
            pass
        except Conflict:
            pass  # another object of that name now: not ours to delete

    async def _remove_owner_refs(self, ref: ObjectRef, uid: str,
                                 owners: frozenset[str]) -> None:
        """Drop the refs to `owners` from the live object (merge patch guarded by its
        resourceVersion, retried on conflict)."""
        await self._patch_metadata(ref, uid, lambda md: _without_refs(md, owners))

    async def _remove_finalizer(self, ref: ObjectRef, uid: str, finalizer: str) -> None:
        await self._patch_metadata(ref, uid, lambda md: _without_finalizer(md, finalizer))

    async def _patch_metadata(self, ref: ObjectRef, uid: str, change: Any) -> None:
        for _ in range(_PATCH_RETRIES):
            try:
                live = await self.client.get(ref.api_version, ref.kind, ref.name,
                                             namespace=ref.namespace or None)
            except NotFound:
                return
            md = live.get("metadata") or {}
            if md.get("uid") != uid:
                return
            patch = change(md)
            if patch is None:
                return
            patch["resourceVersion"] = md.get("resourceVersion")
            try:
                await self.client.patch(ref.api_version, ref.kind, ref.name,
                                        {"metadata": patch}, namespace=ref.namespace or None)
                return
            except NotFound:
                return
            except Conflict:
                continue
        raise Conflict(f"{ref}: kept changing while the garbage collector patched it")

    # -- helpers -----------------------------------------------------------------------------

    def _cached(self, ref: ObjectRef) -> dict | None:
        informer = self._informers.get((ref.group, ref.kind))
        if informer is None:
            return None
        return informer.lister.get(ref.name, ref.namespace or None)

    def _remember_absent(self, uid: str) -> None:
        self._absent[uid] = None
        self._absent.move_to_end(uid)
        while len(self._absent) > _ABSENT_REMEMBERED:
            self._absent.popitem(last=False)


def _links(obj: dict) -> tuple:
    """What of an object's owner links matters to the collector."""
    md = obj.get("metadata") or {}
    return (md.get("uid"), tuple((r.get("uid"), bool(r.get("blockOwnerDeletion")))
                                 for r in md.get("ownerReferences") or ()))


def _without_refs(md: dict, owners: frozenset[str]) -> dict | None:
    refs = md.get("ownerReferences") or []
    kept = [r for r in refs if r.get("uid") not in owners]
    if len(kept) == len(refs):
        return None
    return {"ownerReferences": kept or None}


def _without_finalizer(md: dict, finalizer: str) -> dict | None:
    finalizers = md.get("finalizers") or []
    if finalizer not in finalizers:
        return None
    return {"finalizers": [f for f in finalizers if f != finalizer] or None}


def _describe(owner: dict) -> str:
    return (f"[{owner.get('apiVersion')}/{owner.get('kind')}, namespace: , name: "
            f"{owner.get('name')}, uid: {owner.get('uid')}]")

