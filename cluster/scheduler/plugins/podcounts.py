"""Pod-counting helpers shared by InterPodAffinity and PodTopologySpread.

Both plugins ask, every cycle, questions of the form "how many pods on this node match this
selector" or "which topology pairs do this node's pods contribute". Upstream answers them by
walking every pod of every node in PreFilter/PreScore (in parallel). kubemu walks each node's
pods only when the node changed: a `NodeMemo` keeps, per question (a hashable key naming
everything the answer depends on besides the NodeInfo) and per node name, the answer together
with the NodeInfo `generation` it was computed at. Every change to a NodeInfo (pods, the Node
object) takes a fresh process-wide generation and clones keep theirs, so an equal generation
means an identical node and the answer can be reused; a cycle then costs one dict lookup per
node instead of a walk over all pods of the cluster.

Equality selectors (every requirement `key=value`, as a ReplicaSet's or a Service's) need no
memo: `indexed_counter` counts through the NodeInfo's `pods_by_label` index, reading the
smallest of the selector's buckets, whatever the node's other pods.

`label_matcher` turns a LabelSelector (None standing for upstream's labels.Nothing()) into a
plain predicate over a labels dict, with a fast path for equality-only selectors.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from kubemu.cluster.api.selectors import LabelSelector
from kubemu.cluster.scheduler.nodeinfo import NodeInfo

__all__ = [
    "METADATA_NAME_LABEL",
    "LabelMatcher",
    "NodeMemo",
    "default_namespace_labels",
    "equality_pairs",
    "indexed_counter",
    "label_matcher",
    "pod_labels",
    "pod_namespace",
]

METADATA_NAME_LABEL = "kubernetes.io/metadata.name"

LabelMatcher = Callable[[dict], bool]

_EMPTY: dict = {}


class NodeMemo:
    """Per-node answers keyed by (question, node name), valid while the generation stands."""

    def __init__(self, *, max_questions: int = 512) -> None:
        self.max_questions = max_questions
        self._tables: OrderedDict[Hashable, dict[str, tuple[int, Any]]] = OrderedDict()

    def table(self, key: Hashable) -> dict[str, tuple[int, Any]]:
        """The answers for one question (least recently used questions are dropped)."""
        table = self._tables.get(key)
        if table is None:
            table = self._tables[key] = {}
            if len(self._tables) > self.max_questions:
                self._tables.popitem(last=False)
        else:
            self._tables.move_to_end(key)
        return table

    def get(self, key: Hashable, node_info: NodeInfo,
            compute: Callable[[NodeInfo], Any]) -> Any:
        return self.answers(key, compute)(node_info)

    def answers(self, key: Hashable, compute: Callable[[NodeInfo], Any]
                ) -> Callable[[NodeInfo], Any]:
        """`compute` memoized for one question: resolve the key once per cycle, then call
        the answer per node (hashing a key of parsed terms per node would dominate)."""
        table = self.table(key)

        def answer(node_info: NodeInfo) -> Any:
            hit = table.get(node_info.name)
            if hit is not None and hit[0] == node_info.generation:
                return hit[1]
            value = compute(node_info)
            table[node_info.name] = (node_info.generation, value)
            return value
        return answer


def label_matcher(selector: LabelSelector | None) -> LabelMatcher:
    """A predicate over a labels dict; None matches nothing, an empty selector everything."""
    if selector is None:
        return _nothing
    if selector.empty:
        return _everything
    pairs = equality_pairs(selector)
    if pairs is not None:
        if len(pairs) == 1:
            key, value = pairs[0]
            return lambda labels: labels.get(key) == value
        return lambda labels: all(labels.get(k) == v for k, v in pairs)
    return selector.matches


def equality_pairs(selector: LabelSelector | None) -> tuple[tuple[str, str], ...] | None:
    """The (key, value) pairs of a non-empty selector made only of equalities, else None."""
    if selector is None or selector.empty:
        return None
    requirements = selector.requirements
    if all(r.operator in ("=", "in") and len(r.values) == 1 for r in requirements):
        return tuple((r.key, r.values[0]) for r in requirements)
    return None


def indexed_counter(namespace: str, pairs: tuple[tuple[str, str], ...]
                    ) -> Callable[[NodeInfo], int]:
    """Counts a node's pods in `namespace`, not being deleted, carrying every label pair."""
    buckets = tuple((namespace, k, v) for k, v in pairs)
    if len(buckets) == 1:
        only = buckets[0]
        return lambda info: len(info.pods_by_label.get(only, ()))

    def count(info: NodeInfo) -> int:
        index = info.pods_by_label
        smallest: tuple[dict, ...] | None = None
        for bucket in buckets:
            pods = index.get(bucket)
            if not pods:
                return 0
            if smallest is None or len(pods) < len(smallest):
                smallest = pods
        n = 0
        for pod in smallest or ():
            labels = pod["metadata"]["labels"]
            if all(labels.get(k) == v for k, v in pairs):
                n += 1
        return n
    return count


def pod_namespace(pod: dict) -> str:
    return (pod.get("metadata") or _EMPTY).get("namespace") or ""


def pod_labels(pod: dict) -> dict:
    return (pod.get("metadata") or _EMPTY).get("labels") or _EMPTY


def default_namespace_labels(namespace: str) -> dict:
    """The labels every Namespace carries (the API server sets kubernetes.io/metadata.name)."""
    return {METADATA_NAME_LABEL: namespace}


def _nothing(labels: dict) -> bool:
    return False


def _everything(labels: dict) -> bool:
    return True
