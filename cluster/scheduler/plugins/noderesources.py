"""NodeResourcesFit and NodeResourcesBalancedAllocation: does the pod fit, and how well.

NodeResourcesFit (upstream noderesources.Fit) computes the pod's requests once in PreFilter
and rejects a node when the pod would not fit beside the pods already there: "Too many pods",
"Insufficient cpu", "Insufficient memory", "Insufficient ephemeral-storage", "Insufficient
<name>" for scalar resources -- all reasons that apply, as upstream. Its Score uses one
scoring strategy over configured resources (default cpu and memory, weight 1 each) with the
non-zero requests (100m / 200Mi for containers that name none):
  LeastAllocated           (allocatable - requested) * 100 / allocatable, weighted mean
  MostAllocated            requested * 100 / allocatable (capped), weighted mean
  RequestedToCapacityRatio a broken-linear shape of utilization -> score (0..10, scaled x10)
NodeResourcesBalancedAllocation favours nodes whose cpu and memory fractions stay close:
(1 - standard deviation of the fractions) * 100, with the pod's real requests; a best-effort
pod (no requests at all) skips it, as upstream. Integer arithmetic truncates like Go's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from kubemu.cluster.scheduler.events import (
    ADD,
    DELETE,
    NODE,
    POD,
    UPDATE_NODE_ALLOCATABLE,
    UPDATE_NODE_LABEL,
    UPDATE_NODE_TAINT,
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
from kubemu.cluster.scheduler.nodeinfo import (
    NodeInfo,
    Snapshot,
    pod_requests,
    pod_requests_nonzero,
)

__all__ = ["NodeResourcesFit", "NodeResourcesBalancedAllocation", "LEAST_ALLOCATED",
           "MOST_ALLOCATED", "REQUESTED_TO_CAPACITY_RATIO", "DEFAULT_RESOURCES", "DEFAULT_SHAPE"]

LEAST_ALLOCATED = "LeastAllocated"
MOST_ALLOCATED = "MostAllocated"
REQUESTED_TO_CAPACITY_RATIO = "RequestedToCapacityRatio"
DEFAULT_RESOURCES: tuple[tuple[str, int], ...] = (("cpu", 1), ("memory", 1))
# Bin packing, the shape upstream's documentation shows: empty node 0, full node 10.
DEFAULT_SHAPE: tuple[tuple[int, int], ...] = ((0, 0), (100, 10))
MAX_CUSTOM_PRIORITY_SCORE = 10
MAX_UTILIZATION = 100

_PREFILTER_KEY = "PreFilterNodeResourcesFit"
_PRESCORE_KEY = "PreScoreNodeResourcesFit"
_BALANCED_KEY = "PreScoreNodeResourcesBalancedAllocation"


class NodeResourcesFit:
    """Filter on requests against allocatable; score by the configured strategy."""

    name = "NodeResourcesFit"

    def __init__(self, *, scoring_strategy: str = LEAST_ALLOCATED,
                 resources: Sequence[tuple[str, int]] = DEFAULT_RESOURCES,
                 shape: Sequence[tuple[int, int]] = DEFAULT_SHAPE) -> None:
        self.resources = tuple(resources)
        self._cpu_memory = _is_cpu_memory(self.resources)
        if scoring_strategy == LEAST_ALLOCATED:
            self._scorer = _weighted(self.resources, _least_requested)
        elif scoring_strategy == MOST_ALLOCATED:
            self._scorer = _weighted(self.resources, _most_requested)
        elif scoring_strategy == REQUESTED_TO_CAPACITY_RATIO:
            self._scorer = _ratio_scorer(self.resources, shape)
        else:
            raise ValueError(f"scoring strategy {scoring_strategy} is not supported")
        self.scoring_strategy = scoring_strategy

    def events(self) -> list[ClusterEvent]:
        return [ClusterEvent(POD, DELETE), ClusterEvent(NODE, ADD),
                ClusterEvent(NODE, UPDATE_NODE_ALLOCATABLE), ClusterEvent(NODE, UPDATE_NODE_TAINT),
                ClusterEvent(NODE, UPDATE_NODE_LABEL)]

    def pre_filter(self, state: CycleState, pod: dict, snapshot: Snapshot) -> Status:
        requests = pod_requests(pod)
        scalars = tuple(sorted((k, v) for k, v in requests.scalar.items() if v))
        state[_PREFILTER_KEY] = (requests, requests.is_zero(), scalars)
        return SUCCESS

    def filter(self, state: CycleState, pod: dict, node_info: NodeInfo) -> Status:
        prefilter = state.get(_PREFILTER_KEY)
        if prefilter is None:
            self.pre_filter(state, pod, Snapshot([]))
            prefilter = state[_PREFILTER_KEY]
        request, zero, scalars = prefilter
        allocatable = node_info.allocatable
        reasons = ["Too many pods"] if len(node_info.pods) + 1 > allocatable.pods else None
        if zero:
            return SUCCESS if reasons is None else Status(Code.UNSCHEDULABLE, reasons)
        used = node_info.requested
        cpu = request.milli_cpu
        if cpu > 0 and cpu > allocatable.milli_cpu - used.milli_cpu:
            reasons = (reasons or []) + ["Insufficient cpu"]
        memory = request.memory
        if memory > 0 and memory > allocatable.memory - used.memory:
            reasons = (reasons or []) + ["Insufficient memory"]
        storage = request.ephemeral_storage
        if storage > 0 and storage > allocatable.ephemeral_storage - used.ephemeral_storage:
            reasons = (reasons or []) + ["Insufficient ephemeral-storage"]
        for name, quantity in scalars:
            if quantity > allocatable.scalar.get(name, 0) - used.scalar.get(name, 0):
                reasons = (reasons or []) + [f"Insufficient {name}"]
        return SUCCESS if reasons is None else Status(Code.UNSCHEDULABLE, reasons)

    def pre_score(self, state: CycleState, pod: dict, nodes: list[NodeInfo]) -> Status:
        state[_PRESCORE_KEY] = _pod_request_list(pod, self.resources, use_requested=False)
        return SUCCESS

    def score(self, state: CycleState, pod: dict, node_info: NodeInfo) -> int:
        pod_request = state.get(_PRESCORE_KEY)
        if pod_request is None:
            pod_request = _pod_request_list(pod, self.resources, use_requested=False)
        if self._cpu_memory:     # the common case, without the generic per-resource walk
            alloc, used = node_info.allocatable, node_info.non_zero_requested
            return self._scorer((alloc.milli_cpu, alloc.memory),
                                (used.milli_cpu + pod_request[0], used.memory + pod_request[1]))
        return self._scorer(*_allocatable_requested(node_info, self.resources, pod_request,
                                                    use_requested=False))

    def score_nodes(self, state: CycleState, pod: dict, nodes: list[NodeInfo]) -> list[int]:
        """`score` of every node (cpu and memory without a call per node)."""
        if not self._cpu_memory:
            return [self.score(state, pod, ni) for ni in nodes]
        pod_request = state.get(_PRESCORE_KEY)
        if pod_request is None:
            pod_request = _pod_request_list(pod, self.resources, use_requested=False)
        cpu, memory = pod_request[0], pod_request[1]
        scorer = self._scorer
        return [scorer((ni.allocatable.milli_cpu, ni.allocatable.memory),
                       (ni.non_zero_requested.milli_cpu + cpu,
                        ni.non_zero_requested.memory + memory)) for ni in nodes]


class NodeResourcesBalancedAllocation:
    """Score: prefer nodes where the requested fractions of the resources stay balanced."""

    name = "NodeResourcesBalancedAllocation"

    def __init__(self, *, resources: Sequence[tuple[str, int]] = DEFAULT_RESOURCES) -> None:
        self.resources = tuple(resources)
        self._cpu_memory = _is_cpu_memory(self.resources)

    def pre_score(self, state: CycleState, pod: dict, nodes: list[NodeInfo]) -> Status:
        request = _pod_request_list(pod, self.resources, use_requested=True)
        if not any(request):
            return SKIP      # best-effort pods would all pile onto one node
        state[_BALANCED_KEY] = request
        return SUCCESS

    def score(self, state: CycleState, pod: dict, node_info: NodeInfo) -> int:
        pod_request = state.get(_BALANCED_KEY)
        if pod_request is None:
            pod_request = _pod_request_list(pod, self.resources, use_requested=True)
        if self._cpu_memory:
            alloc, used = node_info.allocatable, node_info.requested
            return _balanced_pair(alloc.milli_cpu, used.milli_cpu + pod_request[0],
                                  alloc.memory, used.memory + pod_request[1])
        allocatable, requested = _allocatable_requested(node_info, self.resources, pod_request,
                                                        use_requested=True)
        return _balanced(requested, allocatable)

    def score_nodes(self, state: CycleState, pod: dict, nodes: list[NodeInfo]) -> list[int]:
        """`score` of every node (cpu and memory without a call per node)."""
        if not self._cpu_memory:
            return [self.score(state, pod, ni) for ni in nodes]
        pod_request = state.get(_BALANCED_KEY)
        if pod_request is None:
            pod_request = _pod_request_list(pod, self.resources, use_requested=True)
        cpu, memory = pod_request[0], pod_request[1]
        return [_balanced_pair(ni.allocatable.milli_cpu, ni.requested.milli_cpu + cpu,
                               ni.allocatable.memory, ni.requested.memory + memory)
                for ni in nodes]


# ---- scorers -----------------------------------------------------------------------------

Scorer = Callable[[list[int], list[int]], int]


def _least_requested(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def _most_requested(requested: int, capacity: int) -> int:
    if capacity == 0:
        return 0
    return min(requested, capacity) * MAX_NODE_SCORE // capacity


def _weighted(resources: tuple[tuple[str, int], ...], per_resource: Callable[[int, int], int]
              ) -> Scorer:
    weights = [w for _, w in resources]

    def scorer(allocatable: list[int], requested: list[int]) -> int:
        node_score = weight_sum = 0
        for alloc, req, weight in zip(allocatable, requested, weights):
            if alloc == 0:
                continue
            node_score += per_resource(req, alloc) * weight
            weight_sum += weight
        return node_score // weight_sum if weight_sum else 0
    return scorer


def _ratio_scorer(resources: tuple[tuple[str, int], ...], shape: Sequence[tuple[int, int]]
                  ) -> Scorer:
    points = [(u, s * (MAX_NODE_SCORE // MAX_CUSTOM_PRIORITY_SCORE)) for u, s in shape]
    weights = [w for _, w in resources]

    def broken_linear(p: int) -> int:
        for i, (utilization, score) in enumerate(points):
            if p <= utilization:
                if i == 0:
                    return points[0][1]
                u0, s0 = points[i - 1]
                return s0 + _go_div((score - s0) * (p - u0), utilization - u0)
        return points[-1][1]

    def scorer(allocatable: list[int], requested: list[int]) -> int:
        node_score = weight_sum = 0
        for alloc, req, weight in zip(allocatable, requested, weights):
            if alloc == 0:
                continue
            if req > alloc:
                resource_score = broken_linear(MAX_UTILIZATION)
            else:
                resource_score = broken_linear(req * MAX_UTILIZATION // alloc)
            if resource_score > 0:
                node_score += resource_score * weight
                weight_sum += weight
        return math.floor(node_score / weight_sum + 0.5) if weight_sum else 0
    return scorer


def _balanced(requested: list[int], allocatable: list[int]) -> int:
    fractions = [min(req / alloc, 1.0) for req, alloc in zip(requested, allocatable) if alloc]
    std = 0.0
    if len(fractions) == 2:
        std = abs((fractions[0] - fractions[1]) / 2)
    elif len(fractions) > 2:
        mean = sum(fractions) / len(fractions)
        std = math.sqrt(sum((f - mean) ** 2 for f in fractions) / len(fractions))
    return int((1 - std) * MAX_NODE_SCORE)


def _balanced_pair(cpu_alloc: int, cpu_req: int, mem_alloc: int, mem_req: int) -> int:
    """`_balanced` for exactly cpu and memory (same arithmetic, no lists)."""
    if cpu_alloc and mem_alloc:
        cpu = cpu_req / cpu_alloc if cpu_req < cpu_alloc else 1.0
        mem = mem_req / mem_alloc if mem_req < mem_alloc else 1.0
        return int((1 - abs((cpu - mem) / 2)) * MAX_NODE_SCORE)
    return MAX_NODE_SCORE    # fewer than two fractions: no deviation


def _is_cpu_memory(resources: tuple[tuple[str, int], ...]) -> bool:
    return [name for name, _ in resources] == ["cpu", "memory"]


def _go_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Go's."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _pod_request_list(pod: dict, resources: tuple[tuple[str, int], ...], *,
                      use_requested: bool) -> list[int]:
    requests = pod_requests(pod) if use_requested else pod_requests_nonzero(pod)
    return [requests.get(name) for name, _ in resources]


def _allocatable_requested(node_info: NodeInfo, resources: tuple[tuple[str, int], ...],
                           pod_request: list[int], *, use_requested: bool
                           ) -> tuple[list[int], list[int]]:
    """Per resource: (allocatable, already requested + the pod's request); (0, 0) for a
    resource the node lacks or a scalar the pod does not ask for (not scored)."""
    allocatable = node_info.allocatable
    requested = node_info.requested if use_requested else node_info.non_zero_requested
    allocs: list[int] = []
    reqs: list[int] = []
    for (name, _), pod_req in zip(resources, pod_request):
        if name == "cpu":
            alloc, used = allocatable.milli_cpu, requested.milli_cpu
        elif name == "memory":
            alloc, used = allocatable.memory, requested.memory
        elif name == "ephemeral-storage":
            alloc, used = allocatable.ephemeral_storage, node_info.requested.ephemeral_storage
        elif pod_req == 0 or name not in allocatable.scalar:
            alloc = used = 0
        else:
            alloc, used = allocatable.scalar[name], node_info.requested.scalar.get(name, 0)
        if alloc == 0:
            allocs.append(0)
            reqs.append(0)
        else:
            allocs.append(alloc)
            reqs.append(used + pod_req)
    return allocs, reqs
