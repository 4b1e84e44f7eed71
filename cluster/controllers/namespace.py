"""NamespaceController: kube-controller-manager's namespace controller (namespace lifecycle).

A namespace DELETE only marks it Terminating (deletionTimestamp; spec.finalizers still holds
`kubernetes`). This controller empties it and then lets it go, as upstream:
1. read the namespace live (skip it unless Terminating and still holding `kubernetes`);
2. `namespace_deleter.delete_content`: discover every namespaced resource, delete each
   collection with propagationPolicy Background (pods terminate gracefully), count what is
   left and which finalizers hold it;
3. write the five status conditions (NamespaceDeletionDiscoveryFailure, ...GroupVersion-
   ParsingFailure, NamespaceDeletionContentFailure, NamespaceContentRemaining,
   NamespaceFinalizersRemaining) through the status subresource when they changed;
4. failures (discovery, deletes, items left with no reason to wait) raise, and the key is
   retried with backoff (5 s doubling to 60 s, upstream's namespace rate limiter); content
   still terminating requeues after estimate/2 + 1 seconds;
5. once empty, remove `kubernetes` from spec.finalizers with PUT namespaces/<n>/finalize; the
   API server then removes the namespace (its last finalizer gone).
The time since a namespace turned Terminating is measured on the controller's clock from when
this controller first saw it so. The API server must be started with
`finalize_namespaces=False`, or its own sweep races this controller (harmlessly).
"""

from __future__ import annotations

import logging
from typing import Any

from kubemu.cluster.api.errors import NotFound
from kubemu.cluster.api.objects import deep_copy, rfc3339
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.client.ratelimit import ItemExponentialFailureRateLimiter
from kubemu.cluster.client.workqueue import WorkQueue
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.namespace_deleter import (
    conditions, delete_content, merge_conditions,
)
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.timing import Timing

__all__ = ["NamespaceController", "KUBERNETES_FINALIZER", "ContentRemaining"]

log = logging.getLogger("kubemu.controllers.namespace")

KUBERNETES_FINALIZER = "kubernetes"
_BACKOFF_BASE, _BACKOFF_MAX = 5.0, 60.0


class ContentRemaining(Exception):
    """The namespace could not be emptied this time (the conditions say why)."""


class NamespaceController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, workers: int = 2) -> None:
        self.client = client
        self.timing = timing
        self.recorder = recorder
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self.namespaces = self.factory.informer("v1", "Namespace")
        queue = WorkQueue(timing.clock, rate_limiter=ItemExponentialFailureRateLimiter(
            _BACKOFF_BASE, _BACKOFF_MAX))
        self.controller = Controller("namespace", reconcile=self._reconcile,
                                     clock=timing.clock, workers=workers, queue=queue,
                                     sleep=timing.sleep)
        self.controller.watch(self.namespaces)
        self._terminating_since: dict[str, float] = {}  # uid -> clock time first seen

    async def run(self) -> None:
        """Finalize Terminating namespaces until `stop()`."""
        if self._own_factory:
            self.factory.start()
        await self.controller.run([self.namespaces])

    async def stop(self) -> None:
        await self.controller.stop()
        if self._own_factory:
            await self.factory.stop()

    async def _reconcile(self, request: Request) -> Result | None:
        cached = self.namespaces.lister.get(request.name)
        if cached is None or not cached["metadata"].get("deletionTimestamp"):
            return None
        try:
            ns = await self.client.get("v1", "Namespace", request.name)
        except NotFound:
            return None
        md = ns["metadata"]
        if not md.get("deletionTimestamp") or \
                KUBERNETES_FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or ()):
            self._terminating_since.pop(md.get("uid", ""), None)
            return None
        now = self.timing.clock.now()
        since = self._terminating_since.setdefault(md["uid"], now)
        outcome = await delete_content(self.client, request.name, elapsed=now - since)
        ns = await self._update_conditions(ns, conditions(outcome))
        if outcome.errors or outcome.discovery_error:
            raise ContentRemaining(f"namespace {request.name}: "
                                   + "; ".join(filter(None, [outcome.discovery_error,
                                                             *outcome.errors])))
        if outcome.remaining:
            log.info("namespace %s: content remaining %s, waiting %.0fs", request.name,
                     outcome.remaining, outcome.estimate, extra={"namespace": request.name})
            return Result(requeue_after=outcome.estimate / 2 + 1)
        await self._finalize(ns)
        self._terminating_since.pop(md["uid"], None)
        return None

    async def _update_conditions(self, ns: dict, wanted: dict) -> dict:
        updated = deep_copy(ns)
        status = updated.setdefault("status", {})
        if not merge_conditions(status, wanted, rfc3339(self.timing.wall())):
            return ns
        return await self.client.update(updated, subresource="status")

    async def _finalize(self, ns: dict) -> None:
        body = deep_copy(ns)
        spec = body.setdefault("spec", {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or ()
                              if f != KUBERNETES_FINALIZER]
        name = ns["metadata"]["name"]
        try:
            await self.client.raw("PUT", f"/api/v1/namespaces/{name}/finalize", body=body)
        except NotFound:
            return
        log.info("namespace %s: finalized", name, extra={"namespace": name})

