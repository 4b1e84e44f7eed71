"""Plugin listers: what scheduler plugins read from informers besides Pods and Nodes.

Plugins stay free of informers; they expose a hook the scheduler fills from its shared
informer factory before it starts: the preemption plugin's `pdb_lister` (PodDisruptionBudgets),
PodTopologySpread's `selectors_for` (upstream's DefaultSelector over Services, ReplicaSets and
StatefulSets, which gives pods without constraints the cluster default spreading), and
InterPodAffinity's `namespace_labels` (so namespaceSelector sees real Namespace labels). A hook
already set by the caller is left alone. Returns the informers' sync waits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any

from kubemu.cluster.client.factory import InformerFactory
from kubemu.cluster.scheduler.plugins.interpodaffinity import default_namespace_labels
from kubemu.cluster.scheduler.plugins.spreadconstraints import DefaultSelector

__all__ = ["wire_plugin_listers"]


def wire_plugin_listers(factory: InformerFactory, plugins: Iterable[Any]) -> list[Awaitable]:
    synced: list[Awaitable] = []
    informers: dict[tuple[str, str], Any] = {}

    def informer(api_version: str, kind: str) -> Any:
        if (api_version, kind) not in informers:
            informers[api_version, kind] = inf = factory.informer(api_version, kind)
            synced.append(inf.wait_synced())
        return informers[api_version, kind]

    for plugin in plugins:
        if hasattr(plugin, "pdb_lister") and plugin.pdb_lister is None:
            plugin.pdb_lister = informer("policy/v1", "PodDisruptionBudget").lister.list
        if hasattr(plugin, "selectors_for") and plugin.selectors_for is None:
            plugin.selectors_for = DefaultSelector(
                services=informer("v1", "Service").lister,
                replica_sets=informer("apps/v1", "ReplicaSet").lister,
                stateful_sets=informer("apps/v1", "StatefulSet").lister)
        if getattr(plugin, "namespace_labels", None) is default_namespace_labels:
            namespaces = informer("v1", "Namespace").lister
            plugin.namespace_labels = lambda name, _ns=namespaces: (
                (_ns.get(name) or {}).get("metadata") or {}).get("labels")
    return synced
