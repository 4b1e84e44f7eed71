"""Cluster events: which changes may make an unschedulable pod schedulable (EventsToRegister).

A plugin that rejects a pod also says which cluster events could change its verdict: a
`ClusterEvent(resource, action)` such as Node/Add, Node/UpdateNodeTaint or Pod/Delete. The
scheduling queue parks a rejected pod with the set of plugins that rejected it and moves it
back to the active queue only when an event one of those plugins registered happens (upstream's
unschedulable pod pool). Actions are upstream's ActionType names; `Update` stands for every
kind of update and `All` for every action, so a registration of Node/Update matches an observed
Node/UpdateNodeLabel. `node_update_actions` and `pod_update_actions` classify an observed
update the way upstream's NodeSchedulingPropertiesChange / PodSchedulingPropertiesChange do.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubemu.cluster.scheduler.nodeinfo import pod_requests

__all__ = [
    "ClusterEvent", "NODE", "POD", "ADD", "DELETE", "UPDATE", "ALL",
    "UPDATE_NODE_ALLOCATABLE", "UPDATE_NODE_LABEL", "UPDATE_NODE_TAINT",
    "UPDATE_NODE_CONDITION", "UPDATE_NODE_ANNOTATION", "UPDATE_POD_LABEL",
    "UPDATE_POD_SCALE_DOWN", "UPDATE_POD_TOLERATIONS", "UPDATE_POD_SCHEDULING_GATES_ELIMINATED",
    "node_update_actions", "pod_update_actions",
]

NODE = "Node"
POD = "Pod"

ADD = "Add"
DELETE = "Delete"
UPDATE = "Update"     # any update
ALL = "All"           # any action
UPDATE_NODE_ALLOCATABLE = "UpdateNodeAllocatable"
UPDATE_NODE_LABEL = "UpdateNodeLabel"
UPDATE_NODE_TAINT = "UpdateNodeTaint"          # also spec.unschedulable, as upstream
UPDATE_NODE_CONDITION = "UpdateNodeCondition"
UPDATE_NODE_ANNOTATION = "UpdateNodeAnnotation"
UPDATE_POD_LABEL = "UpdatePodLabel"
UPDATE_POD_SCALE_DOWN = "UpdatePodScaleDown"
UPDATE_POD_TOLERATIONS = "UpdatePodTolerations"
UPDATE_POD_SCHEDULING_GATES_ELIMINATED = "UpdatePodSchedulingGatesEliminated"


@dataclass(frozen=True)
class ClusterEvent:
    """A change of one kind to one resource: `ClusterEvent("Node", "UpdateNodeTaint")`."""

    resource: str    # "Node" | "Pod" | "*"
    action: str

    def matches(self, observed: ClusterEvent) -> bool:
        """Whether this registered event covers `observed` (Update covers UpdateX; All and
        resource "*" cover everything)."""
        if self.resource not in ("*", observed.resource):
            return False
        if self.action in (ALL, observed.action):
            return True
        return self.action == UPDATE and observed.action.startswith(UPDATE)

    def __str__(self) -> str:
        return f"{self.resource}/{self.action}"


def node_update_actions(old: dict, new: dict) -> list[str]:
    """The fine-grained update actions a Node update carries; [] when nothing the scheduler
    looks at changed (heartbeat-only updates)."""
    actions: list[str] = []
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
    old_status, new_status = old.get("status") or {}, new.get("status") or {}
    if bool(old_spec.get("unschedulable")) != bool(new_spec.get("unschedulable")):
        actions.append(UPDATE_NODE_TAINT)
    if (old_status.get("allocatable") or {}) != (new_status.get("allocatable") or {}):
        actions.append(UPDATE_NODE_ALLOCATABLE)
    if (old_meta.get("labels") or {}) != (new_meta.get("labels") or {}):
        actions.append(UPDATE_NODE_LABEL)
    if (old_spec.get("taints") or []) != (new_spec.get("taints") or []) \
            and UPDATE_NODE_TAINT not in actions:
        actions.append(UPDATE_NODE_TAINT)
    if _conditions(old_status) != _conditions(new_status):
        actions.append(UPDATE_NODE_CONDITION)
    if (old_meta.get("annotations") or {}) != (new_meta.get("annotations") or {}):
        actions.append(UPDATE_NODE_ANNOTATION)
    return actions


def pod_update_actions(old: dict, new: dict) -> list[str]:
    """The fine-grained update actions a Pod update carries; [UPDATE] when none applies."""
    actions: list[str] = []
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if ((old.get("metadata") or {}).get("labels") or {}) != \
            ((new.get("metadata") or {}).get("labels") or {}):
        actions.append(UPDATE_POD_LABEL)
    if old_spec == new_spec:  # a status update (the common case): nothing else to compare
        return actions or [UPDATE]
    before, after = pod_requests(old), pod_requests(new)
    if (after.milli_cpu < before.milli_cpu or after.memory < before.memory
            or after.ephemeral_storage < before.ephemeral_storage
            or any(after.scalar.get(k, 0) < v for k, v in before.scalar.items())):
        actions.append(UPDATE_POD_SCALE_DOWN)
    if (old_spec.get("tolerations") or []) != (new_spec.get("tolerations") or []):
        actions.append(UPDATE_POD_TOLERATIONS)
    if old_spec.get("schedulingGates") and not new_spec.get("schedulingGates"):
        actions.append(UPDATE_POD_SCHEDULING_GATES_ELIMINATED)
    return actions or [UPDATE]


def _conditions(status: dict) -> dict[str, str]:
    """Condition type -> status; heartbeat and transition times are not a change."""
    return {c.get("type", ""): c.get("status", "") for c in status.get("conditions") or ()}
