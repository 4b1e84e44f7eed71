"""Taints and tolerations: upstream's pure matching rules, shared by controllers and scheduler.

A taint `{key, value, effect, timeAdded}` on a Node repels pods; a toleration on a Pod lets it
stay (or schedule) anyway. The rules follow k8s.io/api's `Toleration.ToleratesTaint` and
component-helpers' `FindMatchingUntoleratedTaint` / `GetMatchingTolerations` exactly:
- an empty toleration effect matches every effect, an empty key (with operator Exists) every
  key; operator "" means Equal (values compare), Exists ignores the value;
- two taints are "the same taint" when key and effect match (`MatchTaint`): a node holds at
  most one taint per (key, effect), and value/timeAdded do not make a taint different;
- for NoExecute eviction each taint is tolerated by the *first* toleration matching it, and
  the pod may stay for the smallest tolerationSeconds among those (none: forever; <= 0: not at
  all).
Taints and tolerations are plain dicts as in the API; nothing here mutates its inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = [
    "NO_SCHEDULE", "PREFER_NO_SCHEDULE", "NO_EXECUTE",
    "TAINT_NODE_NOT_READY", "TAINT_NODE_UNREACHABLE", "TAINT_NODE_UNSCHEDULABLE",
    "TAINT_NODE_MEMORY_PRESSURE", "TAINT_NODE_DISK_PRESSURE", "TAINT_NODE_PID_PRESSURE",
    "TAINT_NODE_NETWORK_UNAVAILABLE", "TAINT_NODE_OUT_OF_SERVICE",
    "tolerates", "tolerations_tolerate_taint", "find_untolerated_taint",
    "matching_tolerations", "min_toleration_seconds", "match_taint", "taint_exists",
    "taint_key_exists", "taints_with_effect", "swap_taints", "same_taints",
]

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"

TAINT_NODE_NOT_READY = "node.kubernetes.io/not-ready"
TAINT_NODE_UNREACHABLE = "node.kubernetes.io/unreachable"
TAINT_NODE_UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
TAINT_NODE_MEMORY_PRESSURE = "node.kubernetes.io/memory-pressure"
TAINT_NODE_DISK_PRESSURE = "node.kubernetes.io/disk-pressure"
TAINT_NODE_PID_PRESSURE = "node.kubernetes.io/pid-pressure"
TAINT_NODE_NETWORK_UNAVAILABLE = "node.kubernetes.io/network-unavailable"
TAINT_NODE_OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"


def tolerates(toleration: dict, taint: dict) -> bool:
    """Whether one toleration tolerates one taint (upstream `ToleratesTaint`)."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return operator == "Exists"


def tolerations_tolerate_taint(tolerations: Iterable[dict] | None, taint: dict) -> bool:
    return any(tolerates(t, taint) for t in tolerations or ())


def find_untolerated_taint(taints: Iterable[dict] | None, tolerations: Iterable[dict] | None,
                           include: Callable[[dict], bool] | None = None) -> dict | None:
    """The first taint (passing `include`) no toleration tolerates, or None
    (upstream `FindMatchingUntoleratedTaint`)."""
    tolerations = list(tolerations or ())
    for taint in taints or ():
        if include is not None and not include(taint):
            continue
        if not tolerations_tolerate_taint(tolerations, taint):
            return taint
    return None


def matching_tolerations(taints: Iterable[dict] | None,
                         tolerations: Iterable[dict] | None) -> tuple[bool, list[dict]]:
    """(all tolerated, the first toleration matching each taint); (False, []) when some taint
    is not tolerated (upstream `GetMatchingTolerations`)."""
    tolerations = list(tolerations or ())
    used: list[dict] = []
    for taint in taints or ():
        match = next((t for t in tolerations if tolerates(t, taint)), None)
        if match is None:
            return False, []
        used.append(match)
    return True, used


def min_toleration_seconds(tolerations: Iterable[dict]) -> float | None:
    """How long the pod may stay: the smallest tolerationSeconds (0 when any is <= 0),
    None (forever) when none sets it. Without tolerations at all: 0 (upstream
    `getMinTolerationTime`)."""
    tolerations = list(tolerations)
    if not tolerations:
        return 0.0
    seconds = [t["tolerationSeconds"] for t in tolerations
               if t.get("tolerationSeconds") is not None]
    if not seconds:
        return None
    return float(max(0, min(seconds)))


def match_taint(a: dict, b: dict) -> bool:
    """Same key and effect (upstream `MatchTaint`): the identity of a taint on a node."""
    return a.get("key") == b.get("key") and a.get("effect") == b.get("effect")


def taint_exists(taints: Iterable[dict] | None, taint: dict) -> bool:
    return any(match_taint(t, taint) for t in taints or ())


def taint_key_exists(taints: Iterable[dict] | None, key: str) -> bool:
    return any(t.get("key") == key for t in taints or ())


def taints_with_effect(taints: Iterable[dict] | None, effect: str) -> list[dict]:
    return [t for t in taints or () if t.get("effect") == effect]


def swap_taints(taints: Iterable[dict] | None, *, add: Iterable[dict] = (),
                remove: Iterable[dict] = (), time_added: str | None = None) -> list[dict] | None:
    """The node's taints with `remove` taken off and `add` put on (replacing a taint of the
    same key and effect whose value differs; `timeAdded` set to `time_added` on the ones
    added); None when nothing would change (upstream `SwapNodeControllerTaint`'s diff)."""
    current = [dict(t) for t in taints or ()]
    changed = False
    for gone in remove:
        kept = [t for t in current if not match_taint(t, gone)]
        changed |= len(kept) != len(current)
        current = kept
    for new in add:
        same = next((t for t in current if match_taint(t, new)), None)
        if same is not None and (same.get("value") or "") == (new.get("value") or ""):
            continue
        if same is not None:
            current.remove(same)
        taint = {k: v for k, v in new.items() if v not in (None, "")}
        if time_added is not None:
            taint["timeAdded"] = time_added
        current.append(taint)
        changed = True
    return current if changed else None


def same_taints(a: Iterable[dict] | None, b: Iterable[dict] | None) -> bool:
    """Equal as sets of (key, value, effect), ignoring order and timeAdded."""
    return _taint_set(a) == _taint_set(b)


def _taint_set(taints: Iterable[dict] | None) -> set[tuple[str, str, str]]:
    return {(t.get("key") or "", t.get("value") or "", t.get("effect") or "")
            for t in taints or ()}
