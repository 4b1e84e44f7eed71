"""InterPodAffinity: pods attract or repel each other within topology domains.

Upstream interpodaffinity plugin (v1.32). PreFilter counts, per topology pair (key, value):
the existing pods whose required anti-affinity terms match the incoming pod (on nodes with such
pods only), the existing pods matching *all* the incoming pod's required affinity terms, and
those matching each of its required anti-affinity terms. A pod with none of these skips the
Filter. Filter, per node, in upstream's order:
- affinity: the node must carry every term's topologyKey and its domain must hold a matching
  pod -- unless no matching pod exists anywhere and the pod matches its own terms (the first
  pod of a group); else "node(s) didn't match pod affinity rules" (UnschedulableAndUnresolvable);
- anti-affinity: no matching pod in the node's domain of any term, else "node(s) didn't match
  pod anti-affinity rules" (Unschedulable);
- existing pods' anti-affinity: no node label pair counted above, else "node(s) didn't satisfy
  existing pods anti-affinity rules" (Unschedulable).
`add_pod` / `remove_pod` (PreFilterExtensions) update the counts for preemption and nominated
pods on a cloned state.

Score: per topology pair, + weight of the incoming pod's preferred affinity terms an existing pod
matches, - weight for its preferred anti-affinity terms, + hardPodAffinityWeight (1) for each
existing pod's required affinity term the incoming pod matches, +/- weight for existing pods'
preferred (anti-)affinity terms it matches. Pods without preferred terms look only at existing
pods with affinity. A node scores the sum over its label pairs; normalized min..max to 0..100.
Nothing to score: Skip. Namespace labels (for namespaceSelector) come from an optional
`namespace_labels(name)` callback; by default a Namespace carries only
kubernetes.io/metadata.name. Per-node work is memoized by NodeInfo generation (`NodeMemo`),
except for terms with a non-empty namespaceSelector (their answer depends on Namespace labels).
"""

from __future__ import annotations

from kubemu.cluster.scheduler.events import (
    ADD,
    DELETE,
    NODE,
    POD,
    UPDATE_NODE_LABEL,
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
from kubemu.cluster.scheduler.plugins.affinityterms import (
    NamespaceLabels,
    PodAffinityTerms,
    TermCache,
    matches_all,
    parse_pod_affinity,
    per_cycle,
    pod_only,
)
from kubemu.cluster.scheduler.plugins.podcounts import (
    NodeMemo,
    default_namespace_labels,
    pod_labels,
    pod_namespace,
)

__all__ = [
    "ERR_REASON_AFFINITY",
    "ERR_REASON_ANTI_AFFINITY",
    "ERR_REASON_EXISTING_ANTI_AFFINITY",
    "InterPodAffinity",
]

ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"

_PREFILTER_KEY = "PreFilterInterPodAffinity"
_PRESCORE_KEY = "PreScoreInterPodAffinity"
_SNAPSHOT_KEY = "SnapshotInterPodAffinity"
_AFFINITY_FAIL = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_AFFINITY])
_ANTI_FAIL = Status(Code.UNSCHEDULABLE, [ERR_REASON_ANTI_AFFINITY])
_EXISTING_FAIL = Status(Code.UNSCHEDULABLE, [ERR_REASON_EXISTING_ANTI_AFFINITY])

Pair = tuple[str, str]     # (topology key, value)


class InterPodAffinity:
    name = "InterPodAffinity"

    def __init__(self, *, hard_pod_affinity_weight: int = 1,
                 ignore_preferred_terms_of_existing_pods: bool = False,
                 namespace_labels: NamespaceLabels | None = None) -> None:
        self.hard_pod_affinity_weight = hard_pod_affinity_weight
        self.ignore_preferred_terms_of_existing_pods = ignore_preferred_terms_of_existing_pods
        self.namespace_labels = namespace_labels or default_namespace_labels
        self._terms = TermCache()
        self._memo = NodeMemo()

    def events(self) -> list[ClusterEvent]:
        return [ClusterEvent(POD, ADD), ClusterEvent(POD, UPDATE_POD_LABEL),
                ClusterEvent(POD, DELETE), ClusterEvent(NODE, ADD),
                ClusterEvent(NODE, UPDATE_NODE_LABEL)]

    # ---- filter --------------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: dict, snapshot: Snapshot) -> Status:
        state[_SNAPSHOT_KEY] = snapshot
        try:
            terms = parse_pod_affinity(pod)
        except ValueError as err:
            return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [f"parsing pod: {err}"])
        ns_labels = per_cycle(self.namespace_labels)
        existing = self._existing_anti_affinity_counts(pod, snapshot, ns_labels)
        if not existing and not terms.has_required:
            return SKIP
        affinity, anti = self._incoming_counts(terms, snapshot, ns_labels)
        self_match = matches_all(terms.required_affinity, pod_namespace(pod), pod_labels(pod),
                                 ns_labels)
        state[_PREFILTER_KEY] = _FilterState(terms, existing, affinity, anti, self_match)
        return SUCCESS

    def filter(self, state: CycleState, pod: dict, node_info: NodeInfo) -> Status:
        s: _FilterState | None = state.get(_PREFILTER_KEY)
        if s is None:
            return SUCCESS
        labels = node_info.labels
        required = s.terms.required_affinity
        if required:
            exist = True
            for term in required:
                value = labels.get(term.topology_key)
                if value is None:
                    return _AFFINITY_FAIL
                if s.affinity.get((term.topology_key, value), 0) <= 0:
                    exist = False
            if not exist and not (not s.affinity and s.self_match):
                return _AFFINITY_FAIL
        if s.anti:
            for term in s.terms.required_anti_affinity:
                value = labels.get(term.topology_key)
                if value is not None and s.anti.get((term.topology_key, value), 0) > 0:
                    return _ANTI_FAIL
        if s.existing:
            for key, values in s.existing_by_key().items():
                if labels.get(key) in values:
                    return _EXISTING_FAIL
        return SUCCESS

    def add_pod(self, state: CycleState, pod: dict, pod_to_add: dict,
                node_info: NodeInfo) -> None:
        self._update(state, pod, pod_to_add, node_info, 1)

    def remove_pod(self, state: CycleState, pod: dict, pod_to_remove: dict,
                   node_info: NodeInfo) -> None:
        self._update(state, pod, pod_to_remove, node_info, -1)

    # ---- score ---------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: dict, nodes: list[NodeInfo]) -> Status:
        if not nodes:
            return SKIP
        s: _FilterState | None = state.get(_PREFILTER_KEY)
        terms = s.terms if s is not None else parse_pod_affinity(pod, strict=False)
        has_constraints = terms.has_preferred
        if self.ignore_preferred_terms_of_existing_pods and not has_constraints:
            return SKIP
        snapshot: Snapshot | None = state.get(_SNAPSHOT_KEY)
        all_nodes = snapshot.node_infos if snapshot is not None else nodes
        ns, labels = pod_namespace(pod), pod_labels(pod)
        ns_labels = per_cycle(self.namespace_labels)
        key = None
        if pod_only(terms.preferred_affinity + terms.preferred_anti_affinity):
            key = ("score", ns, frozenset(labels.items()),
                   frozenset(ns_labels(ns).items()), terms.preferred_affinity,
                   terms.preferred_anti_affinity, has_constraints)

        def compute(ni: NodeInfo) -> dict[Pair, int]:
            return self._score_pairs(ni, terms, ns, labels, ns_labels, has_constraints)
        topology: dict[str, dict[str, int]] = {}
        answer = compute if key is None else self._memo.answers(key, compute)
        for ni in all_nodes:
            if not (ni.pods if has_constraints else ni.pods_with_affinity) or not ni.labels:
                continue
            pairs = answer(ni)
            for (tkey, value), score in pairs.items():
                values = topology.setdefault(tkey, {})
                values[value] = values.get(value, 0) + score
        if not topology:
            return SKIP
        state[_PRESCORE_KEY] = topology
        return SUCCESS

    def score(self, state: CycleState, pod: dict, node_info: NodeInfo) -> int:
        topology: dict[str, dict[str, int]] = state.get(_PRESCORE_KEY) or {}
        labels = node_info.labels
        total = 0
        for tkey, values in topology.items():
            value = labels.get(tkey)
            if value is not None:
                total += values.get(value, 0)
        return total

    def normalize_scores(self, state: CycleState, pod: dict, scores: dict[str, int]) -> None:
        if not state.get(_PRESCORE_KEY) or not scores:
            return
        low, high = min(scores.values()), max(scores.values())
        diff = high - low
        for name, score in scores.items():
            scores[name] = int(MAX_NODE_SCORE * ((score - low) / diff)) if diff > 0 else 0

    # ---- internals -----------------------------------------------------------------------

    def _existing_anti_affinity_counts(self, pod: dict, snapshot: Snapshot,
                                       ns_labels: NamespaceLabels) -> dict[Pair, int]:
        """Topology pairs of nodes whose pods' required anti-affinity matches `pod`."""
        ns, labels = pod_namespace(pod), pod_labels(pod)
        key = ("existing-anti", ns, frozenset(labels.items()), frozenset(ns_labels(ns).items()))
        cache = self._terms

        def compute(ni: NodeInfo) -> dict[Pair, int]:
            out: dict[Pair, int] = {}
            for existing in ni.pods_with_required_anti_affinity:
                for term in cache.get(existing).required_anti_affinity:
                    if term.matches(ns, labels, ns_labels):
                        _bump(out, term.topology_key, ni.labels, 1)
            return out
        counts: dict[Pair, int] = {}
        answer = self._memo.answers(key, compute)
        for ni in snapshot.node_infos:
            if ni.pods_with_required_anti_affinity:
                for pair, count in answer(ni).items():
                    counts[pair] = counts.get(pair, 0) + count
        return counts

    def _incoming_counts(self, terms: PodAffinityTerms, snapshot: Snapshot,
                         ns_labels: NamespaceLabels
                         ) -> tuple[dict[Pair, int], dict[Pair, int]]:
        """Pairs of existing pods matching all required affinity terms / each anti term."""
        affinity: dict[Pair, int] = {}
        anti: dict[Pair, int] = {}
        required, required_anti = terms.required_affinity, terms.required_anti_affinity
        if not required and not required_anti:
            return affinity, anti

        def compute(ni: NodeInfo) -> tuple[dict[Pair, int], dict[Pair, int]]:
            aff: dict[Pair, int] = {}
            anti_out: dict[Pair, int] = {}
            node_labels = ni.labels
            for existing in ni.pods:
                ns, labels = pod_namespace(existing), pod_labels(existing)
                if required and matches_all(required, ns, labels, ns_labels):
                    for term in required:
                        _bump(aff, term.topology_key, node_labels, 1)
                for term in required_anti:
                    if term.matches(ns, labels, ns_labels):
                        _bump(anti_out, term.topology_key, node_labels, 1)
            return aff, anti_out
        key = (("incoming", required, required_anti)
               if pod_only(required + required_anti) else None)
        answer = compute if key is None else self._memo.answers(key, compute)
        for ni in snapshot.node_infos:
            if not ni.pods:
                continue
            aff, anti_out = answer(ni)
            for pair, count in aff.items():
                affinity[pair] = affinity.get(pair, 0) + count
            for pair, count in anti_out.items():
                anti[pair] = anti.get(pair, 0) + count
        return affinity, anti

    def _score_pairs(self, ni: NodeInfo, terms: PodAffinityTerms, ns: str, labels: dict,
                     ns_labels: NamespaceLabels, has_constraints: bool) -> dict[Pair, int]:
        """Upstream processExistingPod over one node's pods: score per topology pair."""
        out: dict[Pair, int] = {}
        node_labels = ni.labels
        hard = self.hard_pod_affinity_weight
        for existing in (ni.pods if has_constraints else ni.pods_with_affinity):
            e_ns, e_labels = pod_namespace(existing), pod_labels(existing)
            for term in terms.preferred_affinity:
                if term.matches(e_ns, e_labels, ns_labels):
                    _bump(out, term.topology_key, node_labels, term.weight)
            for term in terms.preferred_anti_affinity:
                if term.matches(e_ns, e_labels, ns_labels):
                    _bump(out, term.topology_key, node_labels, -term.weight)
            theirs = self._terms.get(existing)
            if hard > 0:
                for term in theirs.required_affinity:
                    if term.matches(ns, labels, ns_labels):
                        _bump(out, term.topology_key, node_labels, hard)
            for term in theirs.preferred_affinity:
                if term.matches(ns, labels, ns_labels):
                    _bump(out, term.topology_key, node_labels, term.weight)
            for term in theirs.preferred_anti_affinity:
                if term.matches(ns, labels, ns_labels):
                    _bump(out, term.topology_key, node_labels, -term.weight)
        return out

    def _update(self, state: CycleState, pod: dict, other: dict, node_info: NodeInfo,
                delta: int) -> None:
        s: _FilterState | None = state.get(_PREFILTER_KEY)
        if s is None or node_info.node is None:
            return
        ns_labels = per_cycle(self.namespace_labels)
        ns, labels = pod_namespace(pod), pod_labels(pod)
        node_labels = node_info.labels
        for term in self._terms.get(other).required_anti_affinity:
            if term.matches(ns, labels, ns_labels):
                _bump(s.existing, term.topology_key, node_labels, delta, drop_zero=True)
                s._by_key = None
        o_ns, o_labels = pod_namespace(other), pod_labels(other)
        required = s.terms.required_affinity
        if matches_all(required, o_ns, o_labels, ns_labels):
            for term in required:
                _bump(s.affinity, term.topology_key, node_labels, delta, drop_zero=True)
        for term in s.terms.required_anti_affinity:
            if term.matches(o_ns, o_labels, ns_labels):
                _bump(s.anti, term.topology_key, node_labels, delta, drop_zero=True)


class _FilterState:
    """PreFilter's counts; cloned for preemption's what-if evaluations."""

    __slots__ = ("_by_key", "affinity", "anti", "existing", "self_match", "terms")

    def __init__(self, terms: PodAffinityTerms, existing: dict[Pair, int],
                 affinity: dict[Pair, int], anti: dict[Pair, int], self_match: bool) -> None:
        self.terms = terms
        self.existing = existing
        self.affinity = affinity
        self.anti = anti
        self.self_match = self_match
        self._by_key: dict[str, set[str]] | None = None

    def existing_by_key(self) -> dict[str, set[str]]:
        """The counted existing-anti-affinity pairs as topology key -> values (rebuilt after
        an update), so Filter looks up each key once instead of walking every pair."""
        if self._by_key is None:
            by_key: dict[str, set[str]] = {}
            for (key, value), count in self.existing.items():
                if count > 0:
                    by_key.setdefault(key, set()).add(value)
            self._by_key = by_key
        return self._by_key

    def clone(self) -> _FilterState:
        return _FilterState(self.terms, dict(self.existing), dict(self.affinity),
                            dict(self.anti), self.self_match)


def _bump(counts: dict[Pair, int], key: str, node_labels: dict, delta: int, *,
          drop_zero: bool = False) -> None:
    value = node_labels.get(key)
    if value is None:
        return
    pair = (key, value)
    total = counts.get(pair, 0) + delta
    if drop_zero and total == 0:
        counts.pop(pair, None)
    else:
        counts[pair] = total


