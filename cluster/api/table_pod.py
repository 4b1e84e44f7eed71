"""The Pod printer: READY, STATUS and RESTARTS exactly as `kubectl get pods` shows them.

STATUS follows kube-apiserver 1.32's printPod: start from `status.reason` or the phase
("SchedulingGated" when the PodScheduled condition says so); walk init containers in order and
stop at the first unfinished one ("Init:1/3", "Init:CrashLoopBackOff", "Init:Error",
"Init:ExitCode:2"), where running sidecars (init containers with restartPolicy Always) count as
finished; once initialised, walk app containers from last to first so the first container's
waiting/terminated reason wins ("CrashLoopBackOff", "ContainerCreating", "Completed",
"Error"), turning "Completed" back into "Running"/"NotReady" while another container still
runs. A deletionTimestamp makes a non-terminal pod "Terminating", or "Unknown" when the node
controller marked it NodeLost. RESTARTS counts app containers and sidecars (init-container
restarts only while initialising) and adds "(5m ago)" from the latest lastState.finishedAt.
Succeeded and Failed pods carry the row condition Completed=True, as upstream.
"""

from __future__ import annotations

from kubemu.cluster.api.duration import human_duration, parse_time
from kubemu.cluster.api.table_common import AGE, NAME, Printer, age_cell, col, meta, spec, status

__all__ = ["POD"]

_COLUMNS = (
    NAME,
    col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "string", "The aggregate status of the containers in this pod."),
    col("Restarts", "string", "The number of times the containers in this pod have been "
        "restarted and when the last container in this pod has restarted."),
    AGE,
    col("IP", "string", "podIP address allocated to the pod.", priority=1),
    col("Node", "string", "NodeName indicates in which node this pod is scheduled.", priority=1),
    col("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other "
        "pods on the node.", priority=1),
    col("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for "
        "pod readiness.", priority=1),
)


def _pod_cells(pod: dict, now: float) -> list:
    sp, st = spec(pod), status(pod)
    phase = st.get("phase", "")
    reason = st.get("reason") or phase
    for cond in st.get("conditions") or ():
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = sp.get("initContainers") or []
    restartable = {c.get("name") for c in init_specs if c.get("restartPolicy") == "Always"}
    total = len(sp.get("containers") or ()) + len(restartable)
    ready = 0
    restarts = sidecar_restarts = 0
    last_restart: float | None = None
    last_sidecar_restart: float | None = None

    initializing = False
    for i, cs in enumerate(st.get("initContainerStatuses") or ()):
        count = cs.get("restartCount") or 0
        finished = _last_finished(cs)
        restarts += count
        last_restart = _later(last_restart, finished)
        is_sidecar = cs.get("name") in restartable
        if is_sidecar:
            sidecar_restarts += count
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        state = cs.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if term is not None and (term.get("exitCode") or 0) == 0:
            continue
        if is_sidecar and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if term is not None:
            if term.get("reason"):
                reason = "Init:" + term["reason"]
            elif term.get("signal"):
                reason = f"Init:Signal:{term['signal']}"
            else:
                reason = f"Init:ExitCode:{term.get('exitCode') or 0}"
        elif wait is not None and wait.get("reason") and wait["reason"] != "PodInitializing":
            reason = "Init:" + wait["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(st, "Initialized", first_only=True):
        restarts, last_restart = sidecar_restarts, last_sidecar_restart
        has_running = False
        for cs in reversed(st.get("containerStatuses") or ()):
            restarts += cs.get("restartCount") or 0
            last_restart = _later(last_restart, _last_finished(cs))
            state = cs.get("state") or {}
            term, wait = state.get("terminated"), state.get("waiting")
            if wait is not None and wait.get("reason"):
                reason = wait["reason"]
            elif term is not None and term.get("reason"):
                reason = term["reason"]
            elif term is not None:
                reason = (f"Signal:{term['signal']}" if term.get("signal")
                          else f"ExitCode:{term.get('exitCode') or 0}")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(st, "Ready") else "NotReady"

    if meta(pod).get("deletionTimestamp") is not None:
        if st.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_cell = f"{restarts} ({human_duration(now - last_restart)} ago)"

    return [meta(pod).get("name", ""), f"{ready}/{total}", reason, restarts_cell,
            age_cell(pod, now), _pod_ip(st), sp.get("nodeName") or "<none>",
            st.get("nominatedNodeName") or "<none>", _readiness_gates(sp, st)]


def _pod_conditions(pod: dict) -> list[dict] | None:
    phase = status(pod).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed",
                 "message": "The pod failed."}]
    return None


POD = Printer(_COLUMNS, _pod_cells, _pod_conditions)


def _last_finished(container_status: dict) -> float | None:
    terminated = (container_status.get("lastState") or {}).get("terminated")
    if terminated is None:
        return None
    return parse_time(terminated.get("finishedAt"))


def _later(current: float | None, candidate: float | None) -> float | None:
    if candidate is None:
        return current
    return candidate if current is None or current < candidate else current


def _condition_true(st: dict, type_: str, *, first_only: bool = False) -> bool:
    for cond in st.get("conditions") or ():
        if cond.get("type") == type_:
            if cond.get("status") == "True":
                return True
            if first_only:
                return False
    return False


def _pod_ip(st: dict) -> str:
    ips = st.get("podIPs") or ()
    ip = ips[0].get("ip", "") if ips else st.get("podIP", "")
    return ip or "<none>"


def _readiness_gates(sp: dict, st: dict) -> str:
    gates = sp.get("readinessGates") or ()
    if not gates:
        return "<none>"
    true = 0
    for gate in gates:
        for cond in st.get("conditions") or ():
            if cond.get("type") == gate.get("conditionType"):
                if cond.get("status") == "True":
                    true += 1
                break
    return f"{true}/{len(gates)}"
