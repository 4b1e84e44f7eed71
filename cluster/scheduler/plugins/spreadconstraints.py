"""Topology spread constraints, parsed (upstream podtopologyspread/common.go) and defaulted.

A `SpreadConstraint` is a pod's `topologySpreadConstraints` entry for one
`whenUnsatisfiable` action: maxSkew, topologyKey, the label selector (a missing labelSelector
matches nothing, as labels.Nothing; `matchLabelKeys` adds `key=value` for each key the pod has),
minDomains (1 when unset), nodeAffinityPolicy (Honor when unset) and nodeTaintsPolicy (Ignore
when unset). `node_included` is upstream matchNodeInclusionPolicies: with Honor the node must
match the pod's nodeSelector / required node affinity, resp. carry no NoSchedule/NoExecute taint
the pod does not tolerate.

Cluster default constraints apply to pods that name none: upstream's system defaults
(`SYSTEM_DEFAULT_CONSTRAINTS`: maxSkew 3 on kubernetes.io/hostname, maxSkew 5 on
topology.kubernetes.io/zone, both ScheduleAnyway) with one selector built from the objects that
own or select the pod (upstream helper.DefaultSelector): the selectors of the Services selecting
the pod, of its controlling ReplicationController, ReplicaSet or StatefulSet. The scheduler's
plugins see only pods and nodes, so the selector comes from a `SelectorsFor` callback;
`DefaultSelector` is that callback over listers (Services, ReplicationControllers, ReplicaSets,
StatefulSets). Without a callback no default constraint applies; an empty selector (the pod
belongs to nothing) means none either, as upstream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubemu.cluster.api.selectors import LabelSelector, Requirement, selector_from_dict
from kubemu.cluster.scheduler.nodeinfo import NodeInfo
from kubemu.cluster.scheduler.plugins.podcounts import LabelMatcher, label_matcher
from kubemu.cluster.scheduler.plugins.tainttoleration import Toleration, tolerated

__all__ = [
    "DO_NOT_SCHEDULE",
    "HONOR",
    "HOSTNAME_LABEL",
    "IGNORE",
    "SCHEDULE_ANYWAY",
    "SYSTEM_DEFAULT_CONSTRAINTS",
    "ZONE_LABEL",
    "DefaultSelector",
    "SelectorsFor",
    "SpreadConstraint",
    "node_included",
    "parse_constraints",
]

DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
HONOR = "Honor"
IGNORE = "Ignore"
HOSTNAME_LABEL = "kubernetes.io/hostname"
ZONE_LABEL = "topology.kubernetes.io/zone"

SYSTEM_DEFAULT_CONSTRAINTS: tuple[dict, ...] = (
    {"maxSkew": 3, "topologyKey": HOSTNAME_LABEL, "whenUnsatisfiable": SCHEDULE_ANYWAY},
    {"maxSkew": 5, "topologyKey": ZONE_LABEL, "whenUnsatisfiable": SCHEDULE_ANYWAY},
)

SelectorsFor = Callable[[dict], "LabelSelector | None"]


@dataclass(frozen=True)
class SpreadConstraint:
    max_skew: int
    topology_key: str
    selector: LabelSelector | None          # None: matches no pod
    min_domains: int = 1
    node_affinity_policy: str = HONOR
    node_taints_policy: str = IGNORE
    matches: LabelMatcher = field(default=label_matcher(None), compare=False, repr=False)

    def with_selector(self, selector: LabelSelector) -> SpreadConstraint:
        return SpreadConstraint(self.max_skew, self.topology_key, selector, self.min_domains,
                                self.node_affinity_policy, self.node_taints_policy,
                                label_matcher(selector))


def parse_constraints(raw: list[dict] | tuple[dict, ...], pod_labels: dict,
                      action: str) -> list[SpreadConstraint]:
    """The constraints whose whenUnsatisfiable is `action` (upstream
    filterTopologySpreadConstraints); an invalid selector raises ValueError."""
    out: list[SpreadConstraint] = []
    for c in raw:
        if c.get("whenUnsatisfiable") != action:
            continue
        raw_selector = c.get("labelSelector")
        selector = None if raw_selector is None else selector_from_dict(raw_selector)
        keys = {k: pod_labels[k] for k in c.get("matchLabelKeys") or () if k in pod_labels}
        if keys:
            extra = [Requirement(k, "=", (v,)) for k, v in keys.items()]
            selector = _with(selector.requirements if selector is not None else (), extra)
        min_domains = c.get("minDomains")
        out.append(SpreadConstraint(
            int(c.get("maxSkew") or 0), c.get("topologyKey") or "", selector,
            int(min_domains) if min_domains is not None else 1,
            c.get("nodeAffinityPolicy") or HONOR, c.get("nodeTaintsPolicy") or IGNORE,
            label_matcher(selector)))
    return out


def node_included(c: SpreadConstraint, node_info: NodeInfo,
                  affinity: Callable[[NodeInfo], bool] | None,
                  tolerations: tuple[Toleration, ...]) -> bool:
    """Upstream matchNodeInclusionPolicies (`affinity` None: the pod has no required node
    affinity or selector, so every node matches)."""
    if c.node_affinity_policy == HONOR and affinity is not None and not affinity(node_info):
        return False
    if c.node_taints_policy == HONOR:
        for taint in node_info.taints:
            if taint[2] in ("NoSchedule", "NoExecute") and not tolerated(tolerations, taint):
                return False
    return True


class DefaultSelector:
    """Upstream helper.DefaultSelector over listers (objects with `list(namespace)` and
    `get(name, namespace)`); any lister may be None."""

    def __init__(self, *, services: Any = None, replication_controllers: Any = None,
                 replica_sets: Any = None, stateful_sets: Any = None) -> None:
        self.services = services
        self.replication_controllers = replication_controllers
        self.replica_sets = replica_sets
        self.stateful_sets = stateful_sets

    def __call__(self, pod: dict) -> LabelSelector:
        meta = pod.get("metadata") or {}
        ns, labels = meta.get("namespace") or "", meta.get("labels") or {}
        label_set: dict[str, str] = {}
        if self.services is not None:
            for service in self.services.list(ns):
                selector = (service.get("spec") or {}).get("selector")
                if selector is None:      # a nil selector matches nothing
                    continue
                if all(labels.get(k) == v for k, v in selector.items()):
                    label_set.update(selector)
        owner = next((r for r in meta.get("ownerReferences") or () if r.get("controller")),
                     None)
        extra: list[Requirement] = []
        if owner is not None:
            kind = (owner.get("apiVersion"), owner.get("kind"))
            name = owner.get("name") or ""
            if kind == ("v1", "ReplicationController") and self.replication_controllers:
                rc = self.replication_controllers.get(name, ns)
                if rc is not None:
                    label_set.update((rc.get("spec") or {}).get("selector") or {})
            elif kind in (("apps/v1", "ReplicaSet"), ("apps/v1", "StatefulSet")):
                lister = self.replica_sets if kind[1] == "ReplicaSet" else self.stateful_sets
                obj = lister.get(name, ns) if lister is not None else None
                if obj is not None:
                    try:
                        extra = list(selector_from_dict(
                            (obj.get("spec") or {}).get("selector")).requirements)
                    except ValueError:
                        extra = []
        base = [Requirement(k, "=", (v,)) for k, v in label_set.items()]
        return _with(tuple(base), extra)


def _with(requirements: tuple[Requirement, ...], extra: list[Requirement]) -> LabelSelector:
    merged = set(requirements) | set(extra)
    return LabelSelector(tuple(sorted(merged, key=lambda r: (r.key, r.operator, r.values))))
