"""Pod validation: create, update (the few mutable spec fields) and status updates.

A Pod's spec is immutable once created except container and init container images,
activeDeadlineSeconds (set or lowered), tolerations (additions, or a changed
tolerationSeconds), a negative terminationGracePeriodSeconds raised to 1, and scheduling
gates (removals). Any other change is one Forbidden error at `spec` with upstream's sentence
followed by a short diff of the changed fields. Status updates may not move spec.nodeName,
may not bring a terminated container back to life when the pod's restart policy forbids it,
and must carry valid pod and host IPs.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from kubemu.cluster.api.errors import FieldError
from kubemu.cluster.api.validation import names as n
from kubemu.cluster.api.validation.field import (
    child, duplicate, forbidden, index, invalid, required)
from kubemu.cluster.api.validation.meta import (
    messages_to_errors,
    validate_qualified_name)
from kubemu.cluster.api.validation.podspec import validate_pod_spec

__all__ = ["validate_pod", "validate_pod_update", "validate_pod_status_update",
           "POD_UPDATE_FORBIDDEN"]

POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
    "set to 1 if it was previously negative)")
_MAX_INT32 = 2147483647
_SYSTEM_CONDITIONS = ("PodScheduled", "Ready", "Initialized", "ContainersReady")
_IP_EXAMPLE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def validate_pod(obj: dict) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errs = validate_pod_spec(spec, "spec")
    if spec.get("ephemeralContainers"):
        errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    return errs


def validate_pod_update(new: dict, old: dict) -> list[FieldError]:
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    errs = validate_pod_spec(spec, "spec")
    for f in ("containers", "initContainers"):
        if len(spec.get(f) or []) != len(old_spec.get(f) or []):
            errs.append(forbidden(child("spec", f), "pod updates may not add or remove "
                                  "containers"))
            return errs
    deadline, old_deadline = spec.get("activeDeadlineSeconds"), old_spec.get(
        "activeDeadlineSeconds")
    if deadline is not None:
        if not 0 <= deadline <= _MAX_INT32:
            errs.append(invalid("spec.activeDeadlineSeconds", deadline,
                                n.inclusive_range_error(0, _MAX_INT32)))
            return errs
        if old_deadline is not None and old_deadline < deadline:
            errs.append(invalid("spec.activeDeadlineSeconds", deadline,
                                "must be less than or equal to previous value"))
            return errs
    elif old_deadline is not None:
        errs.append(invalid("spec.activeDeadlineSeconds", None,
                            "must not update from a positive integer to nil value"))
    errs += _only_added_tolerations(spec.get("tolerations") or [],
                                    old_spec.get("tolerations") or [])
    errs += _only_removed_gates(spec.get("schedulingGates") or [],
                                old_spec.get("schedulingGates") or [])
    if spec == old_spec:
        return errs
    munged = _munge(spec, old_spec)
    if munged != old_spec:
        errs.append(forbidden("spec", POD_UPDATE_FORBIDDEN + "\n" + _diff(old_spec, munged)))
    return errs


def validate_pod_status_update(new: dict, old: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    status, old_status = new.get("status") or {}, old.get("status") or {}
    if spec.get("nodeName", "") != old_spec.get("nodeName", ""):
        errs.append(forbidden("status.nodeName", "may not be changed directly"))
    nominated = status.get("nominatedNodeName") or ""
    if nominated and nominated != old_status.get("nominatedNodeName"):
        errs += messages_to_errors("status.nominatedNodeName", nominated,
                                   n.is_dns1123_subdomain(nominated))
    errs += _state_transitions(status.get("containerStatuses") or [],
                               old_status.get("containerStatuses") or [],
                               "status.containerStatuses",
                               lambda _s, code: _may_restart(old_spec, code))
    init_policies = {c.get("name"): c.get("restartPolicy")
                     for c in old_spec.get("initContainers") or []}
    errs += _state_transitions(status.get("initContainerStatuses") or [],
                               old_status.get("initContainerStatuses") or [],
                               "status.initContainerStatuses",
                               lambda s, code: init_policies.get(s.get("name")) == "Always"
                               or (code != 0 and old_spec.get("restartPolicy") != "Never"))
    for i, cond in enumerate(status.get("conditions") or []):
        if cond.get("type") not in _SYSTEM_CONDITIONS:
            errs += validate_qualified_name(cond.get("type") or "",
                                            child(index("status.conditions", i), "Type"))
    errs += _ips(status, "podIP", "podIPs")
    errs += _ips(status, "hostIP", "hostIPs")
    return errs


def _munge(spec: dict, old_spec: dict) -> dict:
    munged = copy.deepcopy(spec)
    for f in ("containers", "initContainers"):
        for ctr, old_ctr in zip(munged.get(f) or [], old_spec.get(f) or []):
            ctr["image"] = old_ctr.get("image")
    for f in ("activeDeadlineSeconds", "tolerations", "schedulingGates"):
        if f in old_spec:
            munged[f] = copy.deepcopy(old_spec[f])
        else:
            munged.pop(f, None)
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if old_grace is not None and old_grace < 0 and munged.get(
            "terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    return munged


def _only_added_tolerations(new: list[dict], old: list[dict]) -> list[FieldError]:
    for tol in old:
        base = {k: v for k, v in tol.items() if k != "tolerationSeconds"}
        if not any({k: v for k, v in t.items() if k != "tolerationSeconds"} == base
                   for t in new):
            return [forbidden("spec.tolerations",
                              "existing toleration can not be modified except its "
                              "tolerationSeconds")]
    return []  # the new tolerations' syntax is checked with the rest of the spec


def _only_removed_gates(new: list[dict], old: list[dict]) -> list[FieldError]:
    old_names = {g.get("name") for g in old}
    for gate in new:
        if gate.get("name") not in old_names:
            return [forbidden("spec.schedulingGates", "only deletion is allowed, but found new "
                              f"scheduling gate '{gate.get('name')}'")]
    return []


def _may_restart(spec: dict, exit_code: int) -> bool:
    policy = spec.get("restartPolicy", "Always")
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def _state_transitions(new: list[dict], old: list[dict], path: str,
                       may_restart: Any) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, old_status in enumerate(old):
        terminated = (old_status.get("state") or {}).get("terminated")
        if terminated is None or may_restart(old_status, terminated.get("exitCode", 0)):
            continue
        for status in new:
            if status.get("name") == old_status.get("name") and (
                    status.get("state") or {}).get("terminated") is None:
                errs.append(forbidden(child(index(path, i), "state"),
                                      "may not be transitioned to non-terminated state"))
    return errs


def _ips(status: dict, single: str, plural: str) -> list[FieldError]:
    errs: list[FieldError] = []
    entries = status.get(plural) or []
    path = child("status", plural)
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        ip = entry.get("ip") or ""
        p = child(index(path, i), "ip")
        if not n.is_valid_ip(ip):
            errs.append(invalid(p, ip, _IP_EXAMPLE))
        elif ip in seen:
            errs.append(duplicate(p, ip))
        seen.add(ip)
    if len(entries) > 2:
        errs.append(invalid(path, entries, "may specify no more than one IP for each IP family"))
    first = status.get(single)
    if first and entries and entries[0].get("ip") != first:
        errs.append(invalid(child("status", single), first, f"must match {plural}[0]"))
    elif first and not entries:
        errs.append(required(path, f"must be set when {single} is set"))
    return errs


def _diff(old: dict, new: dict) -> str:
    lines = ["  core.PodSpec{"]
    for path, before, after in _changes(old, new, ""):
        if before is not _MISSING:
            lines.append(f"- \t{path}: {_json(before)},")
        if after is not _MISSING:
            lines.append(f"+ \t{path}: {_json(after)},")
    lines.append("  }")
    return "\n".join(lines)


_MISSING = object()


def _changes(old: Any, new: Any, path: str) -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _changes(old.get(k, _MISSING), new.get(k, _MISSING),
                            f"{path}.{k}" if path else k)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        out = []
        for i, (a, b) in enumerate(zip(old, new)):
            out += _changes(a, b, f"{path}[{i}]")
        return out
    return [] if old == new else [(path, old, new)]


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
