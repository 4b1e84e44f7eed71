"""ServiceAccountController: the `default` ServiceAccount and the root CA ConfigMap per namespace.

Two upstream controllers share one queue keyed by namespace name here:
- the ServiceAccounts controller: every active namespace has ServiceAccount `default`; it is
  created when missing and recreated when deleted (a Terminating namespace gets nothing);
- the root-ca-cert-publisher: with `ca_cert` given, every active namespace has ConfigMap
  `kube-root-ca.crt` whose data is exactly {"ca.crt": ca_cert} and which carries upstream's
  `kubernetes.io/description` annotation; a ConfigMap that drifted is updated back.
Namespace events, and events of a `default` ServiceAccount or `kube-root-ca.crt` ConfigMap,
queue their namespace; the reconcile reads the caches and writes only what is missing or
wrong (AlreadyExists means the cache lagged, and is fine).
"""

from __future__ import annotations

import logging
from typing import Any

from kubemu.cluster.api.errors import AlreadyExists, Forbidden, NotFound
from kubemu.cluster.api.objects import deep_copy
from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.controllers.events import EventRecorder
from kubemu.cluster.controllers.reconcile import Request, Result
from kubemu.cluster.controllers.runtime import Controller
from kubemu.cluster.timing import Timing

__all__ = ["ServiceAccountController", "DEFAULT_SERVICE_ACCOUNT", "ROOT_CA_CONFIGMAP",
           "ROOT_CA_KEY", "DESCRIPTION_ANNOTATION", "ROOT_CA_DESCRIPTION"]

log = logging.getLogger("kubemu.controllers.serviceaccount")

DEFAULT_SERVICE_ACCOUNT = "default"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
ROOT_CA_KEY = "ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
ROOT_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters.")


class ServiceAccountController:
    def __init__(self, client: Any, timing: Timing, *, factory: InformerFactory | None = None,
                 recorder: EventRecorder | None = None, ca_cert: str | None = None,
                 workers: int = 1) -> None:
        self.client = client
        self.timing = timing
        self.recorder = recorder
        self.ca_cert = ca_cert
        self._own_factory = factory is None
        self.factory = factory if factory is not None else InformerFactory(client, timing)
        self.namespaces = self.factory.informer("v1", "Namespace")
        self.service_accounts = self.factory.informer("v1", "ServiceAccount")
        self.configmaps = self.factory.informer("v1", "ConfigMap") if ca_cert is not None \
            else None
        self.controller = Controller("serviceaccount", reconcile=self._reconcile,
                                     clock=timing.clock, workers=workers, sleep=timing.sleep)
        self.controller.watch(self.namespaces)
        self.controller.watch(self.service_accounts,
                              map_to=_namespace_of_named(DEFAULT_SERVICE_ACCOUNT))
        if self.configmaps is not None:
            self.controller.watch(self.configmaps, map_to=_namespace_of_named(ROOT_CA_CONFIGMAP))

    async def run(self) -> None:
        """Keep every active namespace's ServiceAccount (and CA ConfigMap) until `stop()`."""
        if self._own_factory:
            self.factory.start()
        informers = [self.namespaces, self.service_accounts]
        if self.configmaps is not None:
            informers.append(self.configmaps)
        await self.controller.run(informers)

    async def stop(self) -> None:
        await self.controller.stop()
        if self._own_factory:
            await self.factory.stop()

    async def _reconcile(self, request: Request) -> Result | None:
        namespace = request.name
        ns = self.namespaces.lister.get(namespace)
        if ns is None or not _active(ns):
            return None
        if self.service_accounts.lister.get(DEFAULT_SERVICE_ACCOUNT, namespace) is None:
            await self._create({"apiVersion": "v1", "kind": "ServiceAccount",
                                "metadata": {"name": DEFAULT_SERVICE_ACCOUNT,
                                             "namespace": namespace}})
        if self.configmaps is not None and self.ca_cert is not None:
            await self._publish_root_ca(namespace, self.ca_cert)
        return None

    async def _publish_root_ca(self, namespace: str, ca_cert: str) -> None:
        assert self.configmaps is not None
        data = {ROOT_CA_KEY: ca_cert}
        current = self.configmaps.lister.get(ROOT_CA_CONFIGMAP, namespace)
        if current is None:
            await self._create({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": namespace,
                                             "annotations": {
                                                 DESCRIPTION_ANNOTATION: ROOT_CA_DESCRIPTION}},
                                "data": data})
            return
        annotations = (current.get("metadata") or {}).get("annotations") or {}
        if current.get("data") == data and annotations.get(DESCRIPTION_ANNOTATION):
            return
        updated = deep_copy(current)
        updated["data"] = data
        updated["metadata"].setdefault("annotations", {})[DESCRIPTION_ANNOTATION] = \
            ROOT_CA_DESCRIPTION
        try:
            await self.client.update(updated)
        except NotFound:
            self.controller.enqueue(Request("", namespace))

    async def _create(self, obj: dict) -> None:
        md = obj["metadata"]
        try:
            await self.client.create(obj)
            log.info("serviceaccount: created %s %s/%s", obj["kind"], md["namespace"],
                     md["name"], extra={"namespace": md["namespace"]})
        except AlreadyExists:
            pass
        except (Forbidden, NotFound):
            pass  # the namespace is terminating or gone


def _active(ns: dict) -> bool:
    return not (ns.get("metadata") or {}).get("deletionTimestamp") and \
        (ns.get("status") or {}).get("phase") != "Terminating"


def _namespace_of_named(name: str) -> Any:
    def namespaces(obj: dict) -> list[Request]:
        md = obj.get("metadata") or {}
        if md.get("name") != name or not md.get("namespace"):
            return []
        return [Request("", md["namespace"])]

    return namespaces
