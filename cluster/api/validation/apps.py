"""apps/v1 validation: Deployment, ReplicaSet, StatefulSet, DaemonSet, ControllerRevision.

Every workload needs a non-empty selector that matches its template's labels
(`` `selector` does not match template `labels` `` at `spec.template.metadata.labels`), a valid
pod template whose restartPolicy is Always, and a selector that never changes (apps/v1).
Rolling-update knobs are int-or-percent (`25%`, `1`); maxUnavailable and maxSurge may not both
be 0. A StatefulSet's spec is frozen except replicas, ordinals, template, updateStrategy,
revisionHistoryLimit, persistentVolumeClaimRetentionPolicy and minReadySeconds; its template's
volume mounts may name its volumeClaimTemplates. Status counters are non-negative and bounded
by status.replicas.
"""

from __future__ import annotations

import re
from typing import Any

from kubemu.cluster.api.errors import FieldError
from kubemu.cluster.api.validation import names as n
from kubemu.cluster.api.validation.field import (
    child, forbidden, immutable, invalid, not_supported, required)
from kubemu.cluster.api.validation.meta import (
    messages_to_errors, nonnegative, validate_label_selector,)
from kubemu.cluster.api.validation.podspec import validate_pod_template

__all__ = ["validate_deployment", "validate_deployment_update", "validate_replica_set",
           "validate_replica_set_update", "validate_stateful_set",
           "validate_stateful_set_update", "validate_daemon_set", "validate_daemon_set_update",
           "validate_controller_revision", "validate_controller_revision_update",
           "validate_apps_status", "validate_int_or_percent", "not_more_than_100_percent",
           "selector_matches"]

_MISMATCH = "`selector` does not match template `labels`"
_STS_FROZEN = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', "
               "'template', 'updateStrategy', 'revisionHistoryLimit', "
               "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")
_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
_GREATER = "cannot be greater than status.replicas"


def validate_deployment(obj: dict) -> list[FieldError]:
    return _deployment_spec(obj.get("spec") or {})


def validate_deployment_update(new: dict, old: dict) -> list[FieldError]:
    return _deployment_spec(new.get("spec") or {}) + _selector_immutable(new, old)


def validate_replica_set(obj: dict) -> list[FieldError]:
    return _replica_set_spec(obj.get("spec") or {})


def validate_replica_set_update(new: dict, old: dict) -> list[FieldError]:
    return _replica_set_spec(new.get("spec") or {}) + _selector_immutable(new, old)


def validate_stateful_set(obj: dict) -> list[FieldError]:
    return _stateful_set_spec(obj.get("spec") or {})


def validate_stateful_set_update(new: dict, old: dict) -> list[FieldError]:
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    errs = _stateful_set_spec(spec)
    frozen = {k: v for k, v in spec.items() if k not in _STS_MUTABLE}
    old_frozen = {k: v for k, v in old_spec.items() if k not in _STS_MUTABLE}
    if frozen != old_frozen:
        errs.append(forbidden("spec", _STS_FROZEN))
    return errs


def validate_daemon_set(obj: dict) -> list[FieldError]:
    return _daemon_set_spec(obj.get("spec") or {})


def validate_daemon_set_update(new: dict, old: dict) -> list[FieldError]:
    return _daemon_set_spec(new.get("spec") or {}) + _selector_immutable(new, old)


def validate_controller_revision(obj: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    if obj.get("data") is None:
        errs.append(required("data", "data is mandatory"))
    return errs + nonnegative(obj.get("revision", 0), "revision")


def validate_controller_revision_update(new: dict, old: dict) -> list[FieldError]:
    errs = immutable(new.get("data"), old.get("data"), "data")
    return errs + nonnegative(new.get("revision", 0), "revision")


def validate_apps_status(kind: str, obj: dict) -> list[FieldError]:
    """Non-negative counters, bounded by status.replicas, for the apps kinds' /status."""
    status = obj.get("status") or {}
    counters = _COUNTERS.get(kind, ())
    errs: list[FieldError] = []
    for f in counters:
        errs += nonnegative(status.get(f, 0), child("status", f))
    if kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        replicas = status.get("replicas", 0)
        for f in counters:
            if f not in ("replicas", "observedGeneration", "collisionCount",
                         "unavailableReplicas") and status.get(f, 0) > replicas:
                errs.append(invalid(child("status", f), status.get(f, 0), _GREATER))
        if status.get("availableReplicas", 0) > status.get("readyReplicas", 0):
            errs.append(invalid("status.availableReplicas", status.get("availableReplicas"),
                                "cannot be greater than readyReplicas"))
    return errs


def validate_int_or_percent(value: Any, path: str) -> list[FieldError]:
    """A non-negative int or a `N%` string (upstream ValidatePositiveIntOrPercent)."""
    if isinstance(value, str):
        return messages_to_errors(path, value, n.is_valid_percent(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return nonnegative(value, path)
    return [invalid(path, value, "must be an integer or percentage (e.g '5%')")]


def not_more_than_100_percent(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, str) and re.fullmatch(r"[0-9]+%", value) and int(value[:-1]) > 100:
        return [invalid(path, value, "must not be greater than 100%")]
    return []


def selector_matches(selector: dict | None, labels: dict | None) -> bool:
    """Whether a LabelSelector matches a label set (None matches nothing, {} everything)."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        k, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(k) not in values:
            return False
        if op == "NotIn" and k in labels and labels[k] in values:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


_COUNTERS = {
    "Deployment": ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                   "availableReplicas", "unavailableReplicas", "collisionCount"),
    "ReplicaSet": ("observedGeneration", "replicas", "fullyLabeledReplicas", "readyReplicas",
                   "availableReplicas"),
    "StatefulSet": ("observedGeneration", "replicas", "readyReplicas", "currentReplicas",
                    "updatedReplicas", "availableReplicas", "collisionCount"),
    "DaemonSet": ("observedGeneration", "currentNumberScheduled", "numberMisscheduled",
                  "desiredNumberScheduled", "numberReady", "updatedNumberScheduled",
                  "numberAvailable", "numberUnavailable", "collisionCount"),
}


def _selector_immutable(new: dict, old: dict) -> list[FieldError]:
    return immutable((new.get("spec") or {}).get("selector"),
                     (old.get("spec") or {}).get("selector"), "spec.selector")


def _selector(spec: dict, kind: str) -> list[FieldError]:
    selector = spec.get("selector")
    if selector is None:
        return [required("spec.selector")]
    errs = validate_label_selector(selector, "spec.selector")
    if errs:
        errs.append(invalid("spec.selector", selector, "invalid label selector"))
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errs.append(invalid("spec.selector", selector, f"empty selector is invalid for {kind}"))
    return errs


def _template(spec: dict, kind: str, *,
              extra_volumes: tuple[str, ...] | list[str] = ()) -> list[FieldError]:
    template = spec.get("template") or {}
    errs: list[FieldError] = []
    selector = spec.get("selector")
    labels = (template.get("metadata") or {}).get("labels")
    if selector is not None and (selector.get("matchLabels") or selector.get(
            "matchExpressions")) and not validate_label_selector(selector, "") and not (
                selector_matches(selector, labels)):
        errs.append(invalid("spec.template.metadata.labels", labels, _MISMATCH))
    if extra_volumes:
        template = dict(template)
        template_spec = dict(template.get("spec") or {})
        template_spec["volumes"] = list(template_spec.get("volumes") or []) + [
            {"name": name, "persistentVolumeClaim": {"claimName": name}}
            for name in extra_volumes]
        template["spec"] = template_spec
    errs += validate_pod_template(template, "spec.template")
    template_spec = template.get("spec") or {}
    policy = template_spec.get("restartPolicy")
    if policy and policy != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", policy, ["Always"]))
    if template_spec.get("activeDeadlineSeconds") is not None:
        errs.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                              f"activeDeadlineSeconds in {kind} is not Supported"))
    return errs


def _common(spec: dict) -> list[FieldError]:
    errs = nonnegative(spec.get("replicas", 0), "spec.replicas")
    errs += nonnegative(spec.get("minReadySeconds", 0), "spec.minReadySeconds")
    if spec.get("revisionHistoryLimit") is not None:
        errs += nonnegative(spec["revisionHistoryLimit"], "spec.revisionHistoryLimit")
    return errs


def _deployment_spec(spec: dict) -> list[FieldError]:
    errs = _common(spec) + _selector(spec, "deployment") + _template(spec, "ReplicaSet")
    strategy = spec.get("strategy") or {}
    stype = strategy.get("type")
    if stype == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            errs.append(forbidden("spec.strategy.rollingUpdate",
                                  "may not be specified when strategy `type` is 'Recreate'"))
    elif stype == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if rolling is None:
            errs.append(required("spec.strategy.rollingUpdate",
                                 "this should be defaulted and never be nil"))
        else:
            p = "spec.strategy.rollingUpdate"
            unavailable, surge = rolling.get("maxUnavailable", 0), rolling.get("maxSurge", 0)
            errs += validate_int_or_percent(unavailable, child(p, "maxUnavailable"))
            errs += validate_int_or_percent(surge, child(p, "maxSurge"))
            if _value(unavailable) == 0 and _value(surge) == 0:
                errs.append(invalid(child(p, "maxUnavailable"), unavailable,
                                    "may not be 0 when `maxSurge` is 0"))
            errs += not_more_than_100_percent(unavailable, child(p, "maxUnavailable"))
    else:
        errs.append(not_supported("spec.strategy", strategy, ("Recreate", "RollingUpdate")))
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None:
        errs += nonnegative(deadline, "spec.progressDeadlineSeconds")
        if deadline <= spec.get("minReadySeconds", 0):
            errs.append(invalid("spec.progressDeadlineSeconds", deadline,
                                "must be greater than minReadySeconds"))
    return errs


def _replica_set_spec(spec: dict) -> list[FieldError]:
    return _common(spec) + _selector(spec, "deployment") + _template(spec, "ReplicaSet")


def _stateful_set_spec(spec: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    policy = spec.get("podManagementPolicy") or ""
    if not policy:
        errs.append(required("spec.podManagementPolicy"))
    elif policy not in ("OrderedReady", "Parallel"):
        errs.append(invalid("spec.podManagementPolicy", policy,
                            "must be 'OrderedReady' or 'Parallel'"))
    strategy = spec.get("updateStrategy") or {}
    stype = strategy.get("type") or ""
    if not stype:
        errs.append(required("spec.updateStrategy"))
    elif stype == "OnDelete":
        if strategy.get("rollingUpdate") is not None:
            errs.append(invalid("spec.updateStrategy.rollingUpdate", strategy["rollingUpdate"],
                                "only allowed for updateStrategy 'RollingUpdate'"))
    elif stype == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        errs += nonnegative(rolling.get("partition", 0),
                            "spec.updateStrategy.rollingUpdate.partition")
        if rolling.get("maxUnavailable") is not None:
            mp = "spec.updateStrategy.rollingUpdate.maxUnavailable"
            errs += validate_int_or_percent(rolling["maxUnavailable"], mp)
            if _value(rolling["maxUnavailable"]) == 0:
                errs.append(invalid(mp, rolling["maxUnavailable"], "cannot be 0"))
            errs += not_more_than_100_percent(rolling["maxUnavailable"], mp)
    else:
        errs.append(invalid("spec.updateStrategy", strategy,
                            "must be 'RollingUpdate' or 'OnDelete'"))
    retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    for f in ("whenDeleted", "whenScaled"):
        value = retention.get(f)
        if value is not None and value not in ("Retain", "Delete"):
            errs.append(not_supported(child("spec.persistentVolumeClaimRetentionPolicy", f),
                                      value, ("Retain", "Delete")))
    errs += _common(spec)
    if spec.get("ordinals") is not None:
        errs += nonnegative((spec["ordinals"] or {}).get("start", 0), "spec.ordinals.start")
    errs += _selector(spec, "statefulset")
    claims = [(c.get("metadata") or {}).get("name") or ""
              for c in spec.get("volumeClaimTemplates") or []]
    return errs + _template(spec, "StatefulSet", extra_volumes=[c for c in claims if c])


def _daemon_set_spec(spec: dict) -> list[FieldError]:
    errs = _selector(spec, "daemonset") + _template(spec, "DaemonSet")
    errs += nonnegative(spec.get("minReadySeconds", 0), "spec.minReadySeconds")
    if spec.get("revisionHistoryLimit") is not None:
        errs += nonnegative(spec["revisionHistoryLimit"], "spec.revisionHistoryLimit")
    strategy = spec.get("updateStrategy") or {}
    stype = strategy.get("type")
    p = "spec.updateStrategy.rollingUpdate"
    if stype == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if rolling is None:
            return errs + [required(p)]
        unavailable, surge = rolling.get("maxUnavailable", 0), rolling.get("maxSurge", 0)
        errs += validate_int_or_percent(unavailable, child(p, "maxUnavailable"))
        errs += validate_int_or_percent(surge, child(p, "maxSurge"))
        errs += not_more_than_100_percent(unavailable, child(p, "maxUnavailable"))
        errs += not_more_than_100_percent(surge, child(p, "maxSurge"))
        has_unavailable, has_surge = _value(unavailable) != 0, _value(surge) != 0
        if has_unavailable and has_surge:
            errs.append(invalid(child(p, "maxSurge"), surge,
                                "may not be set when maxUnavailable is non-zero"))
        elif not has_unavailable and not has_surge:
            errs.append(required(child(p, "maxUnavailable"), "cannot be 0 when maxSurge is 0"))
    elif stype != "OnDelete":
        errs.append(not_supported("spec.updateStrategy", strategy, ("RollingUpdate",
                                                                     "OnDelete")))
    return errs


def _value(value: Any) -> int:
    """The number in an int-or-percent (`25%` -> 25), as upstream's getIntOrPercentValue."""
    if isinstance(value, str):
        digits = value[:-1] if value.endswith("%") else value
        return int(digits) if digits.isdigit() else 0
    return value if isinstance(value, int) else 0
