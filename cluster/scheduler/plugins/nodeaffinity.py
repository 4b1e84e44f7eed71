"""NodeAffinity: `spec.nodeSelector` and node affinity decide which nodes a pod may use.

Upstream nodeaffinity plugin. Filter: the node must carry every `nodeSelector` label and match
`requiredDuringSchedulingIgnoredDuringExecution` -- its nodeSelectorTerms are ORed, each term
ANDs its matchExpressions (In, NotIn, Exists, DoesNotExist, Gt, Lt on labels) and matchFields
(metadata.name In/NotIn, one value); a term with no requirement, or one that does not parse,
matches no node. A miss is "node(s) didn't match Pod's node affinity/selector"
(UnschedulableAndUnresolvable). When every term names nodes with `metadata.name In`, PreFilter
narrows the candidates to those names (an empty union: "pod affinity terms conflict"). Score:
the sum of the weights of the `preferredDuringScheduling...` terms a node matches, normalized
so the best node gets 100. Pods with no selector, no required affinity or no preferred terms
skip the matching Filter or Score outright; the rest parse their terms once per cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kubemu.cluster.api.selectors import Requirement
from kubemu.cluster.scheduler.events import (
    ADD,
    NODE,
    UPDATE_NODE_LABEL,
    UPDATE_NODE_TAINT,
    ClusterEvent,
)
from kubemu.cluster.scheduler.interface import (
    SKIP,
    SUCCESS,
    Code,
    CycleState,
    Status,
    restrict_nodes,
)
from kubemu.cluster.scheduler.nodeinfo import NodeInfo, Snapshot
from kubemu.cluster.scheduler.plugins.tainttoleration import default_normalize

__all__ = ["NodeAffinity", "ERR_REASON_POD", "ERR_REASON_CONFLICT", "node_matcher",
           "required_matcher"]

ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
ERR_REASON_CONFLICT = "pod affinity terms conflict"

_PREFILTER_KEY = "PreFilterNodeAffinity"
_PRESCORE_KEY = "PreScoreNodeAffinity"
_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!",
              "Gt": "gt", "Lt": "lt"}

_INTEGER = re.compile(r"[+-]?[0-9]+")   # Go's strconv.ParseInt, base 10

Matcher = Callable[[NodeInfo], bool]


class NodeAffinity:
    name = "NodeAffinity"

    def events(self) -> list[ClusterEvent]:
        return [ClusterEvent(NODE, ADD), ClusterEvent(NODE, UPDATE_NODE_LABEL),
                ClusterEvent(NODE, UPDATE_NODE_TAINT)]

    def pre_filter(self, state: CycleState, pod: dict, snapshot: Snapshot) -> Status:
        spec = pod.get("spec") or {}
        required = _node_affinity(pod).get("requiredDuringSchedulingIgnoredDuringExecution")
        if required is None and spec.get("nodeSelector") is None:
            return SKIP
        state[_PREFILTER_KEY] = required_matcher(pod)
        if required is None:
            return SUCCESS
        names = _named_nodes(required.get("nodeSelectorTerms") or [])
        if names is not None:
            if not names:
                return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_CONFLICT])
            restrict_nodes(state, self.name, names)
        return SUCCESS

    def filter(self, state: CycleState, pod: dict, node_info: NodeInfo) -> Status:
        matcher = state.get(_PREFILTER_KEY)
        if matcher is None:
            matcher = state[_PREFILTER_KEY] = required_matcher(pod)
        if matcher(node_info):
            return SUCCESS
        return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_POD])

    def pre_score(self, state: CycleState, pod: dict, nodes: list[NodeInfo]) -> Status:
        preferred = _preferred(pod)
        if not preferred:
            return SKIP
        state[_PRESCORE_KEY] = preferred
        return SUCCESS

    def score(self, state: CycleState, pod: dict, node_info: NodeInfo) -> int:
        preferred = state.get(_PRESCORE_KEY)
        if preferred is None:
            preferred = _preferred(pod)
        return sum(weight for weight, matches in preferred if matches(node_info))

    def normalize_scores(self, state: CycleState, pod: dict, scores: dict[str, int]) -> None:
        default_normalize(scores)


def required_matcher(pod: dict) -> Matcher:
    """The pod's nodeSelector AND required node affinity as one predicate on a NodeInfo
    (upstream GetRequiredNodeAffinity(pod).Match)."""
    selector = dict((pod.get("spec") or {}).get("nodeSelector") or {})
    required = _node_affinity(pod).get("requiredDuringSchedulingIgnoredDuringExecution")
    terms = None if required is None else node_matcher(required)

    def matches(node_info: NodeInfo) -> bool:
        labels = node_info.labels
        for key, value in selector.items():
            if labels.get(key) != value:
                return False
        return terms is None or terms(node_info)
    return matches


def node_matcher(node_selector: dict) -> Matcher:
    """A v1.NodeSelector (`nodeSelectorTerms`, ORed) as a predicate on a NodeInfo."""
    terms = [t for t in (_parse_term(term) for term in node_selector.get("nodeSelectorTerms")
                         or ()) if t is not None]

    def matches(node_info: NodeInfo) -> bool:
        return any(term(node_info) for term in terms)
    return matches


# ---- helpers -----------------------------------------------------------------------------

def _node_affinity(pod: dict) -> dict:
    return ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}


def _preferred(pod: dict) -> list[tuple[int, Matcher]]:
    result = []
    for term in _node_affinity(pod).get("preferredDuringSchedulingIgnoredDuringExecution") or ():
        weight = term.get("weight") or 0
        parsed = _parse_term(term.get("preference") or {})
        if weight and parsed is not None:
            result.append((weight, parsed))
    return result


def _parse_term(term: dict) -> Matcher | None:
    """A nodeSelectorTerm as a predicate; None when it matches nothing (empty or invalid)."""
    expressions = term.get("matchExpressions") or ()
    fields = term.get("matchFields") or ()
    if not expressions and not fields:
        return None
    requirements: list[Requirement] = []
    for expr in expressions:
        requirement = _requirement(expr)
        if requirement is None:
            return None
        requirements.append(requirement)
    field_checks: list[tuple[str, str, str]] = []
    for expr in fields:
        values = expr.get("values") or []
        if expr.get("operator") not in ("In", "NotIn") or len(values) != 1:
            return None
        field_checks.append((expr.get("key") or "", expr["operator"], values[0]))

    def matches(node_info: NodeInfo) -> bool:
        labels = node_info.labels
        for requirement in requirements:
            if not requirement.matches(labels):
                return False
        for key, operator, value in field_checks:
            actual = node_info.name if key == "metadata.name" else ""
            if (actual == value) != (operator == "In"):
                return False
        return True
    return matches


def _requirement(expr: dict) -> Requirement | None:
    """A label requirement (upstream nodeSelectorRequirementsAsSelector); None if invalid."""
    operator = _OPERATORS.get(expr.get("operator") or "")
    key = expr.get("key") or ""
    values = [str(v) for v in expr.get("values") or ()]
    if operator is None or not key:
        return None
    if operator in ("in", "notin") and not values:
        return None
    if operator in ("exists", "!") and values:
        return None
    if operator in ("gt", "lt"):
        if len(values) != 1:
            return None
        if not _INTEGER.fullmatch(values[0]):
            return None
    return Requirement(key=key, operator=operator, values=tuple(sorted(set(values))))


def _named_nodes(terms: list[dict]) -> set[str] | None:
    """Node names every term pins with `metadata.name In` (union over terms); None when some
    term does not pin names, so every node stays a candidate."""
    names: set[str] | None = None
    for term in terms:
        term_names: set[str] | None = None
        for expr in term.get("matchFields") or ():
            if expr.get("key") == "metadata.name" and expr.get("operator") == "In":
                values = set(expr.get("values") or ())
                term_names = values if term_names is None else term_names & values
        if term_names is None:
            return None
        names = term_names if names is None else names | term_names
    return names
