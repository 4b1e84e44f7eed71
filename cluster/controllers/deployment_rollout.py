"""Deployment rollout arithmetic: which ReplicaSet to scale to what, as pure functions.

Upstream's rolling.go, recreate.go, sync.go (scale, cleanup) and the matching parts of
`deployment/util`, returning plans instead of writing:
- the new RS is the oldest whose template equals the Deployment's ignoring the
  pod-template-hash label; every other claimed RS is old;
- RollingUpdate: the new RS grows until the desired pods of all RSs reach replicas + maxSurge
  (`new_rs_target`); old RSs shrink (`scale_down_old`) without the available pods dropping
  below replicas - maxUnavailable, their unavailable replicas first (oldest RS first), and
  never while the new RS's own unavailable pods eat the budget;
- Recreate: every old RS goes to 0, and the new RS is scaled up only once no pod of an old RS
  is still running (`old_pods_running`);
- a change of spec.replicas in mid-rollout (or while paused) scales all active RSs in
  proportion to their share of the size recorded in their max-replicas annotation
  (`proportional_scale`), leftovers to the largest;
- revisionHistoryLimit: the oldest revisions of fully scaled-down old RSs beyond the limit are
  deleted (`rss_to_prune`).
Availability comes from RS status availableReplicas (which honours minReadySeconds). One
deliberate tightening: an RS is never counted as having more available pods than its
spec.replicas, so a status that lags our own scale-down cannot justify scaling down again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kubemu.cluster.controllers.deployment_util import (
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    by_creation,
    by_revision,
    equal_ignore_hash,
    filter_active,
    int_annotation,
    is_rolling_update,
    max_surge,
    max_unavailable,
    replicas,
    spec_replicas_sum,
    uid,
)

__all__ = ["Scale", "find_new_rs", "new_rs_new_replicas", "new_rs_target", "scale_down_old",
           "recreate_scale_down", "old_pods_running", "is_scaling_event",
           "proportional_scale", "rss_to_prune", "available"]


@dataclass(frozen=True)
class Scale:
    """Set `rs`'s spec.replicas to `replicas`; `operation` ("up"/"down") names the event."""

    rs: dict
    replicas: int
    operation: str


def find_new_rs(deployment: dict, rss: Iterable[dict]) -> dict | None:
    template = (deployment.get("spec") or {}).get("template")
    for rs in sorted(rss, key=by_creation):
        if equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
            return rs
    return None


def available(rs: dict | None) -> int:
    """Available pods of an RS by its status, capped at its spec.replicas."""
    if rs is None:
        return 0
    return min(int((rs.get("status") or {}).get("availableReplicas") or 0), replicas(rs))


def new_rs_new_replicas(deployment: dict, all_rss: list[dict | None], new_rs: dict) -> int:
    """How big the new RS may grow now (upstream's NewRSNewReplicas)."""
    want = replicas(deployment)
    if not is_rolling_update(deployment):
        return want
    max_total = want + max_surge(deployment)
    current = spec_replicas_sum(all_rss)
    if current >= max_total:
        return replicas(new_rs)
    return replicas(new_rs) + min(max_total - current, want - replicas(new_rs))


def new_rs_target(deployment: dict, all_rss: list[dict | None], new_rs: dict) -> int:
    """The new RS's size after upstream's reconcileNewReplicaSet."""
    want, have = replicas(deployment), replicas(new_rs)
    if have >= want:
        return want
    return new_rs_new_replicas(deployment, all_rss, new_rs)


def scale_down_old(deployment: dict, all_rss: list[dict | None], old_rss: list[dict],
                   new_rs: dict | None) -> list[Scale]:
    """Old RSs to shrink (upstream's reconcileOldReplicaSets: unhealthy replicas first, then
    down to the availability floor), one Scale per RS."""
    active = sorted(filter_active(old_rss), key=by_creation)
    if spec_replicas_sum(active) == 0:
        return []
    min_available = replicas(deployment) - max_unavailable(deployment)
    new_unavailable = replicas(new_rs) - available(new_rs)
    budget = spec_replicas_sum(all_rss) - min_available - new_unavailable
    if budget <= 0:
        return []
    sizes = {_name(rs): replicas(rs) for rs in active}
    cleaned = 0
    for rs in active:  # cleanup of unhealthy replicas
        if cleaned >= budget:
            break
        unhealthy = sizes[_name(rs)] - available(rs)
        if unhealthy <= 0:
            continue
        count = min(budget - cleaned, unhealthy)
        sizes[_name(rs)] -= count
        cleaned += count
    have = sum(min(available(rs), sizes[_name(rs)]) for rs in active) + available(new_rs)
    if have > min_available:
        excess, done = have - min_available, 0
        for rs in active:
            if done >= excess:
                break
            size = sizes[_name(rs)]
            if size == 0:
                continue
            count = min(size, excess - done)
            sizes[_name(rs)] = size - count
            done += count
    return [Scale(rs, sizes[_name(rs)], "down") for rs in active
            if sizes[_name(rs)] != replicas(rs)]


def recreate_scale_down(old_rss: Iterable[dict]) -> list[Scale]:
    return [Scale(rs, 0, "down") for rs in filter_active(old_rss)]


def old_pods_running(new_rs: dict | None, old_rss: list[dict],
                     pods_by_rs: Mapping[str, list[dict]]) -> bool:
    """Whether an old RS still has pods (by status) or a pod of an old RS is not finished
    (`pods_by_rs`: the Deployment's pods by their controlling RS's uid)."""
    if sum(int((rs.get("status") or {}).get("replicas") or 0) for rs in old_rss) > 0:
        return True
    new_uid = uid(new_rs) if new_rs is not None else None
    for rs_uid, pods in pods_by_rs.items():
        if rs_uid == new_uid:
            continue
        for pod in pods:
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                return True
    return False


def is_scaling_event(deployment: dict, new_rs: dict | None, old_rss: list[dict]) -> bool:
    """spec.replicas differs from the desired-replicas annotation of an active RS."""
    want = replicas(deployment)
    for rs in filter_active([*old_rss, new_rs]):
        desired = int_annotation(rs, DESIRED_REPLICAS)
        if desired is not None and desired != want:
            return True
    return False


def proportional_scale(deployment: dict, new_rs: dict | None,
                       old_rss: list[dict]) -> list[Scale]:
    """Upstream's `scale`: one active (or the newest) RS takes the whole size; a saturated new
    RS takes everything from the old ones; otherwise a rolling Deployment spreads the change
    over its active RSs in proportion to their size. Scales with an unchanged size still
    refresh the replicas annotations (so a stale desired-replicas annotation cannot make
    every sync a scaling event)."""
    want = replicas(deployment)
    target = _active_or_latest(new_rs, old_rss)
    if target is not None:  # (at the same size only its annotations may need a refresh)
        have = replicas(target)
        return [Scale(target, want, "up" if have < want else "down" if have > want else "")]
    if _saturated(deployment, new_rs):
        return [Scale(rs, 0, "down") for rs in filter_active(old_rss)]
    if not is_rolling_update(deployment):
        return []
    active = filter_active([*old_rss, new_rs])
    allowed = want + max_surge(deployment) if want > 0 else 0
    to_add = allowed - spec_replicas_sum(active)
    if to_add > 0:  # larger first; newer first among equals
        active.sort(key=by_creation, reverse=True)
        active.sort(key=lambda rs: -replicas(rs))
        operation = "up"
    elif to_add < 0:  # larger first; older first among equals
        active.sort(key=lambda rs: (-replicas(rs), *by_creation(rs)))
        operation = "down"
    else:
        operation = ""
    sizes: list[int] = []
    added = 0
    for rs in active:
        share = _proportion(rs, deployment, to_add, added) if to_add else 0
        sizes.append(replicas(rs) + share)
        added += share
    if active and to_add:
        sizes[0] = max(0, sizes[0] + to_add - added)
    return [Scale(rs, size, operation) for rs, size in zip(active, sizes)]


def rss_to_prune(deployment: dict, old_rss: Iterable[dict]) -> list[dict]:
    """Old RSs beyond revisionHistoryLimit, oldest revision first, that are fully scaled
    down and observed (upstream's cleanupDeployment)."""
    limit = (deployment.get("spec") or {}).get("revisionHistoryLimit")
    if limit is None:
        return []
    alive = [rs for rs in old_rss if not (rs.get("metadata") or {}).get("deletionTimestamp")]
    excess = len(alive) - int(limit)
    if excess <= 0:
        return []
    doomed = []
    for rs in sorted(alive, key=by_revision)[:excess]:
        status, md = rs.get("status") or {}, rs.get("metadata") or {}
        if (status.get("replicas") or replicas(rs)
                or int(md.get("generation") or 0) > int(status.get("observedGeneration") or 0)):
            continue
        doomed.append(rs)
    return doomed


# -- helpers ---------------------------------------------------------------------------------

def _name(rs: dict) -> str:
    return (rs.get("metadata") or {}).get("name") or ""


def _active_or_latest(new_rs: dict | None, old_rss: list[dict]) -> dict | None:
    """The only active RS; with none active, the new RS or else the newest old one; None
    when several are active."""
    if new_rs is None and not old_rss:
        return None
    active = filter_active([*old_rss, new_rs])
    if len(active) == 1:
        return active[0]
    if active:
        return None
    if new_rs is not None:
        return new_rs
    return max(old_rss, key=by_creation)


def _saturated(deployment: dict, rs: dict | None) -> bool:
    if rs is None:
        return False
    want = replicas(deployment)
    return (replicas(rs) == want and int_annotation(rs, DESIRED_REPLICAS) == want
            and int((rs.get("status") or {}).get("availableReplicas") or 0) == want)


def _proportion(rs: dict, deployment: dict, to_add: int, added: int) -> int:
    """This RS's share of `to_add` (upstream's GetReplicaSetProportion)."""
    if replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, deployment)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _fraction(rs: dict, deployment: dict) -> int:
    want = replicas(deployment)
    if want == 0:
        return -replicas(rs)
    new_max = want + max_surge(deployment)
    before = int_annotation(rs, MAX_REPLICAS)
    if not before:
        before = int((deployment.get("status") or {}).get("replicas") or 0)
        if before == 0:
            return 0
    exact = replicas(rs) * new_max / before
    return int(exact + 0.5) - replicas(rs)  # Go's math.Round for positive numbers
