"""Pod phase and the kubelet-owned pod conditions, computed from container statuses (pure).

Mirrors upstream's `getPhase` (kubelet_pods.go) and `status.Generate*Condition`
(pkg/kubelet/status/generate.go) over API-shaped container statuses, so a pod's phase and
conditions follow exactly from what `containerStatuses`/`initContainerStatuses` say.
`merge_conditions` keeps `lastTransitionTime` of a condition whose status did not change, and
preserves conditions the kubelet does not own (readiness gates, DisruptionTarget from others),
as the status manager does. `terminate_statuses` is the status manager's TerminatePod: once a
pod is finished, containers that never reported a termination read as ContainerStatusUnknown.
"""

from __future__ import annotations

__all__ = ["get_phase", "initialized_condition", "containers_ready_condition",
           "ready_condition", "merge_conditions", "any_regular_started", "is_sidecar",
           "terminate_statuses", "KUBELET_CONDITIONS", "UNKNOWN_TERMINATION"]

KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                      "PodScheduled")
UNKNOWN_TERMINATION = {"exitCode": 137, "reason": "ContainerStatusUnknown",
                       "message": "The container could not be located when the pod was "
                                  "terminated"}


def is_sidecar(container: dict) -> bool:
    """An init container with restartPolicy Always (a restartable init container)."""
    return container.get("restartPolicy") == "Always"


def get_phase(spec: dict, statuses: list[dict], *, terminal: bool) -> str:
    """upstream getPhase: `statuses` holds init and app container statuses together."""
    by_name = {s["name"]: s for s in statuses}
    pending_init = failed_init = 0
    unknown = running = waiting = stopped = succeeded = 0
    for c in spec.get("initContainers") or []:
        s = by_name.get(c["name"])
        state = (s or {}).get("state") or {}
        last = (s or {}).get("lastState") or {}
        if is_sidecar(c):
            if s is None:
                unknown += 1
            elif "running" in state:
                pending_init += 0 if s.get("started") else 1
                running += 1
            elif "terminated" in state or "terminated" in last:
                pass
            elif "waiting" in state:
                pending_init += 1
                waiting += 1
            else:
                pending_init += 1
                unknown += 1
            continue
        if s is None or "running" in state:
            pending_init += 1
        elif "terminated" in state:
            failed_init += state["terminated"].get("exitCode", 0) != 0
        elif "waiting" in state and "terminated" in last:
            failed_init += last["terminated"].get("exitCode", 0) != 0
        else:
            pending_init += 1
    for c in spec.get("containers") or []:
        s = by_name.get(c["name"])
        state = (s or {}).get("state") or {}
        if s is None:
            unknown += 1
        elif "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode", 0) == 0
        elif "waiting" in state:
            if "terminated" in ((s.get("lastState") or {})):
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    policy = spec.get("restartPolicy") or "Always"
    if failed_init > 0 and policy == "Never":
        return "Failed"
    if (pending_init > 0 and not any_regular_started(spec, statuses)) or waiting > 0:
        return "Pending"
    if running > 0 and unknown == 0:
        return "Running"
    if running == 0 and stopped > 0 and unknown == 0:
        if terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


def any_regular_started(spec: dict, statuses: list[dict]) -> bool:
    names = {c["name"] for c in spec.get("containers") or []}
    return any(s["name"] in names and ({"running", "terminated"} & set(s.get("state") or {}))
               for s in statuses)


def initialized_condition(spec: dict, statuses: list[dict], phase: str) -> dict:
    by_name = {s["name"]: s for s in statuses}
    unknown, incomplete = [], []
    for c in spec.get("initContainers") or []:
        s = by_name.get(c["name"])
        if s is None:
            unknown.append(c["name"])
        elif is_sidecar(c):
            if not s.get("started"):
                incomplete.append(c["name"])
        elif ((s.get("state") or {}).get("terminated") or {"exitCode": 1}).get("exitCode") != 0:
            incomplete.append(c["name"])
    if phase == "Succeeded" and not unknown:
        return _condition("Initialized", "True", "PodCompleted")
    if any_regular_started(spec, statuses):
        return _condition("Initialized", "True")
    messages = _messages(unknown, incomplete, "incomplete")
    if messages:
        return _condition("Initialized", "False", "ContainersNotInitialized", messages)
    return _condition("Initialized", "True")


def containers_ready_condition(spec: dict, statuses: list[dict], phase: str) -> dict:
    unknown, unready = _unready(spec, statuses)
    if phase == "Succeeded" and not unknown:
        return _condition("ContainersReady", "False", "PodCompleted")
    if phase == "Failed":
        return _condition("ContainersReady", "False", "PodFailed")
    messages = _messages(unknown, unready, "unready")
    if messages:
        return _condition("ContainersReady", "False", "ContainersNotReady", messages)
    return _condition("ContainersReady", "True")


def ready_condition(spec: dict, conditions: list[dict], statuses: list[dict],
                    phase: str) -> dict:
    """PodReady: containers ready and every readiness gate's condition True."""
    ready = containers_ready_condition(spec, statuses, phase)
    if ready["status"] != "True":
        return {**ready, "type": "Ready"}
    by_type = {c.get("type"): c for c in conditions}
    unready = []
    for gate in spec.get("readinessGates") or []:
        kind = gate.get("conditionType")
        cond = by_type.get(kind)
        if cond is None:
            unready.append(f'corresponding condition of pod readiness gate "{kind}" does '
                           f"not exist.")
        elif cond.get("status") != "True":
            unready.append(f'the status of pod readiness gate "{kind}" is not "True", but '
                           f'{cond.get("status")}')
    if unready:
        return _condition("Ready", "False", "ReadinessGatesNotReady", ", ".join(unready))
    return _condition("Ready", "True")


def merge_conditions(old: list[dict], generated: list[dict], *, now: str,
                     keep_types: tuple[str, ...] = ()) -> list[dict]:
    """Conditions to write: foreign conditions of `old` first, then `generated` with each
    lastTransitionTime kept from `old` when the status did not change."""
    owned = set(KUBELET_CONDITIONS) | {c["type"] for c in generated} | set(keep_types)
    before = {c.get("type"): c for c in old}
    merged = [dict(c) for c in old if c.get("type") not in owned]
    for cond in generated:
        prev = before.get(cond["type"])
        same = prev is not None and prev.get("status") == cond["status"]
        stamp = prev.get("lastTransitionTime") if same and prev else now
        merged.append({**cond, "lastTransitionTime": stamp or now})
    return merged


def terminate_statuses(spec: dict, init_statuses: list[dict],
                       statuses: list[dict]) -> None:
    """upstream TerminatePod, in place: after the pod finished, app containers (once the pod
    initialized) and init containers before the never-started tail read as terminated."""
    last_init = init_statuses[-1] if init_statuses else {}
    initialized = not spec.get("initContainers") or any(
        "terminated" in (s.get("lastState") or {}) or "waiting" not in (s.get("state") or {})
        for s in statuses) or bool(last_init.get("started")) or \
        ((last_init.get("state") or {}).get("terminated") or {}).get("exitCode") == 0
    if initialized:
        for s in statuses:
            if "terminated" not in (s.get("state") or {}):
                s["state"] = {"terminated": dict(UNKNOWN_TERMINATION)}
    tail = len(init_statuses)
    while tail > 0 and "waiting" in (init_statuses[tail - 1].get("state") or {}) \
            and not init_statuses[tail - 1].get("lastState"):
        tail -= 1
    for s in init_statuses[:tail]:
        if "terminated" not in (s.get("state") or {}):
            s["state"] = {"terminated": dict(UNKNOWN_TERMINATION)}


def _unready(spec: dict, statuses: list[dict]) -> tuple[list[str], list[str]]:
    by_name = {s["name"]: s for s in statuses}
    unknown, unready = [], []
    checked = [c for c in spec.get("initContainers") or [] if is_sidecar(c)] + \
        list(spec.get("containers") or [])
    for c in checked:
        s = by_name.get(c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not s.get("ready"):
            unready.append(c["name"])
    return unknown, unready


def _messages(unknown: list[str], bad: list[str], word: str) -> str:
    parts = []
    if unknown:
        parts.append(f"containers with unknown status: [{' '.join(unknown)}]")
    if bad:
        parts.append(f"containers with {word} status: [{' '.join(bad)}]")
    return ", ".join(parts)


def _condition(kind: str, status: str, reason: str = "", message: str = "") -> dict:
    cond: dict = {"type": kind, "status": status, "lastProbeTime": None}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond
