"""The StatefulSet sync algorithm (upstream's defaultStatefulSetControl.updateStatefulSet).

Given a set, its claimed pods and its current and update ControllerRevisions:
1. pods in the ordinal range [start, start+replicas) are `replicas` (a missing ordinal gets a
   pod built from the current revision's template when it is below the partition, from the
   update revision's otherwise); pods beyond it are `condemned`, highest ordinal first; pods
   whose name has no ordinal are ignored;
2. a set being deleted only gets its status;
3. replicas are processed in ordinal order: a Failed or Succeeded pod is deleted (it is
   recreated by a later sync, once gone), a missing pod is created (claims first), identity
   labels and claim owner references are repaired. With podManagementPolicy OrderedReady
   (monotonic) processing stops at the first pod that was just created or is terminating,
   not Running and Ready, or not available for minReadySeconds; Parallel processes all of
   them in slow-start batches;
4. condemned pods are deleted, highest ordinal first; monotonically only one at a time and
   only while every other pod is available (the first unavailable pod itself may go);
5. RollingUpdate (OnDelete stops before this): from the highest ordinal down to the
   partition, the first pod not at the update revision is deleted (the next sync recreates
   it at the update revision) and the update waits while a pod is unavailable; with
   rollingUpdate.maxUnavailable set (upstream's MaxUnavailableStatefulSet), up to
   maxUnavailable minus the unavailable count are deleted at once.
Returns the new status and the first write error; the caller writes the status either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kubemu.cluster.controllers.deployment_util import scaled_value
from kubemu.cluster.controllers.history import apply_template_patch
from kubemu.cluster.controllers.statefulset_pods import StatefulPodControl
from kubemu.cluster.controllers.statefulset_utils import (
    identity_matches,
    in_ordinal_range,
    is_created,
    is_running_and_ready,
    is_terminating,
    new_stateful_pod,
    ordinal_of,
    pod_revision,
    start_ordinal,
)

__all__ = [
    "MAX_BATCH_SIZE",
    "SyncResult",
    "complete_rolling_update",
    "new_versioned_pod",
    "replica_counts",
    "stateful_set_status",
    "update_stateful_set",
]

MAX_BATCH_SIZE = 500

AvailableIn = Callable[[dict], "float | None"]  # 0.0 available, >0 soon, None not ready


@dataclass
class SyncResult:
    counts: dict[str, int]
    error: BaseException | None = None
    actions: list[str] = field(default_factory=list)  # "create web-0", "delete web-2", ...


async def update_stateful_set(sts: dict, pods: list[dict], current: dict, update: dict, *,
                              control: StatefulPodControl,
                              available_in: AvailableIn) -> SyncResult:
    """One sync of `sts` over its claimed `pods` (see the module docstring)."""
    spec = sts.get("spec") or {}
    current_set = apply_template_patch(sts, current)
    update_set = apply_template_patch(sts, update)
    cur_name = (current.get("metadata") or {}).get("name", "")
    upd_name = (update.get("metadata") or {}).get("name", "")
    start = start_ordinal(sts)
    count = int(spec.get("replicas") if spec.get("replicas") is not None else 1)
    slots: list[dict | None] = [None] * count
    condemned: list[dict] = []
    for pod in pods:
        ordinal = ordinal_of(pod)
        if in_ordinal_range(pod, sts):
            slots[ordinal - start] = pod
        elif ordinal >= 0:
            condemned.append(pod)
    replicas = [p if p is not None else new_versioned_pod(current_set, update_set, cur_name,
                                                       upd_name, start + i)
                for i, p in enumerate(slots)]
    condemned.sort(key=ordinal_of, reverse=True)
    result = SyncResult(replica_counts(pods, cur_name, upd_name, available_in))

    def unavailable(pod: dict) -> bool:
        return not _available(pod, available_in) or is_terminating(pod)

    first_unavailable = next((p for p in replicas if unavailable(p)), None)
    if first_unavailable is None:
        first_unavailable = next((p for p in reversed(condemned) if unavailable(p)), None)
    if (sts.get("metadata") or {}).get("deletionTimestamp"):
        return result
    monotonic = spec.get("podManagementPolicy") != "Parallel"

    def recount() -> None:
        result.counts = replica_counts(replicas + condemned, cur_name, upd_name, available_in)

    async def process_replica(i: int) -> bool:
        pod = replicas[i]
        name = pod["metadata"]["name"]
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Failed", "Succeeded"):
            if not is_terminating(pod):
                result.actions.append(f"delete {name}")
                await control.delete_pod(sts, pod)
            return True
        if not is_created(pod):
            if control.claim_is_stale(sts, pod):
                return True
            result.actions.append(f"create {name}")
            await control.create_pod(sts, pod)
            return bool(monotonic)
        if phase == "Pending":
            await control.create_missing_claims(sts, pod)
        if monotonic and (is_terminating(pod) or not _available(pod, available_in)):
            return True
        if not identity_matches(sts, pod):
            await control.update_identity(sts, pod)
        if not control.claims_match_retention(update_set, pod):
            await control.fix_claims_retention(update_set, pod)
        return False

    async def fix_condemned_claims(i: int) -> bool:
        if not control.claims_match_retention(update_set, condemned[i]):
            await control.fix_claims_retention(update_set, condemned[i])
        return False

    async def process_condemned(i: int) -> bool:
        pod = condemned[i]
        if is_terminating(pod):
            return monotonic
        if monotonic and pod is not first_unavailable and not _available(pod, available_in):
            return True
        result.actions.append(f"delete {pod['metadata']['name']}")
        await control.delete_pod(sts, pod)
        return True

    for step, items in ((process_replica, replicas), (fix_condemned_claims, condemned),
                        (process_condemned, condemned)):
        exit_, error = await _run_for_all(len(items), step, monotonic)
        if exit_ or error is not None:
            recount()
            result.error = error
            return result
    recount()
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return result
    rolling = strategy.get("rollingUpdate")
    update_min = int((rolling or {}).get("partition") or 0)
    try:
        if rolling and rolling.get("maxUnavailable") is not None:
            max_unavailable = max(1, scaled_value(rolling["maxUnavailable"], count,
                                                  round_up=True))
            budget = max_unavailable - sum(1 for p in replicas if unavailable(p))
            for target in range(len(replicas) - 1, update_min - 1, -1):
                if budget <= 0:
                    break
                pod = replicas[target]
                if pod_revision(pod) != upd_name and not is_terminating(pod):
                    result.actions.append(f"delete {pod['metadata']['name']}")
                    await control.delete_pod(sts, pod)
                    budget -= 1
                    result.counts["currentReplicas"] -= 1
            return result
        for target in range(len(replicas) - 1, update_min - 1, -1):
            pod = replicas[target]
            if pod_revision(pod) != upd_name and not is_terminating(pod):
                result.actions.append(f"delete {pod['metadata']['name']}")
                await control.delete_pod(sts, pod)
                result.counts["currentReplicas"] -= 1
                return result
            if unavailable(pod):
                return result
    except Exception as err:  # noqa: BLE001 -- an API error: report it with the status
        result.error = err
    return result


def replica_counts(pods: list[dict], current: str, update: str,
                   available_in: AvailableIn) -> dict[str, int]:
    """Upstream's computeReplicaStatus over `pods` (built-only pods count for nothing)."""
    counts = dict.fromkeys(("replicas", "readyReplicas", "availableReplicas",
                            "currentReplicas", "updatedReplicas"), 0)
    for pod in pods:
        created = is_created(pod)
        counts["replicas"] += created
        if is_running_and_ready(pod):
            counts["readyReplicas"] += 1
            counts["availableReplicas"] += _available(pod, available_in)
        if created and not is_terminating(pod):
            revision = pod_revision(pod)
            counts["currentReplicas"] += revision == current
            counts["updatedReplicas"] += revision == update
    return counts


def stateful_set_status(sts: dict, counts: dict[str, int], *, current: str, update: str,
                        collision_count: int) -> dict:
    """The status subresource as upstream serialises it (zero counters omitted where its
    JSON omits them), a finished rolling update completed."""
    old = sts.get("status") or {}
    status = {k: v for k, v in old.items() if k == "conditions"}
    generation = (sts.get("metadata") or {}).get("generation")
    if generation:
        status["observedGeneration"] = generation
    status["replicas"] = counts["replicas"]
    for key in ("readyReplicas", "currentReplicas", "updatedReplicas"):
        if counts[key]:
            status[key] = counts[key]
    status["availableReplicas"] = counts["availableReplicas"]
    status["currentRevision"] = current
    status["updateRevision"] = update
    status["collisionCount"] = collision_count
    complete_rolling_update(sts, status)
    return status


def complete_rolling_update(sts: dict, status: dict) -> None:
    """All pods updated and ready: the update revision becomes the current one."""
    strategy = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("type")
    replicas = status.get("replicas", 0)
    if (strategy == "RollingUpdate" and status.get("updatedReplicas", 0) == replicas
            and status.get("readyReplicas", 0) == replicas):
        status["currentRevision"] = status.get("updateRevision", "")
        if status.get("updatedReplicas"):
            status["currentReplicas"] = status["updatedReplicas"]
        else:
            status.pop("currentReplicas", None)


def new_versioned_pod(current_set: dict, update_set: dict, current: str, update: str,
                   ordinal: int) -> dict:
    """Upstream's newVersionedStatefulSetPod (its operator precedence kept)."""
    spec = current_set.get("spec") or {}
    strategy = spec.get("updateStrategy") or {}
    rolling = strategy.get("rollingUpdate")
    start = start_ordinal(current_set)
    current_replicas = int((current_set.get("status") or {}).get("currentReplicas") or 0)
    if ((strategy.get("type") == "RollingUpdate" and rolling is None
         and ordinal < start + current_replicas)
            or (rolling is not None and ordinal < start + int(rolling.get("partition") or 0))):
        return new_stateful_pod(current_set, ordinal, revision=current)
    return new_stateful_pod(update_set, ordinal, revision=update)


# -- helpers ---------------------------------------------------------------------------------

def _available(pod: dict, available_in: AvailableIn) -> bool:
    return is_running_and_ready(pod) and available_in(pod) == 0.0


async def _run_for_all(n: int, fn: Callable[[int], Awaitable[bool]],
                       monotonic: bool) -> tuple[bool, BaseException | None]:
    """Upstream's runForAll: in order until one says stop (monotonic), or every index in
    doubling batches, stopping after a batch with an error (burst)."""
    if monotonic:
        for i in range(n):
            try:
                if await fn(i):
                    return True, None
            except Exception as err:  # noqa: BLE001 -- an API error stops this sync
                return True, err
        return False, None
    done, batch = 0, min(n, 1)
    while batch > 0:
        results = await asyncio.gather(*(fn(done + k) for k in range(batch)),
                                       return_exceptions=True)
        for r in results:
            if isinstance(r, asyncio.CancelledError):
                raise r
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            return True, errors[0]
        done += batch
        batch = min(2 * batch, n - done, MAX_BATCH_SIZE)
    return False, None
