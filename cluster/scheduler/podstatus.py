"""The writes kube-scheduler makes besides Bindings: pod status after a failed cycle, and
preemption's evictions.

- `set_unschedulable`: the PodScheduled=False condition (reason Unschedulable or
  SchedulerError, upstream's message) and, when preemption decided, status.nominatedNodeName
  (a node, or null to clear it) in one strategic-merge status patch, skipped when nothing
  changed; lastTransitionTime is kept while the condition stays False.
- `evict_victims`: per victim, as upstream's prepareCandidate: add the DisruptionTarget
  condition (reason PreemptionByScheduler, "<scheduler>: preempting to accommodate a higher
  priority pod") unless present, delete the pod with its own grace period (a victim already
  terminating is left alone; one already gone is no error), record the Normal Event
  "Preempted" ("Preempted by pod <uid> on node <node>").
- `clear_nomination`: a lower-priority pod nominated to the preempted node loses its
  nominatedNodeName.
"""

from __future__ import annotations

import logging
from typing import Any

from kubemu.cluster.api.errors import ApiError, NotFound
from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.controllers.events import NORMAL
from kubemu.cluster.scheduler.preemption import (
    DISRUPTION_TARGET,
    PREEMPTION_BY_SCHEDULER,
)

__all__ = ["set_unschedulable", "evict_victims", "clear_nomination"]

log = logging.getLogger("kubemu.scheduler")


async def set_unschedulable(client: Any, pod: dict, reason: str, message: str, *, wall: float,
                            nominated_node: str | None = None) -> None:
    """Patch PodScheduled=False (and nominatedNodeName unless None) when either changed."""
    status = pod.get("status") or {}
    old = next((c for c in status.get("conditions") or () if c.get("type") == "PodScheduled"),
               None)
    same_condition = old is not None and (
        old.get("status"), old.get("reason"), old.get("message")) == ("False", reason, message)
    same_nomination = nominated_node is None or (
        (status.get("nominatedNodeName") or "") == nominated_node)
    if same_condition and same_nomination:
        return
    since = (old.get("lastTransitionTime") if old is not None
             and old.get("status") == "False" else None) or rfc3339(wall)
    condition = {"type": "PodScheduled", "status": "False", "reason": reason,
                 "message": message, "lastProbeTime": None, "lastTransitionTime": since}
    patch: dict = {"conditions": [condition]}
    if not same_nomination:
        patch["nominatedNodeName"] = nominated_node or None
    meta = pod["metadata"]
    await client.patch("v1", "Pod", meta["name"], {"status": patch},
                       namespace=meta.get("namespace"), patch_type="strategic",
                       subresource="status")


async def evict_victims(client: Any, recorder: Any, preemptor: dict, node: str,
                        victims: list[dict], *, wall: float) -> int:
    """Preempt `victims` on `node` for `preemptor`; answers how many were deleted."""
    scheduler = (preemptor.get("spec") or {}).get("schedulerName") or "default-scheduler"
    uid = (preemptor.get("metadata") or {}).get("uid", "")
    deleted = 0
    for victim in victims:
        meta = victim["metadata"]
        ns, name = meta.get("namespace"), meta["name"]
        if meta.get("deletionTimestamp"):
            continue
        try:
            if not any(c.get("type") == DISRUPTION_TARGET
                       and c.get("reason") == PREEMPTION_BY_SCHEDULER
                       for c in (victim.get("status") or {}).get("conditions") or ()):
                condition = {"type": DISRUPTION_TARGET, "status": "True",
                             "reason": PREEMPTION_BY_SCHEDULER,
                             "message": f"{scheduler}: preempting to accommodate a higher "
                                        "priority pod",
                             "lastProbeTime": None, "lastTransitionTime": rfc3339(wall)}
                await client.patch("v1", "Pod", name, {"status": {"conditions": [condition]}},
                                   namespace=ns, patch_type="strategic", subresource="status")
            await client.delete("v1", "Pod", name, namespace=ns)
        except NotFound:
            continue
        except ApiError as err:
            log.warning("preempting %s/%s failed: %s", ns, name, err)
            continue
        deleted += 1
        recorder.record(victim, NORMAL, "Preempted", f"Preempted by pod {uid} on node {node}")
    return deleted


async def clear_nomination(client: Any, pod: dict) -> None:
    """Remove status.nominatedNodeName (a lower-priority pod lost its nominated room)."""
    meta = pod["metadata"]
    try:
        await client.patch("v1", "Pod", meta["name"], {"status": {"nominatedNodeName": None}},
                           namespace=meta.get("namespace"), patch_type="strategic",
                           subresource="status")
    except ApiError as err:
        log.debug("nomination of %s/%s not cleared: %s", meta.get("namespace"), meta["name"],
                  err)
