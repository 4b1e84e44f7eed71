"""NodeName: a pod that names its node in `spec.nodeName` fits only that node.

Upstream nodename plugin. A pod without `spec.nodeName` skips the filter for the whole cycle
(PreFilter returns SKIP), so ordinary pods pay nothing per node. A mismatch is
UnschedulableAndUnresolvable: no preemption can make another node carry the pod's name.
"""

from __future__ import annotations

from kubemu.cluster.scheduler.events import (
    ADD,
    NODE,
    UPDATE_NODE_LABEL,
    UPDATE_NODE_TAINT,
    ClusterEvent,
)
from kubemu.cluster.scheduler.interface import SKIP, SUCCESS, Code, CycleState, Status
from kubemu.cluster.scheduler.nodeinfo import NodeInfo, Snapshot

__all__ = ["NodeName", "ERR_REASON"]

ERR_REASON = "node(s) didn't match the requested node name"
_KEY = "PreFilterNodeName"


class NodeName:
    name = "NodeName"

    def events(self) -> list[ClusterEvent]:
        return [ClusterEvent(NODE, ADD), ClusterEvent(NODE, UPDATE_NODE_TAINT),
                ClusterEvent(NODE, UPDATE_NODE_LABEL)]

    def pre_filter(self, state: CycleState, pod: dict, snapshot: Snapshot) -> Status:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name:
            return SKIP
        state[_KEY] = node_name
        return SUCCESS

    def filter(self, state: CycleState, pod: dict, node_info: NodeInfo) -> Status:
        node_name = state.get(_KEY) or (pod.get("spec") or {}).get("nodeName")
        if not node_name or node_name == node_info.name:
            return SUCCESS
        return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON])
