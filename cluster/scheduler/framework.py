"""Scheduling framework: one scheduling cycle over a Snapshot, through the profile's plugins.

Upstream's scheduling framework, without I/O: `Framework.schedule(pod, snapshot)` runs
PreFilter (per-pod work done once: requests, tolerations, parsed affinity, kept in the
`CycleState`), then Filter over the nodes starting where the previous cycle stopped (so every
node gets its turn), stopping once `num_feasible_nodes_to_find` nodes fit (all nodes below 100;
else the profile's percentage, or adaptively 50% - nodes/125 with a 5% floor, never fewer than
100), then PreScore and Score (each plugin's scores normalized, then weighted and summed), and
picks the highest total, ties broken uniformly by reservoir sampling with the injected rng.

Plugins implement the protocols of `interface` (re-exported here); the framework finds their
extension points by attribute. A PreFilter/PreScore returning SKIP switches off that
plugin's Filter/Score for the cycle. A PreFilter may narrow the candidate nodes with
`restrict_nodes`; the nodes it leaves out count as "node(s) didn't satisfy plugin(s) [X]".
Only the first filter that rejects a node speaks for it. A failed cycle returns the upstream
FailedScheduling message and the set of plugins that rejected the pod, which the queue matches
against the plugins' registered `ClusterEvent`s; before that the PostFilter plugins
(DefaultPreemption) run, and their message ends the FailedScheduling text. `schedule` never
mutates the snapshot; the only state the Framework keeps between cycles is the rotating start
index.

Nominated pods (upstream RunFilterPluginsWithNominatedPods): given a `Nominator`, a node
that pods of equal or higher priority are nominated to is filtered twice, once with those
pods added (on a cloned NodeInfo and CycleState, through the PreFilter plugins' `add_pod`)
and once without; it fits only if both pass. A pod with a nominated node tries it first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from kubemu.cluster.scheduler.diagnosis import NO_NODES_AVAILABLE, Diagnosis
from kubemu.cluster.scheduler.events import ClusterEvent
from kubemu.cluster.scheduler.interface import (
    MAX_NODE_SCORE,
    PREFILTER_NODES,
    PREFILTER_PLUGINS,
    SKIP,
    SUCCESS,
    Code,
    CycleState,
    EnqueueExtensions,
    FilterPlugin,
    Plugin,
    PostFilterPlugin,
    PostFilterResult,
    PreFilterPlugin,
    PreScorePlugin,
    ReservePlugin,
    ScorePlugin,
    Status,
    restrict_nodes,
)
from kubemu.cluster.scheduler.nodeinfo import NodeInfo, Snapshot, pod_key
from kubemu.cluster.scheduler.nominator import Nominator, nominated_node, pod_priority
from kubemu.cluster.scheduler.plugins import DEFAULT_SCORE_WEIGHTS, default_plugins
from kubemu.cluster.scheduler.preemption import DefaultPreemption

__all__ = [
    "Code", "Status", "CycleState", "ClusterEvent", "Plugin", "PreFilterPlugin", "FilterPlugin",
    "PreScorePlugin", "ScorePlugin", "ReservePlugin", "EnqueueExtensions", "PostFilterPlugin",
    "PostFilterResult", "Profile",
    "ScheduleResult", "Framework", "default_profile", "num_feasible_nodes_to_find",
    "restrict_nodes", "SUCCESS", "SKIP", "MAX_NODE_SCORE", "PREFILTER_NODES", "PREFILTER_PLUGINS",
]

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5


@dataclass
class Profile:
    """A scheduler profile: its name, plugins (in extension-point order) and score weights."""

    scheduler_name: str = "default-scheduler"
    plugins: list[Any] = field(default_factory=list)
    score_weights: dict[str, int] = field(default_factory=dict)
    percentage_of_nodes_to_score: int = 0      # 0: adaptive, as upstream


def default_profile(*, scoring_strategy: str = "LeastAllocated",
                    scheduler_name: str = "default-scheduler",
                    percentage_of_nodes_to_score: int = 0) -> Profile:
    """Upstream's default plugin set (with DefaultPreemption as the PostFilter) and weights,
    with NodeResourcesFit's scoring strategy LeastAllocated, MostAllocated or
    RequestedToCapacityRatio."""
    return Profile(scheduler_name=scheduler_name,
                   plugins=[*default_plugins(scoring_strategy=scoring_strategy),
                            DefaultPreemption()],
                   score_weights=dict(DEFAULT_SCORE_WEIGHTS),
                   percentage_of_nodes_to_score=percentage_of_nodes_to_score)


@dataclass
class ScheduleResult:
    """The outcome of one cycle. On failure `node_name` is None, `message` is the
    FailedScheduling text and `rejector_plugins` the plugins whose events may help."""

    node_name: str | None
    evaluated: int
    feasible: int
    status: Status
    message: str = ""
    rejector_plugins: set[str] = field(default_factory=set)
    diagnosis: Diagnosis = field(default_factory=Diagnosis)
    state: CycleState = field(default_factory=CycleState)
    post_filter: PostFilterResult | None = None   # preemption's outcome, when it ran


def num_feasible_nodes_to_find(num_all_nodes: int, percentage: int = 0) -> int:
    """How many feasible nodes end the Filter phase (upstream numFeasibleNodesToFind)."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage <= 0:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    if percentage >= 100:
        return num_all_nodes
    return max(num_all_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


class Framework:
    """Runs one profile's plugins; `schedule` is one scheduling cycle (no binding)."""

    def __init__(self, profile: Profile, *, rng: random.Random) -> None:
        self.profile = profile
        self.rng = rng
        self.plugins = {p.name: p for p in profile.plugins}
        self._pre_filter = [p for p in profile.plugins if hasattr(p, "pre_filter")]
        self._filter = [p for p in profile.plugins if hasattr(p, "filter")]
        self._pre_score = [p for p in profile.plugins if hasattr(p, "pre_score")]
        self._score = [(p, profile.score_weights.get(p.name, 1))
                       for p in profile.plugins if hasattr(p, "score")]
        self._reserve = [p for p in profile.plugins if hasattr(p, "reserve")]
        self._post_filter = [p for p in profile.plugins if hasattr(p, "post_filter")]
        self.events_by_plugin: dict[str, list[ClusterEvent]] = {
            p.name: list(p.events()) for p in profile.plugins if hasattr(p, "events")}
        self._next_start = 0

    @property
    def scheduler_name(self) -> str:
        return self.profile.scheduler_name

    def event_may_help(self, rejector_plugins: set[str], event: ClusterEvent) -> bool:
        """Whether `event` may make a pod these plugins rejected schedulable (no known
        rejector: any event may)."""
        if not rejector_plugins:
            return True
        return any(registered.matches(event) for name in rejector_plugins
                   for registered in self.events_by_plugin.get(name, ()))

    def schedule(self, pod: dict, snapshot: Snapshot, *, state: CycleState | None = None,
                 nominator: Nominator | None = None) -> ScheduleResult:
        state = CycleState() if state is None else state
        if nominator is not None and not len(nominator):
            nominator = None
        diagnosis = Diagnosis()
        all_nodes = snapshot.node_infos
        if not all_nodes:
            return ScheduleResult(None, 0, 0, Status(Code.ERROR, [NO_NODES_AVAILABLE]),
                                  NO_NODES_AVAILABLE, set(), diagnosis, state)
        status = self._run_pre_filter(state, pod, snapshot)
        if not status.ok:
            if not status.rejected:
                return self._error(status, diagnosis, state)
            diagnosis.absent_status = status
            diagnosis.prefilter_msg = status.message
            diagnosis.add_plugin_status(status)
            return self._unschedulable(0, pod, snapshot, diagnosis, state, nominator)
        nominated = nominated_node(pod) or (nominator.node_of(pod) if nominator else "")
        if nominated and (node_info := snapshot.get(nominated)) is not None:
            found, error = self._find_feasible(state, pod, [node_info], diagnosis, start=0,
                                               nominator=nominator)
            if error is not None:
                return self._error(error, diagnosis, state)
            if found:
                return ScheduleResult(nominated, 1, 1, SUCCESS, state=state, diagnosis=diagnosis)
        nodes = all_nodes
        narrowed = state.get(PREFILTER_NODES)
        if narrowed is not None:
            nodes = [ni for ni in all_nodes if ni.name in narrowed]
            plugins = sorted(state.get(PREFILTER_PLUGINS, ()))
            diagnosis.unschedulable_plugins.update(plugins)
            diagnosis.absent_status = Status(
                Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                [f"node(s) didn't satisfy plugin(s) [{' '.join(plugins)}]"])
        feasible, error = self._find_feasible(state, pod, nodes, diagnosis,
                                              start=self._next_start, nominator=nominator)
        evaluated = len(feasible) + len(diagnosis.node_to_status)
        self._next_start = (self._next_start + evaluated) % len(all_nodes)
        if error is not None:
            return self._error(error, diagnosis, state)
        if not feasible:
            return self._unschedulable(evaluated, pod, snapshot, diagnosis, state, nominator)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, evaluated, 1, SUCCESS, state=state,
                                  diagnosis=diagnosis)
        totals, error = self._run_score(state, pod, feasible)
        if error is not None:
            return self._error(error, diagnosis, state)
        chosen = self._select(feasible, totals)
        return ScheduleResult(chosen, evaluated, len(feasible), SUCCESS, state=state,
                              diagnosis=diagnosis)

    def reserve(self, state: CycleState, pod: dict, node_name: str) -> Status:
        """Run Reserve plugins in order; the first failure is returned (the caller then
        calls `unreserve`, as upstream's scheduler does)."""
        for plugin in self._reserve:
            status = plugin.reserve(state, pod, node_name)
            if not status.ok:
                return status.with_plugin(plugin.name)
        return SUCCESS

    def unreserve(self, state: CycleState, pod: dict, node_name: str) -> None:
        """Run every Reserve plugin's Unreserve, in reverse order."""
        for plugin in reversed(self._reserve):
            plugin.unreserve(state, pod, node_name)

    def run_filters(self, state: CycleState, pod: dict, node_info: NodeInfo, *,
                    nominator: Nominator | None = None) -> Status:
        """Every Filter on one node, nominated pods of equal or higher priority counted
        (upstream RunFilterPluginsWithNominatedPods); the first rejection, or SUCCESS."""
        nominated = self._nominated_on(pod, node_info.name, nominator)
        if nominated:
            with_state, with_info = state.clone(), node_info.clone()
            for other in nominated:
                self.add_pod(with_state, pod, other, with_info)
            status = self._run_filters(with_state, pod, with_info)
            if not status.ok:
                return status
        return self._run_filters(state, pod, node_info)

    def add_pod(self, state: CycleState, pod: dict, pod_to_add: dict,
                node_info: NodeInfo) -> None:
        """Count `pod_to_add` on `node_info` (mutated) and tell the PreFilter extensions."""
        node_info.add_pod(pod_to_add)
        for plugin in self._pre_filter:
            extension = getattr(plugin, "add_pod", None)
            if extension is not None and plugin.name not in state.skip_filter_plugins:
                extension(state, pod, pod_to_add, node_info)

    def remove_pod(self, state: CycleState, pod: dict, pod_to_remove: dict,
                   node_info: NodeInfo) -> None:
        """Take `pod_to_remove` off `node_info` (mutated) and tell the PreFilter extensions."""
        node_info.remove_pod(pod_to_remove)
        for plugin in self._pre_filter:
            extension = getattr(plugin, "remove_pod", None)
            if extension is not None and plugin.name not in state.skip_filter_plugins:
                extension(state, pod, pod_to_remove, node_info)

    # ---- phases --------------------------------------------------------------------------

    def _run_filters(self, state: CycleState, pod: dict, node_info: NodeInfo) -> Status:
        skip = state.skip_filter_plugins
        for plugin in self._filter:
            if plugin.name not in skip:
                status = plugin.filter(state, pod, node_info)
                if not status.ok:
                    return status.with_plugin(plugin.name)
        return SUCCESS

    @staticmethod
    def _nominated_on(pod: dict, node: str, nominator: Nominator | None) -> list[dict]:
        if nominator is None:
            return []
        priority, key = pod_priority(pod), pod_key(pod)
        return [p for p in nominator.pods_on(node)
                if pod_priority(p) >= priority and pod_key(p) != key]

    def _run_pre_filter(self, state: CycleState, pod: dict, snapshot: Snapshot) -> Status:
        result = SUCCESS
        for plugin in self._pre_filter:
            status = plugin.pre_filter(state, pod, snapshot)
            if status.code is Code.SKIP:
                state.skip_filter_plugins.add(plugin.name)
                continue
            if status.code is Code.UNSCHEDULABLE:
                result = status.with_plugin(plugin.name)   # keep going, as upstream
                continue
            if not status.ok:
                return status.with_plugin(plugin.name)
            narrowed = state.get(PREFILTER_NODES)
            if narrowed is not None and not narrowed:
                plugins = sorted(state.get(PREFILTER_PLUGINS, ()))
                text = (f"node(s) didn't satisfy plugin {plugins[0]}" if len(plugins) == 1 else
                        f"node(s) didn't satisfy plugin(s) [{' '.join(plugins)}] simultaneously")
                return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [text], plugin.name)
        return result

    def _find_feasible(self, state: CycleState, pod: dict, nodes: list[NodeInfo],
                       diagnosis: Diagnosis, *, start: int, nominator: Nominator | None = None
                       ) -> tuple[list[NodeInfo], Status | None]:
        count = len(nodes)
        if not count:
            return [], None
        to_find = num_feasible_nodes_to_find(count, self.profile.percentage_of_nodes_to_score)
        if not self._score:
            to_find = 1
        start %= count
        ordered = nodes[start:] + nodes[:start] if start else nodes
        skip = state.skip_filter_plugins
        filters = [(p.name, p.filter) for p in self._filter if p.name not in skip]
        if not filters:
            return ordered[:to_find], None
        feasible: list[NodeInfo] = []
        statuses = diagnosis.node_to_status
        success = Code.SUCCESS
        crowded = nominator.nominated_nodes() if nominator is not None else ()
        for node_info in ordered:
            if node_info.name in crowded:
                status = self.run_filters(state, pod, node_info, nominator=nominator)
                name = status.plugin
            else:
                for name, run in filters:
                    status = run(state, pod, node_info)
                    if status.code is not success:
                        break
                else:
                    status = SUCCESS
            if status.code is success:
                feasible.append(node_info)
                if len(feasible) >= to_find:
                    break
                continue
            if not status.rejected:
                return feasible, status.with_plugin(name)
            status = status.with_plugin(name)
            statuses[node_info.name] = status
            diagnosis.unschedulable_plugins.add(name)
        return feasible, None

    def _run_score(self, state: CycleState, pod: dict, nodes: list[NodeInfo]
                   ) -> tuple[list[int], Status | None]:
        for plugin in self._pre_score:
            status = plugin.pre_score(state, pod, nodes)
            if status.code is Code.SKIP:
                state.skip_score_plugins.add(plugin.name)
            elif not status.ok:
                return [], status.with_plugin(plugin.name)
        totals = [0] * len(nodes)
        skip = state.skip_score_plugins
        names: list[str] | None = None
        for plugin, weight in self._score:
            if plugin.name in skip:
                continue
            batch = getattr(plugin, "score_nodes", None)
            if batch is not None:
                scores = batch(state, pod, nodes)
            else:
                run = plugin.score
                scores = [run(state, pod, ni) for ni in nodes]
            normalize = getattr(plugin, "normalize_scores", None)
            if normalize is not None:
                if names is None:
                    names = [ni.name for ni in nodes]
                by_name = dict(zip(names, scores))  # node names are unique: order kept
                normalize(state, pod, by_name)
                scores = list(by_name.values())
            if scores and (min(scores) < 0 or max(scores) > MAX_NODE_SCORE):
                bad = next(s for s in scores if s < 0 or s > MAX_NODE_SCORE)
                return [], Status(Code.ERROR, [
                    f"plugin {plugin.name!r} returns an invalid score {bad}, it should be in "
                    f"the range of [0, {MAX_NODE_SCORE}] after normalizing"], plugin.name)
            if weight == 1:
                totals = [t + s for t, s in zip(totals, scores)]
            else:
                totals = [t + s * weight for t, s in zip(totals, scores)]
        return totals, None

    def _select(self, nodes: list[NodeInfo], totals: list[int]) -> str:
        """The highest total; among equals each is picked with equal chance (reservoir)."""
        best = max(totals)
        ties = 0
        chosen = 0
        uniform = self.rng.random
        for i, total in enumerate(totals):
            if total == best:
                ties += 1
                if uniform() * ties < 1.0:      # keep i with probability 1/ties
                    chosen = i
        return nodes[chosen].name

    # ---- results -------------------------------------------------------------------------

    def _unschedulable(self, evaluated: int, pod: dict, snapshot: Snapshot,
                       diagnosis: Diagnosis, state: CycleState,
                       nominator: Nominator | None) -> ScheduleResult:
        """No node fits: run the PostFilter plugins (preemption), then build the
        FailedScheduling message (upstream FitError with PostFilterMsg)."""
        post, error = self._run_post_filter(state, pod, snapshot, diagnosis, nominator)
        if error is not None:
            return self._error(error, diagnosis, state)
        message = diagnosis.message(len(snapshot.node_infos))
        return ScheduleResult(None, evaluated, 0, Status(Code.UNSCHEDULABLE, [message]),
                              message, set(diagnosis.unschedulable_plugins), diagnosis, state,
                              post)

    def _run_post_filter(self, state: CycleState, pod: dict, snapshot: Snapshot,
                         diagnosis: Diagnosis, nominator: Nominator | None
                         ) -> tuple[PostFilterResult | None, Status | None]:
        """The first PostFilter that succeeds decides; otherwise the last rejection's message
        (and any result it gave, e.g. a nomination to clear) stands, as upstream."""
        result: PostFilterResult | None = None
        for plugin in self._post_filter:
            found, status = plugin.post_filter(state, pod, snapshot, diagnosis, self,
                                               nominator=nominator)
            if status.ok:
                diagnosis.postfilter_msg = ""
                return found, None
            if not status.rejected:
                return None, status.with_plugin(plugin.name)
            diagnosis.postfilter_msg = status.message
            result = found if found is not None else result
        return result, None

    def _error(self, status: Status, diagnosis: Diagnosis, state: CycleState) -> ScheduleResult:
        error = Status(Code.ERROR, status.reasons, status.plugin)
        return ScheduleResult(None, 0, 0, error, error.message, set(), diagnosis, state)
