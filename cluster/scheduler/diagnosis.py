"""Diagnosis: why a pod fits no node, and the FailedScheduling text (upstream FitError).

A failed scheduling cycle keeps the status each evaluated node failed with (only the first
filter plugin that rejected a node speaks for it, but that plugin may give several reasons: a
node short of cpu and memory counts in both). Nodes a PreFilter result excluded share one
`absent_status`. The message is upstream's, byte for byte:
"0/6 nodes are available: 3 Insufficient cpu, 3 node(s) had untolerated taint {k: v}." --
reasons counted over all nodes, each formatted "<count> <reason>", the formatted strings
sorted as Go's sort.Strings does (so "10 x" sorts before "3 y"), joined by ", ". When a
PreFilter plugin rejected the pod, its message stands alone instead of the histogram.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubemu.cluster.scheduler.interface import Status

__all__ = ["Diagnosis", "fit_error_message", "NO_NODES_AVAILABLE", "NO_NODE_AVAILABLE_MSG"]

NO_NODES_AVAILABLE = "no nodes available to schedule pods"   # upstream ErrNoNodesAvailable
NO_NODE_AVAILABLE_MSG = "0/{} nodes are available"


@dataclass
class Diagnosis:
    """What one cycle learned about the nodes it rejected."""

    node_to_status: dict[str, Status] = field(default_factory=dict)
    absent_status: Status | None = None      # for nodes not in node_to_status
    unschedulable_plugins: set[str] = field(default_factory=set)
    prefilter_msg: str = ""
    postfilter_msg: str = ""

    def add_plugin_status(self, status: Status) -> None:
        """Remember which plugin rejected (upstream Diagnosis.AddPluginStatus)."""
        if status.plugin and status.rejected:
            self.unschedulable_plugins.add(status.plugin)

    def message(self, num_all_nodes: int) -> str:
        return fit_error_message(
            num_all_nodes, self.node_to_status.values(), absent_status=self.absent_status,
            prefilter_msg=self.prefilter_msg, postfilter_msg=self.postfilter_msg)


def fit_error_message(num_all_nodes: int, node_statuses, *, absent_status: Status | None = None,
                      prefilter_msg: str = "", postfilter_msg: str = "") -> str:
    """Upstream FitError.Error() for `num_all_nodes` nodes whose explicit statuses are
    `node_statuses` (an iterable of Status); the rest count with `absent_status`."""
    text = NO_NODE_AVAILABLE_MSG.format(num_all_nodes) + ":"
    if prefilter_msg:
        text += f" {prefilter_msg}."
    else:
        counts: Counter[str] = Counter()
        explicit = 0
        for status in node_statuses:
            explicit += 1
            counts.update(status.reasons)
        if explicit < num_all_nodes and absent_status is not None:
            for reason in absent_status.reasons:
                counts[reason] += num_all_nodes - explicit
        histogram = sorted(f"{count} {reason}" for reason, count in counts.items())
        if histogram:
            text += f" {', '.join(histogram)}."
    if postfilter_msg:
        text += f" {postfilter_msg}"
    return text
