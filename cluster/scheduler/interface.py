"""Scheduling framework interface: statuses, cycle state and the extension-point protocols.

Upstream's framework/interface.go in Python. A plugin is any object with a `name` and some of
the extension-point methods (`pre_filter`, `filter`, `pre_score`, `score` with optional
`normalize_scores`, `reserve`/`unreserve`, `events`); the Framework finds them by attribute.
Every verdict is a `Status`: a `Code` and the user-facing reasons (upstream's exact texts,
since they reach `kubectl describe`). Statuses are frozen, so plugins return the shared
`SUCCESS` / `SKIP` on the hot path and allocate only when they reject. The `CycleState` is one
cycle's scratch space: a plugin computes per-pod data once in PreFilter/PreScore and reads it
per node. A PreFilter narrows the candidate nodes with `restrict_nodes`. A PreFilter plugin
whose state depends on the pods of other nodes may also implement upstream's PreFilterExtensions
(`add_pod` / `remove_pod`), which preemption and nominated pods call on a cloned CycleState
(`CycleState.clone()` clones values that have a `clone()` method). A PostFilter runs when no
node fits and answers a `PostFilterResult` (preemption's nominated node and victims).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from kubemu.cluster.scheduler.events import ClusterEvent
from kubemu.cluster.scheduler.nodeinfo import NodeInfo, Snapshot

if TYPE_CHECKING:
    from kubemu.cluster.scheduler.diagnosis import Diagnosis

__all__ = [
    "Code", "Status", "CycleState", "Plugin", "PreFilterPlugin", "FilterPlugin",
    "PreScorePlugin", "ScorePlugin", "ReservePlugin", "EnqueueExtensions", "PostFilterPlugin",
    "PostFilterResult", "restrict_nodes",
    "SUCCESS", "SKIP", "MAX_NODE_SCORE", "PREFILTER_NODES", "PREFILTER_PLUGINS",
]

MAX_NODE_SCORE = 100
PREFILTER_NODES = "prefilter_nodes"            # CycleState key: set of node names or absent
PREFILTER_PLUGINS = "prefilter_node_plugins"   # CycleState key: plugins that narrowed


class Code(enum.Enum):
    SUCCESS = "Success"
    ERROR = "Error"
    UNSCHEDULABLE = "Unschedulable"
    UNSCHEDULABLE_AND_UNRESOLVABLE = "UnschedulableAndUnresolvable"
    SKIP = "Skip"


@dataclass(frozen=True)
class Status:
    """A plugin's verdict; `reasons` are the user-facing texts, `plugin` who said it."""

    code: Code
    reasons: list[str] = field(default_factory=list)
    plugin: str = ""

    @property
    def ok(self) -> bool:
        return self.code is Code.SUCCESS

    @property
    def rejected(self) -> bool:
        """Unschedulable or UnschedulableAndUnresolvable (upstream IsRejected)."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    @property
    def message(self) -> str:
        return ", ".join(self.reasons)

    def with_plugin(self, plugin: str) -> Status:
        return Status(self.code, self.reasons, plugin)


SUCCESS = Status(Code.SUCCESS)
SKIP = Status(Code.SKIP)


class CycleState(dict):
    """Per-cycle scratch space plugins share (keys are plugin-chosen strings), plus the sets
    of plugins whose Filter/Score this cycle skips."""

    def __init__(self) -> None:
        super().__init__()
        self.skip_filter_plugins: set[str] = set()
        self.skip_score_plugins: set[str] = set()

    def clone(self) -> CycleState:
        """A copy whose values with a `clone()` method are cloned (upstream StateData)."""
        other = CycleState()
        for key, value in self.items():
            clone = getattr(value, "clone", None)
            other[key] = clone() if callable(clone) else value
        other.skip_filter_plugins = set(self.skip_filter_plugins)
        other.skip_score_plugins = set(self.skip_score_plugins)
        return other


@dataclass
class PostFilterResult:
    """What a PostFilter (preemption) decided: the node to nominate ("" clears the pod's
    nomination), the pods to evict there, and lower-priority pods nominated to that node
    whose nomination must be cleared."""

    nominated_node: str = ""
    victims: list[dict] = field(default_factory=list)
    lower_nominated: list[dict] = field(default_factory=list)


def restrict_nodes(state: CycleState, plugin: str, names: set[str]) -> None:
    """From PreFilter: only nodes in `names` are candidates (intersected across plugins)."""
    current = state.get(PREFILTER_NODES)
    state[PREFILTER_NODES] = set(names) if current is None else current & names
    state.setdefault(PREFILTER_PLUGINS, set()).add(plugin)


class Plugin(Protocol):
    name: str


class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(self, state: CycleState, pod: dict, snapshot: Snapshot) -> Status: ...


class FilterPlugin(Plugin, Protocol):
    def filter(self, state: CycleState, pod: dict, node_info: NodeInfo) -> Status: ...


class PreScorePlugin(Plugin, Protocol):
    def pre_score(self, state: CycleState, pod: dict, nodes: list[NodeInfo]) -> Status: ...


class ScorePlugin(Plugin, Protocol):
    def score(self, state: CycleState, pod: dict, node_info: NodeInfo) -> int: ...
    # optional: def normalize_scores(self, state, pod, scores: dict[str, int]) -> None
    # optional: def score_nodes(self, state, pod, nodes: list[NodeInfo]) -> list[int], the
    # scores of `score` for every node in one call (the framework prefers it: a cycle scores
    # hundreds of nodes, and per-node calls and lookups are most of a simple plugin's cost)


class ReservePlugin(Plugin, Protocol):
    def reserve(self, state: CycleState, pod: dict, node_name: str) -> Status: ...
    def unreserve(self, state: CycleState, pod: dict, node_name: str) -> None: ...


class PostFilterPlugin(Plugin, Protocol):
    def post_filter(self, state: CycleState, pod: dict, snapshot: Snapshot, diagnosis: Diagnosis,
                    framework: Any, *, nominator: Any = None
                    ) -> tuple[PostFilterResult | None, Status]: ...


class EnqueueExtensions(Plugin, Protocol):
    def events(self) -> list[ClusterEvent]: ...
