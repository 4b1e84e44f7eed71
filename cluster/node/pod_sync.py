"""The pod worker's control flow: what the kubelet does for a pod at one instant (pure).

`PodSync.sync(t)` is level-based like upstream's SyncPod: it looks at the containers as they
are at `t` and does what is due -- records exits, runs due probes, checks the active
deadline, starts or restarts containers (init containers in order, sidecars before the next
one, app containers together, restarts by restartPolicy behind CrashLoopBackOff), or drives
termination (app and regular init containers first, then sidecars in reverse order). The
kubelet reacts to a container's exit `PLEG_DELAY` after it (upstream's PLEG relist period),
so an exited container shows `terminated` for a moment before it restarts. A stop runs the
preStop hook, then SIGTERM, then SIGKILL at the end of the grace period, never sooner than
`MIN_KILL_WINDOW` after SIGTERM (upstream's minimum shutdown window).
"""

from __future__ import annotations

import math
import random

from kubemu.cluster.node.actions import Action, Event
from kubemu.cluster.node.container import ContainerState, Instance
from kubemu.cluster.node.durations import format_go_duration
from kubemu.cluster.node.pod_status import is_sidecar
from kubemu.cluster.node.probes import ContainerProbes
from kubemu.cluster.node.program import program_for

__all__ = ["PodSync", "PLEG_DELAY", "MIN_KILL_WINDOW", "DEADLINE_MESSAGE"]

PLEG_DELAY = 1.0
MIN_KILL_WINDOW = 2.0
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


class PodSync:
    pod_ip: str

    def __init__(self, pod: dict, *, now: float, rng: random.Random,
                 create_delay: float) -> None:
        self.pod = pod
        self.now = now
        self.rng = rng
        self.started_at = now
        self.sandbox_at = now + create_delay
        self.sandbox_ready = False
        spec = pod.get("spec") or {}
        self.containers = [ContainerState(c, kind="sidecar" if is_sidecar(c) else "init")
                           for c in spec.get("initContainers") or []] + \
                          [ContainerState(c, kind="app") for c in spec.get("containers") or []]
        self.actions: list[Action] = []
        self.terminating: str | None = None
        self.term_deadline = math.inf
        self.deletion_at: float | None = None
        self.override: tuple[str, str, str] | None = None  # (phase, reason, message)
        self.disruption: dict | None = None
        self.initialized = False
        self.hold_until = now
        self._warned: set[tuple[str, str]] = set()

    @property
    def pod_ref(self) -> str:
        """upstream format.Pod: name_namespace(uid)."""
        md = self.pod.get("metadata") or {}
        return f"{md.get('name', '')}_{md.get('namespace', '')}({md.get('uid', '')})"

    @property
    def grace(self) -> float:
        value = (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        return 30.0 if value is None else float(value)

    # -- inputs ---------------------------------------------------------------------------
    def apply_pod(self, pod: dict, now: float) -> None:
        self.pod = pod
        spec, md = pod.get("spec") or {}, pod.get("metadata") or {}
        specs = {c.get("name"): c for key in ("initContainers", "containers")
                 for c in spec.get(key) or []}
        for c in self.containers:
            new = specs.get(c.name)
            if new is None:
                continue
            inst = c.current
            changed = inst is not None and new.get("image") != inst.program.image
            c.spec = new
            if changed and c.running and not c.stopping and self.terminating is None:
                c.force_restart = True
                self.stop(c, now, self.grace,
                          f"Container {c.name} definition changed, will be restarted")
        if md.get("deletionTimestamp"):
            grace = md.get("deletionGracePeriodSeconds")
            if self.deletion_at is None:
                self.deletion_at = now
            self.begin_termination(now, "deleted", self.grace if grace is None else float(grace))

    def begin_termination(self, t: float, kind: str, grace: float) -> None:
        """The pod is done: stop everything within `grace` seconds (shortens, never extends)."""
        if self.terminating is None:
            self.terminating = kind
        self.term_deadline = min(self.term_deadline, t + max(grace, 0.0))
        for c in self.containers:
            inst = c.current
            if c.stopping and inst is not None and inst.kill_at is not None:
                inst.kill_at = min(inst.kill_at, max(self.term_deadline, t + MIN_KILL_WINDOW))
                inst.sigterm_at = min(inst.sigterm_at or t, inst.kill_at)

    def kill_all(self, t: float) -> None:
        """Kill every running container at once (grace period override 0)."""
        for c in self.containers:
            if c.running:
                self.actions.append(Event("Normal", "Killing", f"Stopping container {c.name}",
                                          c.field_path))
                c.finish(t, 137, "Error")

    # -- the sync -------------------------------------------------------------------------
    def sync(self, t: float) -> None:
        self._finish_exits(t)
        if not self.sandbox_ready and self.terminating is None:
            if t < self.sandbox_at:
                return
            self.sandbox_ready = True
        if self.sandbox_ready:
            self._run_probes(t)
        self._check_deadline(t)
        if self.terminating is None and t >= self.hold_until:
            self._drive(t)
        if self.terminating is not None:
            self._drive_termination(t)

    def next_event(self) -> float | None:
        times: list[float] = []
        if not self.sandbox_ready and self.terminating is None:
            times.append(self.sandbox_at)
        for c in self.containers:
            inst = c.current
            if c.running and inst is not None:
                exit_event = inst.exit_event()
                if exit_event is not None:
                    times.append(exit_event[0])
                if self.sandbox_ready and (t := inst.probes.next_time()) is not None:
                    times.append(t)
            elif c.restart_at is not None and self.terminating is None:
                later = max(c.restart_at, self.hold_until)
                if later > self.now:
                    times.append(later)
        if self.terminating is None:
            if self.hold_until > self.now:
                times.append(self.hold_until)
            deadline = (self.pod.get("spec") or {}).get("activeDeadlineSeconds")
            if deadline is not None:
                times.append(self.started_at + float(deadline))
        return min(times) if times else None

    def stop(self, c: ContainerState, t: float, grace: float, message: str) -> None:
        """preStop hook, then SIGTERM, then SIGKILL when the grace period ends."""
        inst = c.current
        if inst is None or not inst.running or inst.stop_at is not None:
            return
        inst.stop_at = t
        for worker in inst.probes.workers.values():
            if worker.kind != "readiness":
                worker.on_hold = True
        hook = 0.0
        pre_stop = (c.spec.get("lifecycle") or {}).get("preStop")
        if pre_stop and grace > 0:
            hook = min(inst.program.hook_duration(pre_stop, t - inst.started_at), grace)
        inst.sigterm_at = t + hook
        inst.kill_at = inst.sigterm_at + max(grace - hook, MIN_KILL_WINDOW)
        self.actions.append(Event("Normal", "Killing", message, c.field_path))

    def _finish_exits(self, t: float) -> None:
        for c in self.containers:
            if c.running and c.current is not None:
                exit_event = c.current.exit_event()
                if exit_event is not None and exit_event[0] <= t:
                    c.finish(*exit_event)
                    self.hold_until = max(self.hold_until, exit_event[0] + PLEG_DELAY)

    def _run_probes(self, t: float) -> None:
        policy = (self.pod.get("spec") or {}).get("restartPolicy") or "Always"
        for c in self.containers:
            inst = c.current
            if inst is None or not c.running:
                continue
            for _ in range(4):  # a startup success makes readiness due at once
                due = inst.probes.due(t)
                if not due:
                    break
                for worker in due:
                    ok, message = inst.program.probe(
                        worker.spec.handler, t - inst.started_at, worker.kind,
                        host=self.pod_ip, timeout=worker.spec.timeout)
                    if not ok:
                        self.actions.append(Event("Warning", "Unhealthy", message,
                                                  c.field_path))
                    outcome = inst.probes.observe(worker, t, ok)
                    if outcome not in ("liveness-failed", "startup-failed") or \
                            inst.stop_at is not None or self.terminating is not None:
                        continue
                    restart = policy != "Never" or c.kind == "sidecar"
                    c.force_restart = restart
                    grace = worker.spec.termination_grace
                    self.stop(c, t, self.grace if grace is None else grace,
                              f"Container {c.name} failed {worker.kind} probe"
                              + (", will be restarted" if restart else ""))

    def _check_deadline(self, t: float) -> None:
        deadline = (self.pod.get("spec") or {}).get("activeDeadlineSeconds")
        if self.terminating is not None or deadline is None or \
                t < self.started_at + float(deadline):
            return
        self.override = ("Failed", "DeadlineExceeded", DEADLINE_MESSAGE)
        self.actions.append(Event("Normal", "DeadlineExceeded", DEADLINE_MESSAGE))
        self.begin_termination(t, "deadline", self.grace)

    def _drive(self, t: float) -> None:
        policy = (self.pod.get("spec") or {}).get("restartPolicy") or "Always"
        inits = [c for c in self.containers if c.kind != "app"]
        apps = [c for c in self.containers if c.kind == "app"]
        if not self.initialized:
            for c in inits:
                if c.kind == "sidecar":
                    if c.current is None:
                        self._start(c, t)
                    elif c.exited:
                        self._restart(c, t)
                    if c.running and c.current is not None and c.current.probes.started:
                        continue
                    return
                if c.current is None:
                    self._start(c, t)
                    return
                if c.running:
                    return
                if c.succeeded:
                    continue
                if policy == "Never":
                    self.begin_termination(t, "init-failed", self.grace)
                else:
                    self._restart(c, t)
                return
            self.initialized = True
        for c in inits:
            if c.kind == "sidecar" and c.exited:
                self._restart(c, t)
        for c in apps:
            if c.current is None:
                self._start(c, t)
            elif c.exited and self._should_restart(c, policy):
                self._restart(c, t)
        if apps and all(c.exited and not self._should_restart(c, policy) for c in apps):
            self.begin_termination(t, "completed", self.grace)

    def _drive_termination(self, t: float) -> None:
        while True:
            changed = False
            regular = [c for c in self.containers if c.kind != "sidecar"]
            for c in regular:
                if c.running and not c.stopping:
                    self.stop(c, t, max(self.term_deadline - t, 0.0),
                              f"Stopping container {c.name}")
                    changed = True
            self._finish_exits(t)
            if not any(c.running for c in regular):
                for c in reversed([c for c in self.containers if c.kind == "sidecar"]):
                    if c.running:
                        if not c.stopping:
                            self.stop(c, t, max(self.term_deadline - t, 0.0),
                                      f"Stopping container {c.name}")
                            changed = True
                        break
            self._finish_exits(t)
            if not changed:
                return

    @staticmethod
    def _should_restart(c: ContainerState, policy: str) -> bool:
        if c.force_restart or c.kind == "sidecar":
            return True
        if policy == "Always":
            return True
        return policy == "OnFailure" and not c.succeeded

    def _restart(self, c: ContainerState, t: float) -> None:
        """Restart an exited container unless it is backing off (then wait, once)."""
        inst = c.current
        assert inst is not None and inst.finished_at is not None
        if c.backoff.in_backoff_since(inst.finished_at, t):
            end = inst.finished_at + c.backoff.duration
            if c.restart_at != end:
                c.restart_at = end
                c.waiting = ("CrashLoopBackOff",
                             f"back-off {format_go_duration(c.backoff.duration)} restarting "
                             f"failed container={c.name} pod={self.pod_ref}")
                self.actions.append(Event(
                    "Warning", "BackOff",
                    f"Back-off restarting failed container {c.name} in pod {self.pod_ref}",
                    c.field_path))
            return
        c.backoff.next(inst.finished_at, t)
        self._start(c, t)

    def _start(self, c: ContainerState, t: float) -> None:
        program = program_for(c.spec, self.pod, init=c.kind != "app")
        container_id = f"containerd://{self.rng.getrandbits(256):064x}"
        probes = ContainerProbes(c.spec if c.kind != "init" else {}, started_at=t)
        c.start(Instance(container_id, program, t, probes))
        image = str(c.spec.get("image") or "")
        path = c.field_path
        self.actions.append(Event("Normal", "Pulled",
                                  f'Container image "{image}" already present on machine', path))
        self.actions.append(Event("Normal", "Created", f"Created container: {c.name}", path))
        self.actions.append(Event("Normal", "Started", f"Started container {c.name}", path))
        for warning in program.warnings:
            if (c.name, warning) not in self._warned:
                self._warned.add((c.name, warning))
                self.actions.append(Event("Warning", "InvalidAnnotation", warning, path))
