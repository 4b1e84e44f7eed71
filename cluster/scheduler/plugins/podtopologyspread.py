"""PodTopologySpread: keep matching pods evenly spread over topology domains.

Upstream podtopologyspread plugin (v1.32); constraints are parsed by `spreadconstraints`.
PreFilter (DoNotSchedule constraints; a pod with none skips the Filter) counts, per constraint
and topology value, the pods in the pod's namespace matching the constraint's selector (pods
being deleted excluded) on the nodes that carry every constraint's topologyKey and pass the
constraint's node inclusion policies; those values are the constraint's domains. Filter: a node
without a topologyKey is "node(s) didn't match pod topology spread constraints (missing
required label)" (UnschedulableAndUnresolvable); otherwise `count(domain) + (1 if the pod matches
its own selector) - global minimum` must not exceed maxSkew, else "node(s) didn't match pod
topology spread constraints" (Unschedulable). The global minimum is the smallest domain count,
or 0 while there are fewer domains than minDomains. `add_pod` / `remove_pod` keep the counts
right for preemption and nominated pods.

Score (ScheduleAnyway constraints, or the cluster defaults for a pod with no constraints):
PreScore sizes the domains over the filtered nodes (nodes lacking a key are ignored and score 0,
except under system defaults) and counts matching pods per domain over all nodes (hostname
domains are counted per node in Score). A node scores sum(count * log(domains + 2) + maxSkew -
1) over its constraints, rounded; NormalizeScore reverses it: 100 * (max + min - score) / max,
so the emptiest domain scores highest. Per-node pod counts of an equality selector (the cluster
defaults' ReplicaSet or Service selector) read the NodeInfo's label index, and PreScore asks
only the nodes the cache's label index says hold such pods (`Snapshot.label_nodes`), not every
node; other selectors' counts are memoized by NodeInfo generation (`NodeMemo`), a lookup per
node rather than a walk over every pod.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from kubemu.cluster.scheduler.events import (
    ADD,
    DELETE,
    NODE,
    POD,
    UPDATE_NODE_LABEL,
    UPDATE_NODE_TAINT,
    UPDATE_POD_LABEL,
    ClusterEvent,
)
from kubemu.cluster.scheduler.interface import (
    MAX_NODE_SCORE,
    SKIP,
    SUCCESS,
    Code,
    CycleState,
    Status,
)
from kubemu.cluster.scheduler.nodeinfo import NodeInfo, Snapshot
from kubemu.cluster.scheduler.plugins.nodeaffinity import required_matcher
from kubemu.cluster.scheduler.plugins.podcounts import (
    NodeMemo,
    equality_pairs,
    indexed_counter,
    pod_labels,
    pod_namespace,
)
from kubemu.cluster.scheduler.plugins.spreadconstraints import (
    DO_NOT_SCHEDULE,
    HONOR,
    HOSTNAME_LABEL,
    SCHEDULE_ANYWAY,
    SYSTEM_DEFAULT_CONSTRAINTS,
    SelectorsFor,
    SpreadConstraint,
    node_included,
    parse_constraints,
)
from kubemu.cluster.scheduler.plugins.tainttoleration import parse_tolerations

__all__ = [
    "ERR_REASON_CONSTRAINTS_NOT_MATCH",
    "ERR_REASON_NODE_LABEL_NOT_MATCH",
    "PodTopologySpread",
]

ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"

_PREFILTER_KEY = "PreFilterPodTopologySpread"
_PRESCORE_KEY = "PreScorePodTopologySpread"
_SNAPSHOT_KEY = "SnapshotPodTopologySpread"
_LABEL_FAIL = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_NODE_LABEL_NOT_MATCH])
_SKEW_FAIL = Status(Code.UNSCHEDULABLE, [ERR_REASON_CONSTRAINTS_NOT_MATCH])


class PodTopologySpread:
    name = "PodTopologySpread"

    def __init__(self, *, default_constraints: list[dict] | None = None,
                 selectors_for: SelectorsFor | None = None) -> None:
        """`default_constraints` None: upstream's system defaults; `selectors_for(pod)` gives
        the selector default constraints use (None: pods without constraints are not
        spread). Both are public attributes the scheduler may set after construction."""
        self.system_defaulted = default_constraints is None
        self.default_constraints = (list(SYSTEM_DEFAULT_CONSTRAINTS)
                                    if default_constraints is None else default_constraints)
        self.selectors_for = selectors_for
        self._memo = NodeMemo()

    def events(self) -> list[ClusterEvent]:
        return [ClusterEvent(POD, ADD), ClusterEvent(POD, UPDATE_POD_LABEL),
                ClusterEvent(POD, DELETE), ClusterEvent(NODE, ADD), ClusterEvent(NODE, DELETE),
                ClusterEvent(NODE, UPDATE_NODE_LABEL), ClusterEvent(NODE, UPDATE_NODE_TAINT)]

    # ---- filter --------------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: dict, snapshot: Snapshot) -> Status:
        state[_SNAPSHOT_KEY] = snapshot
        try:
            constraints = self.constraints(pod, DO_NOT_SCHEDULE)
        except ValueError as err:
            return Status(Code.ERROR, [f"get constraints from pod: {err}"])
        if not constraints:
            return SKIP
        counts: list[dict[str, int]] = [{} for _ in constraints]
        inclusion = _Inclusion(pod, constraints)
        ns = pod_namespace(pod)
        keys = [c.topology_key for c in constraints]
        counters = [self._counter(c, ns) for c in constraints]
        for ni in snapshot.node_infos:
            labels = ni.labels
            if any(k not in labels for k in keys):
                continue
            for i, c in enumerate(constraints):
                if inclusion.active and not inclusion.includes(c, ni):
                    continue
                value = labels[c.topology_key]
                domain = counts[i]
                domain[value] = domain.get(value, 0) + counters[i](ni)
        own = pod_labels(pod)
        state[_PREFILTER_KEY] = _FilterState(
            constraints, counts, [1 if c.matches(own) else 0 for c in constraints])
        return SUCCESS

    def filter(self, state: CycleState, pod: dict, node_info: NodeInfo) -> Status:
        s: _FilterState | None = state.get(_PREFILTER_KEY)
        if s is None:
            return SUCCESS
        labels = node_info.labels
        for i, c in enumerate(s.constraints):
            value = labels.get(c.topology_key)
            if value is None:
                return _LABEL_FAIL
            skew = s.counts[i].get(value, 0) + s.self_match[i] - s.min_match(i)
            if skew > c.max_skew:
                return _SKEW_FAIL
        return SUCCESS

    def add_pod(self, state: CycleState, pod: dict, pod_to_add: dict,
                node_info: NodeInfo) -> None:
        self._update(state, pod, pod_to_add, node_info, 1)

    def remove_pod(self, state: CycleState, pod: dict, pod_to_remove: dict,
                   node_info: NodeInfo) -> None:
        self._update(state, pod, pod_to_remove, node_info, -1)

    # ---- score ---------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: dict, nodes: list[NodeInfo]) -> Status:
        snapshot: Snapshot | None = state.get(_SNAPSHOT_KEY)
        all_nodes = snapshot.node_infos if snapshot is not None else nodes
        if not nodes or not all_nodes:
            return SKIP
        try:
            constraints = self.constraints(pod, SCHEDULE_ANYWAY)
        except ValueError as err:
            return Status(Code.ERROR, [f"get constraints from pod: {err}"])
        if not constraints:
            return SKIP
        require_all = bool(_own_constraints(pod)) or not self.system_defaulted
        keys = [c.topology_key for c in constraints]
        ignored: set[str] = set()
        counts: list[dict[str, int]] = [{} for _ in constraints]
        for ni in nodes:
            labels = ni.labels
            if require_all and any(k not in labels for k in keys):
                ignored.add(ni.name)
                continue
            for i, key in enumerate(keys):
                if key != HOSTNAME_LABEL:
                    counts[i].setdefault(labels.get(key, ""), 0)
        weights = [math.log((len(nodes) - len(ignored) if key == HOSTNAME_LABEL
                             else len(counts[i])) + 2) for i, key in enumerate(keys)]
        inclusion = _Inclusion(pod, constraints)
        ns = pod_namespace(pod)
        counters = [self._counter(c, ns) for c in constraints]
        zonal = []
        for i, key in enumerate(keys):
            holding = _holding_nodes(snapshot, constraints[i], ns, counters[i])
            if holding is None:
                if key != HOSTNAME_LABEL:
                    zonal.append(i)
            elif key == HOSTNAME_LABEL:
                counters[i] = lambda ni, _h=holding: _h.get(ni.name, 0)
            else:
                self._count_domains(holding, snapshot, constraints[i], keys, counts[i],
                                    require_all, inclusion)
        if zonal:
            for ni in all_nodes:
                labels = ni.labels
                if require_all and any(k not in labels for k in keys):
                    continue
                for i in zonal:
                    c = constraints[i]
                    value = labels.get(c.topology_key, "")
                    domain = counts[i]
                    if value not in domain:
                        continue
                    if inclusion.active and not inclusion.includes(c, ni):
                        continue
                    domain[value] += counters[i](ni)
        state[_PRESCORE_KEY] = _ScoreState(constraints, ignored, counts, weights, counters)
        return SUCCESS

    def score(self, state: CycleState, pod: dict, node_info: NodeInfo) -> int:
        s: _ScoreState | None = state.get(_PRESCORE_KEY)
        if s is None or node_info.name in s.ignored:
            return 0
        labels = node_info.labels
        total = 0.0
        for i, c in enumerate(s.constraints):
            value = labels.get(c.topology_key)
            if value is None:
                continue
            if c.topology_key == HOSTNAME_LABEL:
                count = s.counters[i](node_info)
            else:
                count = s.counts[i].get(value, 0)
            total += count * s.weights[i] + (c.max_skew - 1)
        return math.floor(total + 0.5)      # Go math.Round (scores are never negative)

    def score_nodes(self, state: CycleState, pod: dict, nodes: list[NodeInfo]) -> list[int]:
        """`score` of every node, the per-cycle lookups done once."""
        s: _ScoreState | None = state.get(_PRESCORE_KEY)
        if s is None:
            return [0] * len(nodes)
        ignored = s.ignored
        terms = [(c.topology_key, c.topology_key == HOSTNAME_LABEL, s.counters[i],
                  s.counts[i], s.weights[i], c.max_skew - 1)
                 for i, c in enumerate(s.constraints)]
        floor = math.floor
        out = []
        for ni in nodes:
            if ignored and ni.name in ignored:
                out.append(0)
                continue
            labels = ni.labels
            total = 0.0
            for key, by_host, counter, counts, weight, extra in terms:
                value = labels.get(key)
                if value is None:
                    continue
                count = counter(ni) if by_host else counts.get(value, 0)
                total += count * weight + extra
            out.append(floor(total + 0.5))
        return out

    def normalize_scores(self, state: CycleState, pod: dict, scores: dict[str, int]) -> None:
        s: _ScoreState | None = state.get(_PRESCORE_KEY)
        if s is None:
            return
        valid = [v for name, v in scores.items() if name not in s.ignored]
        low, high = min(valid, default=0), max(valid, default=0)
        for name, score in scores.items():
            if name in s.ignored:
                scores[name] = 0
            elif high == 0:
                scores[name] = MAX_NODE_SCORE
            else:
                scores[name] = MAX_NODE_SCORE * (high + low - score) // high

    @staticmethod
    def _count_domains(holding: dict[str, int], snapshot: Snapshot, c: SpreadConstraint,
                       keys: list[str], domain: dict[str, int], require_all: bool,
                       inclusion: _Inclusion) -> None:
        """PreScore's count over all nodes, from the nodes holding matching pods alone."""
        for name, n in holding.items():
            ni = snapshot.get(name)
            if ni is None:
                continue
            labels = ni.labels
            if require_all and any(k not in labels for k in keys):
                continue
            value = labels.get(c.topology_key, "")
            if value not in domain:
                continue
            if inclusion.active and not inclusion.includes(c, ni):
                continue
            domain[value] += n

    # ---- constraints and counts ----------------------------------------------------------

    def constraints(self, pod: dict, action: str) -> list[SpreadConstraint]:
        """The pod's constraints for `action`, or the defaults with the owners' selector."""
        own = _own_constraints(pod)
        labels = pod_labels(pod)
        if own:
            return parse_constraints(own, labels, action)
        if self.selectors_for is None:
            return []
        defaults = parse_constraints(self.default_constraints, labels, action)
        if not defaults:
            return []
        selector = self.selectors_for(pod)
        if selector is None or selector.empty:
            return []
        return [c.with_selector(selector) for c in defaults]

    def _counter(self, c: SpreadConstraint, namespace: str) -> Callable[[NodeInfo], int]:
        """Counts a node's pods in `namespace`, not being deleted, matching the selector."""
        if c.selector is None:
            return _zero
        pairs = equality_pairs(c.selector)
        if pairs is not None:
            return indexed_counter(namespace, pairs)
        matches = c.matches

        def compute(info: NodeInfo) -> int:
            n = 0
            for p in info.pods:
                meta = p.get("metadata") or _NO_LABELS
                if (meta.get("namespace") or "") == namespace and \
                        not meta.get("deletionTimestamp") and matches(meta.get("labels") or
                                                                     _NO_LABELS):
                    n += 1
            return n
        answer = self._memo.answers((c.selector, namespace), compute)

        def count(info: NodeInfo) -> int:
            return answer(info) if info.pods else 0
        return count

    def _update(self, state: CycleState, pod: dict, other: dict, node_info: NodeInfo,
                delta: int) -> None:
        s: _FilterState | None = state.get(_PREFILTER_KEY)
        if s is None or node_info.node is None or pod_namespace(other) != pod_namespace(pod):
            return
        labels = node_info.labels
        if any(c.topology_key not in labels for c in s.constraints):
            return
        inclusion = _Inclusion(pod, s.constraints)
        theirs = pod_labels(other)
        for i, c in enumerate(s.constraints):
            if not c.matches(theirs):
                continue
            if inclusion.active and not inclusion.includes(c, node_info):
                continue
            value = labels[c.topology_key]
            s.counts[i][value] = s.counts[i].get(value, 0) + delta
        s.mins = None


_NO_LABELS: dict = {}


def _holding_nodes(snapshot: Snapshot | None, c: SpreadConstraint, namespace: str,
                   count: Callable[[NodeInfo], int]) -> dict[str, int] | None:
    """Node name -> matching pods, for the nodes holding any, when the snapshot's label
    index can say which (an equality selector, a current index); else None."""
    label_nodes = snapshot.label_nodes if snapshot is not None else None
    pairs = equality_pairs(c.selector) if label_nodes is not None else None
    if label_nodes is None or pairs is None:
        return None
    smallest: dict[str, int] | None = None
    for key, value in pairs:
        nodes = label_nodes((namespace, key, value))
        if nodes is None:
            return None
        if smallest is None or len(nodes) < len(smallest):
            smallest = nodes
    holding: dict[str, int] = {}
    for name in smallest or ():
        ni = snapshot.get(name)        # type: ignore[union-attr]
        if ni is not None and (n := count(ni)):
            holding[name] = n
    return holding


def _zero(info: NodeInfo) -> int:
    return 0


class _Inclusion:
    """The pod's node inclusion policy inputs, parsed once per cycle."""

    __slots__ = ("active", "affinity", "tolerations")

    def __init__(self, pod: dict, constraints: list[SpreadConstraint]) -> None:
        spec = pod.get("spec") or {}
        node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
        honor_affinity = any(c.node_affinity_policy == HONOR for c in constraints) and (
            spec.get("nodeSelector") is not None
            or node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") is not None)
        honor_taints = any(c.node_taints_policy == HONOR for c in constraints)
        self.affinity = required_matcher(pod) if honor_affinity else None
        self.tolerations = parse_tolerations(pod) if honor_taints else ()
        self.active = honor_affinity or honor_taints

    def includes(self, c: SpreadConstraint, ni: NodeInfo) -> bool:
        return node_included(c, ni, self.affinity, self.tolerations)


class _FilterState:
    """Domain counts per constraint; the minimum is recomputed after an update."""

    __slots__ = ("constraints", "counts", "mins", "self_match")

    def __init__(self, constraints: list[SpreadConstraint], counts: list[dict[str, int]],
                 self_match: list[int]) -> None:
        self.constraints = constraints
        self.counts = counts
        self.self_match = self_match
        self.mins: list[int] | None = None

    def min_match(self, i: int) -> int:
        """The global minimum for constraint i (0 while domains < minDomains)."""
        if self.mins is None:
            self.mins = [min(d.values()) if len(d) >= c.min_domains and d else 0
                         for c, d in zip(self.constraints, self.counts)]
        return self.mins[i]

    def clone(self) -> _FilterState:
        return _FilterState(self.constraints, [dict(d) for d in self.counts], self.self_match)


class _ScoreState:
    __slots__ = ("constraints", "counters", "counts", "ignored", "weights")

    def __init__(self, constraints: list[SpreadConstraint], ignored: set[str],
                 counts: list[dict[str, int]], weights: list[float],
                 counters: list[Callable[[NodeInfo], int]]) -> None:
        self.constraints = constraints
        self.ignored = ignored
        self.counts = counts
        self.weights = weights
        self.counters = counters


def _own_constraints(pod: dict) -> list[dict]:
    return (pod.get("spec") or {}).get("topologySpreadConstraints") or []
