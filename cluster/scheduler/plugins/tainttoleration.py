"""TaintToleration: taints repel pods that do not tolerate them.

Upstream tainttoleration plugin. Filter: the first NoSchedule or NoExecute taint of the node
(in the node's order) that no toleration of the pod tolerates rejects the node with
"node(s) had untolerated taint {key: value}" (UnschedulableAndUnresolvable). Score: the number
of PreferNoSchedule taints not tolerated by the pod's tolerations whose effect is empty or
PreferNoSchedule; normalized reversed (fewest intolerable taints scores 100).

A toleration tolerates a taint when its effect is empty or equal, its key is empty or equal,
and its operator is Exists, or Equal (or empty) with an equal value. Tolerations are parsed
once per cycle into tuples; node taints are parsed once per node by NodeInfo.
"""

from __future__ import annotations

from kubemu.cluster.scheduler.events import (
    ADD,
    NODE,
    POD,
    UPDATE_NODE_LABEL,
    UPDATE_NODE_TAINT,
    UPDATE_POD_TOLERATIONS,
    ClusterEvent,
)
from kubemu.cluster.scheduler.interface import (
    MAX_NODE_SCORE,
    SUCCESS,
    Code,
    CycleState,
    Status,
)
from kubemu.cluster.scheduler.nodeinfo import NodeInfo, Snapshot

__all__ = ["TaintToleration", "Toleration", "parse_tolerations", "tolerates", "tolerated",
           "default_normalize"]

Toleration = tuple[str, str, str, str]      # (key, operator, value, effect)
Taint = tuple[str, str, str]                # (key, value, effect)

_PREFILTER_KEY = "PreFilterTaintToleration"
_PRESCORE_KEY = "PreScoreTaintToleration"
_DO_NOT_SCHEDULE = ("NoSchedule", "NoExecute")


class TaintToleration:
    name = "TaintToleration"

    def events(self) -> list[ClusterEvent]:
        return [ClusterEvent(NODE, ADD), ClusterEvent(NODE, UPDATE_NODE_TAINT),
                ClusterEvent(NODE, UPDATE_NODE_LABEL), ClusterEvent(POD, UPDATE_POD_TOLERATIONS)]

    def pre_filter(self, state: CycleState, pod: dict, snapshot: Snapshot) -> Status:
        state[_PREFILTER_KEY] = parse_tolerations(pod)
        return SUCCESS

    def filter(self, state: CycleState, pod: dict, node_info: NodeInfo) -> Status:
        if not node_info.taints:
            return SUCCESS
        tolerations = state.get(_PREFILTER_KEY)
        if tolerations is None:
            tolerations = parse_tolerations(pod)
        for taint in node_info.taints:
            if taint[2] in _DO_NOT_SCHEDULE and not tolerated(tolerations, taint):
                return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                              [f"node(s) had untolerated taint {{{taint[0]}: {taint[1]}}}"])
        return SUCCESS

    def pre_score(self, state: CycleState, pod: dict, nodes: list[NodeInfo]) -> Status:
        state[_PRESCORE_KEY] = _prefer_no_schedule(parse_tolerations(pod))
        return SUCCESS

    def score(self, state: CycleState, pod: dict, node_info: NodeInfo) -> int:
        if not node_info.taints:
            return 0
        tolerations = state.get(_PRESCORE_KEY)
        if tolerations is None:
            tolerations = _prefer_no_schedule(parse_tolerations(pod))
        return sum(1 for taint in node_info.taints
                   if taint[2] == "PreferNoSchedule" and not tolerated(tolerations, taint))

    def score_nodes(self, state: CycleState, pod: dict, nodes: list[NodeInfo]) -> list[int]:
        """`score` of every node (untainted ones, the usual, without a call)."""
        return [self.score(state, pod, ni) if ni.taints else 0 for ni in nodes]

    def normalize_scores(self, state: CycleState, pod: dict, scores: dict[str, int]) -> None:
        default_normalize(scores, reverse=True)


def parse_tolerations(pod: dict) -> tuple[Toleration, ...]:
    return tuple((t.get("key") or "", t.get("operator") or "", t.get("value") or "",
                  t.get("effect") or "")
                 for t in (pod.get("spec") or {}).get("tolerations") or ())


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Upstream Toleration.ToleratesTaint."""
    key, operator, value, effect = toleration
    if effect and effect != taint[2]:
        return False
    if key and key != taint[0]:
        return False
    if operator in ("", "Equal"):
        return value == taint[1]
    return operator == "Exists"


def tolerated(tolerations: tuple[Toleration, ...], taint: Taint) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def default_normalize(scores: dict[str, int], *, reverse: bool = False) -> None:
    """Upstream helper.DefaultNormalizeScore: scale to 0..100 by the maximum; reversed,
    100 minus that (all zero -> all 100 when reversed)."""
    max_count = max(scores.values(), default=0)
    if max_count <= 0:
        if reverse:
            for name in scores:
                scores[name] = MAX_NODE_SCORE
        return
    for name, score in scores.items():
        score = MAX_NODE_SCORE * score // max_count
        scores[name] = MAX_NODE_SCORE - score if reverse else score


def _prefer_no_schedule(tolerations: tuple[Toleration, ...]) -> tuple[Toleration, ...]:
    """Tolerations that can tolerate a PreferNoSchedule taint (empty effect means all)."""
    return tuple(t for t in tolerations if t[3] in ("", "PreferNoSchedule"))
