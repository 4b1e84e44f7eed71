"""NodeUnschedulable: a cordoned node (`spec.unschedulable: true`) takes no new pods.

Upstream nodeunschedulable plugin: the node is rejected with "node(s) were unschedulable"
(UnschedulableAndUnresolvable) unless the pod tolerates the taint
`node.kubernetes.io/unschedulable:NoSchedule` -- tolerating the taint means tolerating the
field, as DaemonSet pods do.
"""

from __future__ import annotations

from kubemu.cluster.scheduler.events import (
    ADD,
    NODE,
    POD,
    UPDATE_NODE_TAINT,
    UPDATE_POD_TOLERATIONS,
    ClusterEvent,
)
from kubemu.cluster.scheduler.interface import SUCCESS, Code, CycleState, Status
from kubemu.cluster.scheduler.nodeinfo import NodeInfo
from kubemu.cluster.scheduler.plugins.tainttoleration import (
    parse_tolerations,
    tolerated,
)

__all__ = ["NodeUnschedulable", "ERR_REASON_UNSCHEDULABLE", "TAINT_NODE_UNSCHEDULABLE"]

ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"


class NodeUnschedulable:
    name = "NodeUnschedulable"

    def events(self) -> list[ClusterEvent]:
        return [ClusterEvent(NODE, ADD), ClusterEvent(NODE, UPDATE_NODE_TAINT),
                ClusterEvent(POD, UPDATE_POD_TOLERATIONS)]

    def filter(self, state: CycleState, pod: dict, node_info: NodeInfo) -> Status:
        if not node_info.unschedulable:
            return SUCCESS
        tolerations = parse_tolerations(pod)
        if tolerated(tolerations, (TAINT_NODE_UNSCHEDULABLE, "", "NoSchedule")):
            return SUCCESS
        return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, [ERR_REASON_UNSCHEDULABLE])
