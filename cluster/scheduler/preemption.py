"""DefaultPreemption: the PostFilter that makes room for a pod by evicting lower-priority pods.

Upstream's defaultpreemption plugin and preemption.Evaluator, without I/O. When no node fits:
1. Eligibility: a pod with preemptionPolicy Never does not preempt; nor does a pod whose
   nominated node still holds a lower-priority pod terminating by preemption (its earlier
   victims are still leaving).
2. Candidates: only nodes that failed with a resolvable status (Unschedulable, not
   UnschedulableAndUnresolvable) are tried, starting at a random offset and stopping after
   max(10% of the nodes, 100) candidates. On each, every lower-priority pod is removed; if the
   pod then fits, victims are reprieved one by one, highest priority first, PDB-violating
   ones before the others, so the fewest and least important pods go. A victim "violates" a
   PodDisruptionBudget that selects it and has no disruptionsAllowed left.
3. The node: fewest PDB violations, then the lowest highest-victim priority, the smallest
   sum of victim priorities, the fewest victims, the latest start time among the most
   important victims; then the first candidate.
The result names the node to nominate, the victims and the lower-priority pods nominated to
that node (their nominations are cleared). The scheduler does the I/O: nominatedNodeName
status patch, a DisruptionTarget condition (reason PreemptionByScheduler) and delete per
victim, Event Preempted. Pods of equal or higher priority are never victims.

Failures read as upstream's: "preemption: not eligible due to preemptionPolicy=Never.",
"preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kubemu.cluster.api.selectors import selector_from_dict
from kubemu.cluster.scheduler.diagnosis import Diagnosis, fit_error_message
from kubemu.cluster.scheduler.interface import (
    Code,
    CycleState,
    PostFilterResult,
    Status,
)
from kubemu.cluster.scheduler.nodeinfo import NodeInfo, Snapshot
from kubemu.cluster.scheduler.nominator import Nominator, nominated_node, pod_priority

if TYPE_CHECKING:
    from kubemu.cluster.scheduler.framework import Framework

__all__ = ["DefaultPreemption", "Candidate", "select_victims_on_node", "pick_one_node",
           "terminating_by_preemption", "more_important", "NO_VICTIMS", "NOT_HELPFUL",
           "DISRUPTION_TARGET", "PREEMPTION_BY_SCHEDULER"]

NO_VICTIMS = "No preemption victims found for incoming pod"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
DISRUPTION_TARGET = "DisruptionTarget"
PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"
MIN_CANDIDATE_NODES_PERCENTAGE = 10
MIN_CANDIDATE_NODES_ABSOLUTE = 100
_MAX_INT32 = 2**31 - 1


@dataclass
class Candidate:
    """A node where evicting `victims` (most important first) lets the pod fit."""

    node: str
    victims: list[dict] = field(default_factory=list)
    pdb_violations: int = 0


class DefaultPreemption:
    """PostFilter: preempt lower-priority pods. `pdb_lister` answers the cluster's
    PodDisruptionBudgets (the scheduler wires it to a policy/v1 informer)."""

    name = "DefaultPreemption"

    def __init__(self, *, pdb_lister: Callable[[], list[dict]] | None = None,
                 min_candidate_nodes_percentage: int = MIN_CANDIDATE_NODES_PERCENTAGE,
                 min_candidate_nodes_absolute: int = MIN_CANDIDATE_NODES_ABSOLUTE) -> None:
        self.pdb_lister = pdb_lister
        self.min_percentage = min_candidate_nodes_percentage
        self.min_absolute = min_candidate_nodes_absolute

    def post_filter(self, state: CycleState, pod: dict, snapshot: Snapshot,
                    diagnosis: Diagnosis, framework: Framework, *,
                    nominator: Nominator | None = None
                    ) -> tuple[PostFilterResult | None, Status]:
        eligible, why = self.eligible(pod, snapshot, diagnosis)
        if not eligible:
            return None, Status(Code.UNSCHEDULABLE, [f"preemption: {why}"], self.name)
        candidates, statuses = self.find_candidates(state, pod, snapshot, diagnosis, framework,
                                                    nominator=nominator)
        if not candidates:
            message = fit_error_message(len(snapshot.node_infos), statuses.values())
            return PostFilterResult(""), Status(Code.UNSCHEDULABLE,
                                                [f"preemption: {message}"], self.name)
        best = pick_one_node(candidates)
        lower = [p for p in (nominator.pods_on(best.node) if nominator is not None else ())
                 if pod_priority(p) < pod_priority(pod)]
        return PostFilterResult(best.node, best.victims, lower), Status(Code.SUCCESS)

    def eligible(self, pod: dict, snapshot: Snapshot, diagnosis: Diagnosis) -> tuple[bool, str]:
        """Upstream PodEligibleToPreemptOthers."""
        if (pod.get("spec") or {}).get("preemptionPolicy") == "Never":
            return False, "not eligible due to preemptionPolicy=Never."
        nominated = nominated_node(pod)
        if not nominated:
            return True, ""
        status = _status_of(diagnosis, nominated)
        if status is not None and status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
            return True, ""
        node_info = snapshot.get(nominated)
        if node_info is not None:
            priority = pod_priority(pod)
            if any(pod_priority(p) < priority and terminating_by_preemption(p)
                   for p in node_info.pods):
                return False, "not eligible due to a terminating pod on the nominated node."
        return True, ""

    def find_candidates(self, state: CycleState, pod: dict, snapshot: Snapshot,
                        diagnosis: Diagnosis, framework: Framework, *,
                        nominator: Nominator | None = None
                        ) -> tuple[list[Candidate], dict[str, Status]]:
        """Dry-run preemption on the nodes where it might help; the candidates and, for
        every node, why it is none."""
        statuses: dict[str, Status] = {}
        potential: list[NodeInfo] = []
        for node_info in snapshot.node_infos:
            status = _status_of(diagnosis, node_info.name)
            if status is not None and status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                statuses[node_info.name] = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                                                  [NOT_HELPFUL])
            else:
                potential.append(node_info)
        if not potential:
            return [], statuses
        pdbs = list(self.pdb_lister()) if self.pdb_lister is not None else []
        offset = framework.rng.randrange(len(potential))
        wanted = self._num_candidates(len(potential))
        candidates: list[Candidate] = []
        for i in range(len(potential)):
            node_info = potential[(offset + i) % len(potential)]
            victims, violations, status = select_victims_on_node(
                state.clone(), pod, node_info.clone(), pdbs, framework, nominator=nominator)
            if status.ok:
                candidates.append(Candidate(node_info.name, victims, violations))
                if len(candidates) >= wanted:
                    break
            else:
                statuses[node_info.name] = status
        return candidates, statuses

    def _num_candidates(self, num_nodes: int) -> int:
        """Upstream calculateNumCandidates."""
        n = num_nodes * self.min_percentage // 100
        return min(max(n, self.min_absolute), num_nodes)


def select_victims_on_node(state: CycleState, pod: dict, node_info: NodeInfo,
                           pdbs: list[dict], framework: Any, *,
                           nominator: Nominator | None = None
                           ) -> tuple[list[dict], int, Status]:
    """Upstream SelectVictimsOnNode on a node (and state) the caller lets it mutate: the
    victims (most important first), how many of them violate a PDB, and a status."""
    priority = pod_priority(pod)
    potential = [p for p in node_info.pods if pod_priority(p) < priority]
    if not potential:
        return [], 0, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [NO_VICTIMS])
    for victim in potential:
        framework.remove_pod(state, pod, victim, node_info)
    status = framework.run_filters(state, pod, node_info, nominator=nominator)
    if not status.ok:
        return [], 0, status
    potential.sort(key=_importance)
    violating, non_violating = _split_by_pdb_violation(potential, pdbs)
    victims: list[dict] = []
    violations = 0
    for group, counts in ((violating, True), (non_violating, False)):
        for candidate in group:
            framework.add_pod(state, pod, candidate, node_info)
            if not framework.run_filters(state, pod, node_info, nominator=nominator).ok:
                framework.remove_pod(state, pod, candidate, node_info)
                victims.append(candidate)
                violations += counts
    if violating and non_violating:
        victims.sort(key=_importance)
    return victims, violations, Status(Code.SUCCESS)


def pick_one_node(candidates: list[Candidate]) -> Candidate:
    """Upstream pickOneNodeForPreemption over candidates in discovery order."""
    for candidate in candidates:
        if not candidate.victims:
            return candidate

    def key(c: Candidate) -> tuple:
        top = pod_priority(c.victims[0])
        earliest = min(_start_time(p) for p in c.victims if pod_priority(p) == top)
        total = sum(pod_priority(p) + _MAX_INT32 + 1 for p in c.victims)
        return (c.pdb_violations, top, total, len(c.victims), _negate(earliest))

    best = min(range(len(candidates)), key=lambda i: (key(candidates[i]), i))
    return candidates[best]


def terminating_by_preemption(pod: dict) -> bool:
    """Being deleted, with the DisruptionTarget condition preemption sets."""
    if not (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return any(c.get("type") == DISRUPTION_TARGET and c.get("reason") == PREEMPTION_BY_SCHEDULER
               for c in (pod.get("status") or {}).get("conditions") or ())


def more_important(a: dict, b: dict) -> bool:
    """Upstream MoreImportantPod: higher priority, then the earlier start time."""
    return _importance(a) < _importance(b)


# ---- helpers -----------------------------------------------------------------------------

def _status_of(diagnosis: Diagnosis, node: str) -> Status | None:
    status = diagnosis.node_to_status.get(node)
    return status if status is not None else diagnosis.absent_status


def _start_time(pod: dict) -> str:
    """status.startTime (RFC 3339 sorts as time); a pod not started yet counts as now,
    which sorts after every real timestamp."""
    return (pod.get("status") or {}).get("startTime") or "~"


def _negate(stamp: str) -> tuple[int, ...]:
    """A key under which later timestamps sort first."""
    return tuple(-ord(ch) for ch in stamp)


def _importance(pod: dict) -> tuple[int, str]:
    return -pod_priority(pod), _start_time(pod)


def _split_by_pdb_violation(pods: list[dict], pdbs: list[dict]
                            ) -> tuple[list[dict], list[dict]]:
    """Upstream filterPodsWithPDBViolation: each PDB's disruptionsAllowed is spent by the
    pods it selects in order; a pod finding one exhausted violates it."""
    allowed = [int((pdb.get("status") or {}).get("disruptionsAllowed") or 0) for pdb in pdbs]
    selectors = [_pdb_selector(pdb) for pdb in pdbs]
    violating: list[dict] = []
    non_violating: list[dict] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        violates = False
        for i, pdb in enumerate(pdbs):
            pdb_meta = pdb.get("metadata") or {}
            if pdb_meta.get("namespace") != meta.get("namespace") or selectors[i] is None:
                continue
            if not selectors[i].matches(labels):
                continue
            if meta.get("name") in ((pdb.get("status") or {}).get("disruptedPods") or {}):
                continue   # already being disrupted: counted by the budget
            allowed[i] -= 1
            if allowed[i] < 0:
                violates = True
        (violating if violates else non_violating).append(pod)
    return violating, non_violating


def _pdb_selector(pdb: dict) -> Any:
    """The PDB's selector; None for a missing or empty one (selects nothing, as upstream)."""
    raw = (pdb.get("spec") or {}).get("selector")
    if not raw or not (raw.get("matchLabels") or raw.get("matchExpressions")):
        return None
    try:
        return selector_from_dict(raw)
    except ValueError:
        return None
