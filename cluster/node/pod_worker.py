"""The pod worker: one pod on one node, as upstream's pod worker + kuberuntime SyncPod (pure).

A `PodWorker` is a discrete-event state machine in Kubernetes time. `step(now)` processes,
in time order and each at its own instant, everything due up to `now` -- sandbox ready,
container exits, probe runs, back-off ends, the kubelet's reaction to an exit (PLEG relist,
`PLEG_DELAY` after it), the active deadline, SIGTERM and SIGKILL times -- so timestamps are
exact however late the driver steps. External inputs (`update`, `evict`) first advance to
their `now`. `next_wakeup()` says when the next internal event is due; `status()` is the
whole pod status, derived from container states by upstream's getPhase and condition
generators (pod_status.py); `phase` is its phase, kept current by every sync, for callers that
ask often (admission and eviction walk every pod of the node). Actions (Events, DeletePod)
queue up and leave through `step`.

Lifecycle: sandbox (`create_delay`: containers `ContainerCreating`/`PodInitializing`), init
containers one at a time (sidecars -- restartPolicy Always -- keep running once started), app
containers together; restarts by restartPolicy with CrashLoopBackOff; liveness/startup
failures restart, readiness drives Ready. Termination (deletion, eviction, active deadline,
or every app container done for good) stops app and regular init containers, then sidecars
in reverse order; a deleted pod whose containers all stopped is `finished` and asks for its
deletion once. Phases never leave Succeeded/Failed. A pod first seen Running (a restarted
kubelet's) is adopted, not started: its containers carry on as its status reports them
(adoption.py). Container-level mechanics (instances, back-off, status dicts) live in
container.py; the control flow is in pod_sync.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from kubemu.cluster.api.objects import deep_copy, qos_class, rfc3339
from kubemu.cluster.node.actions import Action, DeletePod, Event
from kubemu.cluster.node.adoption import adopt, adoptable
from kubemu.cluster.node.pod_status import (containers_ready_condition, get_phase,
                                            initialized_condition, merge_conditions,
                                            ready_condition, terminate_statuses)
from kubemu.cluster.node.pod_sync import PodSync

__all__ = ["PodWorker", "Event", "DeletePod", "Action"]

_MAX_EVENTS_PER_STEP = 200_000


class PodWorker(PodSync):
    def __init__(self, pod: dict, *, node_name: str, pod_ip: str, host_ip: str, now: float,
                 wall_of: Callable[[float], float], rng: random.Random,
                 create_delay: float = 0.1) -> None:
        md = pod.get("metadata") or {}
        self.uid: str = str(md.get("uid") or "")
        self.node_name = node_name
        self.host_ip = host_ip
        spec = pod.get("spec") or {}
        self.pod_ip = host_ip if spec.get("hostNetwork") else pod_ip
        self._wall_of = wall_of
        super().__init__(pod, now=now, rng=rng, create_delay=create_delay)
        status = pod.get("status") or {}
        self._start_time = status.get("startTime") or rfc3339(wall_of(now))
        self._frozen: dict | None = None
        if status.get("phase") in ("Succeeded", "Failed"):
            self._frozen = deep_copy(status)  # a finished pod is never run again
            self.terminating = "adopted"
        self._rejection: tuple[str, str] | None = None
        self._cond_times: dict[str, tuple[str, str]] = {
            c["type"]: (c.get("status", ""), c.get("lastTransitionTime") or "")
            for c in status.get("conditions") or [] if c.get("type")}
        self._sticky: tuple[str, str, str] | None = None
        self._delete_sent = False
        self.phase = ""  # status()["phase"], kept by every sync (the state changes only there)
        if self._frozen is None and adoptable(status):
            adopt(self, status, now=now, wall_of=wall_of)  # a restarted kubelet's pod
        self.apply_pod(pod, now)
        self._sync(now)

    # -- inputs ---------------------------------------------------------------------------
    def update(self, pod: dict, now: float) -> None:
        """A newer object of this pod (deletion requested, grace shortened, image changed)."""
        self._advance(now)
        self.apply_pod(pod, self.now)
        self._sync(self.now)

    def evict(self, now: float, message: str) -> None:
        """Node-pressure eviction: kill every container now; phase Failed, reason Evicted.
        (The kubelet records the Evicted event itself.)"""
        self._advance(now)
        self.override = ("Failed", "Evicted", message)
        self.disruption = {"type": "DisruptionTarget", "status": "True", "lastProbeTime": None,
                           "reason": "TerminationByKubelet", "message": message}
        self.begin_termination(self.now, "evicted", 0.0)
        self.kill_all(self.now)
        self._sync(self.now)

    def reject(self, reason: str, message: str) -> None:
        """Admission failure on the node (OutOfcpu, ...): the pod never runs."""
        if not message.startswith("Pod was rejected: "):
            message = "Pod was rejected: " + message
        self._rejection = (reason, message)
        self.override = ("Failed", reason, message)
        self.terminating = "rejected"
        self.actions.append(Event("Warning", reason, message.removeprefix(
            "Pod was rejected: ")))
        self._sync(self.now)

    # -- outputs --------------------------------------------------------------------------
    def step(self, now: float) -> list[Action]:
        """Advance to `now`; the actions that became due. Idempotent for the same `now`."""
        self._advance(now)
        out, self.actions = self.actions, []
        return out

    def next_wakeup(self) -> float | None:
        """When `step` must next run; None if nothing happens until an `update`."""
        return self.next_event()

    @property
    def finished(self) -> bool:
        """Deletion requested and every container stopped."""
        return self.deletion_at is not None and not any(c.running for c in self.containers)

    def status(self) -> dict:
        """The full pod `.status` to write (a fresh dict)."""
        status = self._build_status()
        status["conditions"] = [  # conditions others wrote keep their own time
            c if c.get("lastTransitionTime") else
            {**c, "lastTransitionTime": self._cond_times.get(c["type"], ("", ""))[1]
             or rfc3339(self._wall_of(self.now))}
            for c in status.get("conditions") or []]
        return status

    def memory_bytes(self) -> int:
        return sum(c.current.program.memory_bytes for c in self.containers
                   if c.running and c.current is not None)

    def container_memory(self) -> dict[str, int]:
        """Emulated working set of each running container, by name."""
        return {c.name: c.current.program.memory_bytes for c in self.containers
                if c.running and c.current is not None}

    def logs(self, container: str, *, previous: bool = False) -> list[str]:
        """The newest log lines of a container (or of its previous instance); [] if none."""
        for c in self.containers:
            if c.name == container:
                return c.logs(self.now, self._wall_of, previous=previous)
        return []

    # -- the event loop -------------------------------------------------------------------
    def _advance(self, now: float) -> None:
        for _ in range(_MAX_EVENTS_PER_STEP):
            t = self.next_event()
            if t is None or t > now:
                break
            self._sync(max(self.now, t))
        self.now = max(self.now, now)

    def _sync(self, t: float) -> None:
        self.now = t
        if self._frozen is None and self._rejection is None:
            self.sync(t)
        if self.finished and not self._delete_sent:
            self._delete_sent = True
            self.actions.append(DeletePod(self.uid))
        self._track(t)

    def _track(self, t: float) -> None:
        """Record condition transition times and a terminal phase as of `t`."""
        status = self._build_status()
        self.phase = status.get("phase") or ""
        stamp = rfc3339(self._wall_of(t))
        for cond in status.get("conditions") or []:
            prev = self._cond_times.get(cond["type"])
            if prev is None or prev[0] != cond["status"]:
                self._cond_times[cond["type"]] = (cond["status"], stamp)
        if status.get("phase") in ("Succeeded", "Failed") and self._sticky is None:
            self._sticky = (status["phase"], status.get("reason", ""),
                            status.get("message", ""))

    def _build_status(self) -> dict:
        if self._frozen is not None:
            return deep_copy(self._frozen)
        pod, spec = self.pod, self.pod.get("spec") or {}
        old_conditions = list((pod.get("status") or {}).get("conditions") or [])
        # a pod bound by its spec has no PodScheduled yet: as the API server will store it
        # (a null lastProbeTime would not survive the merge patch, and the copy read back
        # would differ from what was written: one more write for nothing)
        scheduled = next((c for c in old_conditions if c.get("type") == "PodScheduled"),
                         {"type": "PodScheduled", "status": "True"})
        status: dict = {"qosClass": qos_class(pod)}
        if self._rejection is not None:
            status.update(phase="Failed", reason=self._rejection[0],
                          message=self._rejection[1],
                          conditions=merge_conditions(old_conditions, [scheduled], now=""))
            return status
        default = "PodInitializing" if spec.get("initContainers") else "ContainerCreating"
        inits = [c.status(wall_of=self._wall_of, default_waiting=default)
                 for c in self.containers if c.kind != "app"]
        apps = sorted((c.status(wall_of=self._wall_of, default_waiting=default)
                       for c in self.containers if c.kind == "app"), key=lambda s: s["name"])
        done = self.terminating is not None and not any(c.running for c in self.containers)
        if done:
            terminate_statuses(spec, inits, apps)
        everything = inits + apps
        phase = get_phase(spec, everything, terminal=self.terminating is not None)
        reason = message = ""
        if self.override is not None:
            phase, reason, message = self.override
        if self._sticky is not None:
            phase, reason, message = self._sticky
        foreign = [c for c in old_conditions if c.get("type") not in (
            "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
            "PodScheduled", "DisruptionTarget")]
        if self.disruption is not None:
            foreign.append(self.disruption)
        sandbox = self.sandbox_ready and not done
        generated = [
            {"type": "PodReadyToStartContainers", "status": "True" if sandbox else "False",
             "lastProbeTime": None},
            initialized_condition(spec, everything, phase),
            ready_condition(spec, old_conditions, everything, phase),
            containers_ready_condition(spec, everything, phase),
            scheduled,
        ]
        status["conditions"] = foreign + generated
        status["phase"] = phase
        if reason:
            status["reason"] = reason
        if message:
            status["message"] = message
        status["hostIP"] = self.host_ip
        status["hostIPs"] = [{"ip": self.host_ip}]
        if self.sandbox_ready or spec.get("hostNetwork"):
            status["podIP"] = self.pod_ip
            status["podIPs"] = [{"ip": self.pod_ip}]
        status["startTime"] = self._start_time
        if inits:
            status["initContainerStatuses"] = inits
        status["containerStatuses"] = apps
        return status
