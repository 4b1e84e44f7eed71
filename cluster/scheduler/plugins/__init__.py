"""The scheduler's in-tree plugins, one module each, and upstream's default plugin set.

`default_plugins()` lists them in upstream's extension-point order (NodeUnschedulable,
NodeName, TaintToleration, NodeAffinity, NodeResourcesFit, PodTopologySpread, InterPodAffinity,
NodeResourcesBalancedAllocation):
filters run in that order, and the first to reject a node speaks for it in the
FailedScheduling message. `DEFAULT_SCORE_WEIGHTS` are upstream's default score weights.
"""

from __future__ import annotations

from kubemu.cluster.scheduler.plugins.interpodaffinity import InterPodAffinity
from kubemu.cluster.scheduler.plugins.nodeaffinity import NodeAffinity
from kubemu.cluster.scheduler.plugins.nodename import NodeName
from kubemu.cluster.scheduler.plugins.noderesources import (
    LEAST_ALLOCATED,
    NodeResourcesBalancedAllocation,
    NodeResourcesFit,
)
from kubemu.cluster.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from kubemu.cluster.scheduler.plugins.podtopologyspread import PodTopologySpread
from kubemu.cluster.scheduler.plugins.tainttoleration import TaintToleration

__all__ = [
    "DEFAULT_SCORE_WEIGHTS",
    "InterPodAffinity",
    "NodeAffinity",
    "NodeName",
    "NodeResourcesBalancedAllocation",
    "NodeResourcesFit",
    "NodeUnschedulable",
    "PodTopologySpread",
    "TaintToleration",
    "default_plugins",
]

DEFAULT_SCORE_WEIGHTS: dict[str, int] = {
    "TaintToleration": 3,
    "NodeAffinity": 2,
    "NodeResourcesFit": 1,
    "PodTopologySpread": 2,
    "InterPodAffinity": 2,
    "NodeResourcesBalancedAllocation": 1,
}


def default_plugins(*, scoring_strategy: str = LEAST_ALLOCATED) -> list:
    """Fresh instances of the default plugins, NodeResourcesFit scoring by `scoring_strategy`."""
    return [
        NodeUnschedulable(),
        NodeName(),
        TaintToleration(),
        NodeAffinity(),
        NodeResourcesFit(scoring_strategy=scoring_strategy),
        PodTopologySpread(),
        InterPodAffinity(),
        NodeResourcesBalancedAllocation(),
    ]
