"""Deployment helpers: pod-template-hash, revision annotations, fenceposts and RS arithmetic.

Upstream's `deployment/util` and `controller.ComputeHash`, over plain ReplicaSet dicts:
- pod-template-hash: fnv-32a of the template's canonical JSON (sorted keys), then the
  collisionCount as 8 little-endian bytes when set, the decimal digits rendered through
  upstream's "safe encode" alphabet. A ReplicaSet's template equals the Deployment's when they
  differ only by that label (`equal_ignore_hash`; nil and empty collections compare equal, as
  apimachinery's semantic DeepEqual);
- annotations: `deployment.kubernetes.io/revision` (a new RS gets max(old) + 1; an RS taking
  a higher revision again -- a rollback -- keeps its old numbers in `revision-history`,
  bounded to 2000 characters), `desired-replicas` and `max-replicas` (the Deployment's size
  and size + maxSurge when the RS was last scaled: the base of proportional scaling), and the
  Deployment's own annotations copied to its new RS except last-applied-configuration and the
  `deployment.kubernetes.io/` ones (kubectl's `rollout undo` copies them back);
- fenceposts: maxSurge rounds a percentage up, maxUnavailable down; if both resolve to 0,
  maxUnavailable is 1 (validation rejects explicit zeros for both);
- counts over RS lists (spec replicas, actual, ready, available) and upstream's orderings.
Nothing here does I/O; functions that change an RS mutate the copy they are given.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterable
from typing import Any

import orjson
from kubemu.cluster.api.objects import parse_rfc3339

__all__ = [
    "POD_TEMPLATE_HASH", "REVISION", "REVISION_HISTORY", "DESIRED_REPLICAS", "MAX_REPLICAS",
    "LAST_APPLIED", "ROLLBACK_TO", "MAX_REV_HISTORY_CHARS", "compute_hash", "safe_encode",
    "equal_ignore_hash", "revision", "max_revision", "set_new_rs_annotations",
    "set_replicas_annotations", "replicas_annotations_need_update", "int_annotation",
    "set_deployment_revision", "scaled_value", "resolve_fenceposts", "max_surge",
    "max_unavailable", "is_rolling_update", "replicas", "spec_replicas_sum",
    "actual_replicas_sum", "ready_replicas_sum", "available_replicas_sum", "filter_active",
    "by_creation", "by_revision", "created_at", "uid",
]

POD_TEMPLATE_HASH = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
MAX_REV_HISTORY_CHARS = 2000

_SKIPPED_ANNOTATIONS = frozenset({LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS,
                                  MAX_REPLICAS, ROLLBACK_TO})
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_PERCENT = re.compile(r"^(\d+)%$")


# -- pod-template-hash -----------------------------------------------------------------------

def compute_hash(template: dict, collision_count: int | None = None) -> str:
    """The pod-template-hash of `template` (and the Deployment's collisionCount)."""
    data = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        data += struct.pack("<I", collision_count & 0xFFFFFFFF) + b"\0\0\0\0"
    return safe_encode(str(_fnv32a(data)))


def safe_encode(text: str) -> str:
    """Upstream's rand.SafeEncodeString: each byte mapped into an alphabet without vowels."""
    return "".join(_SAFE_ALPHABET[b % len(_SAFE_ALPHABET)] for b in text.encode())


def equal_ignore_hash(a: dict | None, b: dict | None) -> bool:
    """Whether two pod templates are equal once the pod-template-hash label is dropped."""
    return _normalized(_without_hash(a or {})) == _normalized(_without_hash(b or {}))


# -- revisions and annotations ---------------------------------------------------------------

def revision(obj: dict) -> int:
    """The object's revision annotation (0 when missing or not a number)."""
    return int_annotation(obj, REVISION) or 0


def max_revision(rss: Iterable[dict | None]) -> int:
    return max((revision(rs) for rs in rss if rs is not None), default=0)


def int_annotation(obj: dict, key: str) -> int | None:
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(key)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def set_new_rs_annotations(deployment: dict, rs: dict, new_revision: int, *,
                           exists: bool) -> bool:
    """Copy the Deployment's annotations to its new RS and raise the RS's revision to
    `new_revision` (recording the old one in revision-history); a new RS also gets the
    replicas annotations. Whether anything changed."""
    changed = _copy_annotations(deployment, rs)
    annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
    old_raw = annotations.get(REVISION)
    try:
        old = int(old_raw) if old_raw is not None else 0
    except ValueError:
        return False  # upstream leaves an RS with a garbled revision alone
    if old < new_revision:
        annotations[REVISION] = str(new_revision)
        changed = True
        if old_raw is not None:
            annotations[REVISION_HISTORY] = _append_history(
                annotations.get(REVISION_HISTORY) or "", old_raw)
    if not exists:
        total = replicas(deployment)
        changed |= set_replicas_annotations(rs, total, total + max_surge(deployment))
    return changed


def set_replicas_annotations(rs: dict, desired: int, maximum: int) -> bool:
    annotations = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(maximum))):
        if annotations.get(key) != value:
            annotations[key] = value
            changed = True
    return changed


def replicas_annotations_need_update(rs: dict, desired: int, maximum: int) -> bool:
    annotations = (rs.get("metadata") or {}).get("annotations") or {}
    return (annotations.get(DESIRED_REPLICAS) != str(desired)
            or annotations.get(MAX_REPLICAS) != str(maximum))


def set_deployment_revision(deployment: dict, value: str) -> bool:
    """Set the Deployment's revision annotation; whether it changed."""
    annotations = deployment.setdefault("metadata", {}).setdefault("annotations", {})
    if annotations.get(REVISION) == value:
        return False
    annotations[REVISION] = value
    return True


# -- fenceposts ------------------------------------------------------------------------------

def scaled_value(value: Any, total: int, *, round_up: bool) -> int:
    """An int-or-percent resolved against `total` (percentages round up or down)."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    match = _PERCENT.match(text)
    if match is None:
        return int(text) if text.isdigit() else 0
    exact = int(match.group(1)) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def resolve_fenceposts(surge: Any, unavailable: Any, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as numbers of pods for `desired` replicas."""
    up = scaled_value(surge, desired, round_up=True)
    down = scaled_value(unavailable, desired, round_up=False)
    if up == 0 and down == 0:
        down = 1
    return up, down


def is_rolling_update(deployment: dict) -> bool:
    strategy = (deployment.get("spec") or {}).get("strategy") or {}
    return (strategy.get("type") or "RollingUpdate") == "RollingUpdate"


def max_surge(deployment: dict) -> int:
    if not is_rolling_update(deployment):
        return 0
    return _fenceposts(deployment)[0]


def max_unavailable(deployment: dict) -> int:
    total = replicas(deployment)
    if not is_rolling_update(deployment) or total == 0:
        return 0
    return min(_fenceposts(deployment)[1], total)


# -- replica arithmetic ----------------------------------------------------------------------

def replicas(obj: dict | None) -> int:
    """spec.replicas (1 when unset, as defaulted)."""
    if obj is None:
        return 0
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def spec_replicas_sum(rss: Iterable[dict | None]) -> int:
    """Desired pods of the ReplicaSets (upstream's GetReplicaCountForReplicaSets)."""
    return sum(replicas(rs) for rs in rss if rs is not None)


def actual_replicas_sum(rss: Iterable[dict | None]) -> int:
    return _status_sum(rss, "replicas")


def ready_replicas_sum(rss: Iterable[dict | None]) -> int:
    return _status_sum(rss, "readyReplicas")


def available_replicas_sum(rss: Iterable[dict | None]) -> int:
    return _status_sum(rss, "availableReplicas")


def filter_active(rss: Iterable[dict | None]) -> list[dict]:
    """ReplicaSets with spec.replicas > 0."""
    return [rs for rs in rss if rs is not None and replicas(rs) > 0]


def created_at(obj: dict) -> float:
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    try:
        return parse_rfc3339(stamp) if stamp else 0.0
    except ValueError:
        return 0.0


def uid(obj: dict | None) -> str:
    return ((obj or {}).get("metadata") or {}).get("uid") or ""


def by_creation(rs: dict) -> tuple[float, str]:
    """Sort key: oldest first, then by name (upstream's ReplicaSetsByCreationTimestamp)."""
    return created_at(rs), (rs.get("metadata") or {}).get("name") or ""


def by_revision(rs: dict) -> tuple[int, float, str]:
    """Sort key: lowest revision first, then oldest (upstream's ReplicaSetsByRevision)."""
    return (revision(rs), *by_creation(rs))


# -- helpers ---------------------------------------------------------------------------------

def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def _without_hash(template: dict) -> dict:
    md = template.get("metadata") or {}
    labels = md.get("labels") or {}
    if POD_TEMPLATE_HASH not in labels:
        return template
    rest = {k: v for k, v in labels.items() if k != POD_TEMPLATE_HASH}
    return {**template, "metadata": {**md, "labels": rest}}


def _normalized(value: Any) -> Any:
    """Drop None and empty collections (nil and empty compare equal upstream)."""
    if isinstance(value, dict):
        out = {k: _normalized(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def _copy_annotations(deployment: dict, rs: dict) -> bool:
    source = (deployment.get("metadata") or {}).get("annotations") or {}
    target = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in source.items():
        if key in _SKIPPED_ANNOTATIONS or target.get(key) == value:
            continue
        target[key] = value
        changed = True
    return changed


def _append_history(history: str, old: str) -> str:
    """revision-history with `old` appended, oldest entries dropped past the length limit."""
    if not history:
        return old
    entries = history.split(",")
    total = len(history) + len(old) + 1
    start = 0
    while total > MAX_REV_HISTORY_CHARS and start < len(entries):
        total -= len(entries[start]) + 1
        start += 1
    if total > MAX_REV_HISTORY_CHARS:
        return history
    return ",".join([*entries[start:], old])


def _fenceposts(deployment: dict) -> tuple[int, int]:
    rolling = ((deployment.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    return resolve_fenceposts(rolling.get("maxSurge"), rolling.get("maxUnavailable"),
                              replicas(deployment))


def _status_sum(rss: Iterable[dict | None], field: str) -> int:
    return sum(int((rs.get("status") or {}).get(field) or 0) for rs in rss if rs is not None)
