"""Pod affinity terms: a pod's podAffinity / podAntiAffinity, parsed once (upstream AffinityTerm).

A `PodAffinityTerm` says "pods matching `labelSelector` in these namespaces, within the same
`topologyKey` domain". Parsed as upstream's framework.AffinityTerm: `namespaces` is the term's
list, or the pod's own namespace when the term names neither namespaces nor a
namespaceSelector; a missing labelSelector or namespaceSelector matches nothing (labels.Nothing),
an empty one everything. `matchLabelKeys` / `mismatchLabelKeys` are merged into the label
selector as `key in (value)` / `key notin (value)` with the owning pod's label values (upstream's
API server merges them at pod creation; merging again is harmless). A term matches a pod when
the pod's namespace is listed or its Namespace's labels match the namespaceSelector, and the
pod's labels match the selector.

`TermCache` memoizes the parsed terms of the pods the scheduler sees over and over (existing pods
on nodes): keyed by object identity, since the scheduler never mutates a pod dict in place.
Existing pods with an unparseable term keep their other terms; the incoming pod's parse errors
are reported (`parse_pod_affinity(strict=True)` raises ValueError).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kubemu.cluster.api.selectors import LabelSelector, selector_from_dict
from kubemu.cluster.scheduler.plugins.podcounts import (
    LabelMatcher,
    label_matcher,
    pod_labels,
    pod_namespace,
)

__all__ = [
    "NO_TERMS",
    "AffinityTerm",
    "NamespaceLabels",
    "PodAffinityTerms",
    "TermCache",
    "matches_all",
    "parse_pod_affinity",
    "per_cycle",
    "pod_only",
]

NamespaceLabels = Callable[[str], dict]


@dataclass(frozen=True)
class AffinityTerm:
    """One parsed (weighted) pod affinity term; hashable by its meaning."""

    namespaces: frozenset[str]
    namespace_selector: LabelSelector | None    # None: matches no namespace by labels
    selector: LabelSelector | None              # None: matches no pod
    topology_key: str
    weight: int = 0
    _labels: LabelMatcher = field(default=label_matcher(None), compare=False, repr=False)
    _ns_labels: LabelMatcher | None = field(default=None, compare=False, repr=False)

    def matches(self, namespace: str, labels: dict, ns_labels: NamespaceLabels) -> bool:
        """Whether a pod in `namespace` with `labels` matches (ns_labels gives a Namespace's
        labels, asked only when the namespaceSelector must decide)."""
        if namespace not in self.namespaces and (
                self._ns_labels is None or not self._ns_labels(ns_labels(namespace))):
            return False
        return self._labels(labels)

    def matches_pod(self, pod: dict, ns_labels: NamespaceLabels) -> bool:
        return self.matches(pod_namespace(pod), pod_labels(pod), ns_labels)


@dataclass(frozen=True)
class PodAffinityTerms:
    """A pod's four lists of terms (preferred ones carry their weight)."""

    required_affinity: tuple[AffinityTerm, ...] = ()
    required_anti_affinity: tuple[AffinityTerm, ...] = ()
    preferred_affinity: tuple[AffinityTerm, ...] = ()
    preferred_anti_affinity: tuple[AffinityTerm, ...] = ()

    @property
    def has_required(self) -> bool:
        return bool(self.required_affinity or self.required_anti_affinity)

    @property
    def has_preferred(self) -> bool:
        return bool(self.preferred_affinity or self.preferred_anti_affinity)


NO_TERMS = PodAffinityTerms()


def parse_pod_affinity(pod: dict, *, strict: bool = True) -> PodAffinityTerms:
    """The pod's parsed terms; with `strict`, an invalid selector raises ValueError, else the
    invalid term is dropped."""
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    pod_aff = affinity.get("podAffinity") or {}
    pod_anti = affinity.get("podAntiAffinity") or {}
    if not pod_aff and not pod_anti:
        return NO_TERMS
    req = "requiredDuringSchedulingIgnoredDuringExecution"
    pref = "preferredDuringSchedulingIgnoredDuringExecution"
    return PodAffinityTerms(
        _terms(pod, pod_aff.get(req), strict, weighted=False),
        _terms(pod, pod_anti.get(req), strict, weighted=False),
        _terms(pod, pod_aff.get(pref), strict, weighted=True),
        _terms(pod, pod_anti.get(pref), strict, weighted=True))


def matches_all(terms: tuple[AffinityTerm, ...], namespace: str, labels: dict,
                ns_labels: NamespaceLabels) -> bool:
    """Upstream podMatchesAllAffinityTerms: at least one term, and every term matches."""
    if not terms:
        return False
    for term in terms:
        if not term.matches(namespace, labels, ns_labels):
            return False
    return True


def pod_only(terms: tuple[AffinityTerm, ...]) -> bool:
    """Whether answers about these terms depend only on pods (no Namespace labels asked),
    so they may be memoized per node."""
    return all(t.namespace_selector is None or t.namespace_selector.empty for t in terms)


def per_cycle(lookup: NamespaceLabels) -> NamespaceLabels:
    """`lookup` memoized for one cycle (a None answer counts as no labels)."""
    seen: dict[str, dict] = {}

    def labels(namespace: str) -> dict:
        found = seen.get(namespace)
        if found is None:
            found = seen[namespace] = lookup(namespace) or {}
        return found
    return labels


class TermCache:
    """Parsed terms of pods by identity (lenient parse), bounded."""

    def __init__(self, *, max_entries: int = 65536) -> None:
        self.max_entries = max_entries
        self._entries: dict[int, tuple[dict, PodAffinityTerms]] = {}

    def get(self, pod: dict) -> PodAffinityTerms:
        hit = self._entries.get(id(pod))
        if hit is not None and hit[0] is pod:
            return hit[1]
        terms = parse_pod_affinity(pod, strict=False)
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[id(pod)] = (pod, terms)
        return terms


# ---- helpers -----------------------------------------------------------------------------

def _terms(pod: dict, raw: list | None, strict: bool, *, weighted: bool
           ) -> tuple[AffinityTerm, ...]:
    out: list[AffinityTerm] = []
    for item in raw or ():
        weight = 0
        if weighted:
            weight = int(item.get("weight") or 0)
            item = item.get("podAffinityTerm") or {}
        try:
            out.append(_term(pod, item, weight))
        except ValueError:
            if strict:
                raise
    return tuple(out)


def _term(pod: dict, term: dict, weight: int) -> AffinityTerm:
    raw_selector = term.get("labelSelector")
    selector = None
    if raw_selector is not None:
        selector = selector_from_dict(_merge_label_keys(pod, term, raw_selector))
    raw_ns = term.get("namespaceSelector")
    ns_selector = None if raw_ns is None else selector_from_dict(raw_ns)
    names = term.get("namespaces") or ()
    if not names and raw_ns is None:
        names = (pod_namespace(pod),)
    return AffinityTerm(frozenset(names), ns_selector, selector, term.get("topologyKey") or "",
                        weight, label_matcher(selector),
                        None if ns_selector is None else label_matcher(ns_selector))


def _merge_label_keys(pod: dict, term: dict, selector: dict) -> dict:
    """The labelSelector with matchLabelKeys / mismatchLabelKeys merged in."""
    match, mismatch = term.get("matchLabelKeys") or (), term.get("mismatchLabelKeys") or ()
    if not match and not mismatch:
        return selector
    labels = pod_labels(pod)
    extra = [{"key": k, "operator": "In", "values": [labels[k]]} for k in match if k in labels]
    extra += [{"key": k, "operator": "NotIn", "values": [labels[k]]}
              for k in mismatch if k in labels]
    if not extra:
        return selector
    merged = dict(selector)
    merged["matchExpressions"] = list(selector.get("matchExpressions") or ()) + extra
    return merged
