"""Adoption: a restarted kubelet takes over the containers its runtime still runs (pure).

Upstream, a kubelet restart leaves the containers running in the container runtime; the new
kubelet finds them (PLEG relist) and carries on: same container IDs, restart counts, start
times, pod IP, readiness. kubemu's emulated runtime lived in the kubelet's process, so the
pod's last reported status is the record of what ran. `adopt` rebuilds a pod the API shows
Running from its containerStatuses: a running container gets an instance with its old
containerID, startedAt, restartCount and its started/ready results (probes run again at once;
a result flips only after its thresholds, as ever); a terminated one stays terminated;
lastState is kept. Programs go on from their original start, so a scripted exit or probe
failure still comes when it would have. Pods not yet Running start from scratch.

Not restored (upstream's kubelet loses them too, they live in its memory): restart back-off
(a container waiting in CrashLoopBackOff restarts at once) and probe run counts. Status times
are whole seconds, so an instant read back is taken at the middle of its second (it formats
back to the same stamp).
"""

from __future__ import annotations

from collections.abc import Callable

from kubemu.cluster.api.objects import parse_rfc3339
from kubemu.cluster.node.container import ContainerState, Instance
from kubemu.cluster.node.pod_sync import PodSync
from kubemu.cluster.node.probes import ContainerProbes
from kubemu.cluster.node.program import program_for

__all__ = ["adopt", "adoptable"]


def adoptable(status: dict) -> bool:
    """Whether a pod first seen with this status is adopted rather than started."""
    return status.get("phase") == "Running" and bool(status.get("containerStatuses"))


def adopt(sync: PodSync, status: dict, *, now: float,
          wall_of: Callable[[float], float]) -> None:
    """Make `sync` (fresh, nothing started) continue the pod `status` describes, at `now`."""
    to_clock = _clock_of(now, wall_of)
    by_name = {s.get("name"): s for key in ("initContainerStatuses", "containerStatuses")
               for s in status.get(key) or () if s.get("name")}
    for c in sync.containers:
        reported = by_name.get(c.name)
        if reported is not None:
            _adopt_container(c, reported, sync.pod, now=now, to_clock=to_clock)
    sync.sandbox_ready = True
    sync.sandbox_at = now
    if status.get("startTime"):
        sync.started_at = to_clock(status["startTime"])
    sync.initialized = any(cond.get("type") == "Initialized" and cond.get("status") == "True"
                           for cond in status.get("conditions") or ())


def _adopt_container(c: ContainerState, reported: dict, pod: dict, *, now: float,
                     to_clock: Callable[[str], float]) -> None:
    c.restart_count = int(reported.get("restartCount") or 0)
    state = reported.get("state") or {}
    last = (reported.get("lastState") or {}).get("terminated")
    previous = _finished(c, last, pod, to_clock) if last else None
    if "running" in state:
        started = min(now, to_clock((state["running"] or {}).get("startedAt") or ""))
        probes = ContainerProbes(c.spec if c.kind != "init" else {}, started_at=started)
        probes.resume(started=bool(reported.get("started")), ready=bool(reported.get("ready")))
        c.current = Instance(str(reported.get("containerID") or ""),
                             program_for(c.spec, pod, init=c.kind != "app"), started, probes)
        c.previous = previous
    elif "terminated" in state:
        c.current = _finished(c, state["terminated"], pod, to_clock)
        c.previous = previous
    elif previous is not None:  # waiting to restart (back-off): the last run is current
        c.current = previous


def _finished(c: ContainerState, terminated: dict, pod: dict,
              to_clock: Callable[[str], float]) -> Instance:
    started = to_clock(terminated.get("startedAt") or "")
    finished = max(started, to_clock(terminated.get("finishedAt") or ""))
    return Instance(str(terminated.get("containerID") or ""),
                    program_for(c.spec, pod, init=c.kind != "app"), started,
                    ContainerProbes({}, started_at=started), finished_at=finished,
                    exit_code=int(terminated.get("exitCode") or 0),
                    reason=str(terminated.get("reason") or ""))


def _clock_of(now: float, wall_of: Callable[[float], float]) -> Callable[[str], float]:
    """RFC 3339 stamp -> Kubernetes clock reading (the middle of its second); `now` for a
    missing or unreadable stamp."""
    wall_now = wall_of(now)
    per_second = (wall_of(now + 1.0) - wall_now) or 1.0  # wall seconds per clock second

    def to_clock(stamp: str) -> float:
        try:
            wall = parse_rfc3339(stamp) + 0.5
        except (ValueError, TypeError):
            return now
        return now + (wall - wall_now) / per_second
    return to_clock
