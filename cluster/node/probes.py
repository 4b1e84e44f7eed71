"""Prober timing for one container instance, as upstream's prober workers (pure).

One `ProbeWorker` per probe kind of a running container instance; `ContainerProbes` groups
them. Timing follows the Kubernetes documentation's reading of upstream: the first probe runs
`initialDelaySeconds` after the container starts, then every `periodSeconds`. A result changes
only after `successThreshold` consecutive successes or `failureThreshold` consecutive
failures (upstream's resultRun counting). Initial results are upstream's: readiness Failure,
liveness Success, startup Unknown (not started). While a startup probe has not succeeded,
liveness and readiness do not run; once it succeeds it stops, readiness runs at once (the
kubelet's manual trigger) and liveness at its next due time. A liveness or startup result of
Failure puts the worker on hold: the kubelet restarts the container, and a new instance gets
new workers, which is how results reset on restart (a kubelet restart is not a container
restart: `resume` seeds an adopted instance with its reported results). Without a readiness
probe a container is ready as soon as it is started.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ProbeSpec", "ProbeWorker", "ContainerProbes", "KINDS"]

KINDS = ("startup", "liveness", "readiness")
_FIELDS = {"startup": "startupProbe", "liveness": "livenessProbe", "readiness": "readinessProbe"}


@dataclass(frozen=True)
class ProbeSpec:
    handler: dict
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace: float | None = None  # probe-level terminationGracePeriodSeconds

    @classmethod
    def of(cls, probe: dict) -> ProbeSpec:
        """From a Probe object; missing or zero fields take upstream's defaults."""
        grace = probe.get("terminationGracePeriodSeconds")
        return cls(handler=probe,
                   initial_delay=float(probe.get("initialDelaySeconds") or 0),
                   period=float(probe.get("periodSeconds") or 10),
                   timeout=float(probe.get("timeoutSeconds") or 1),
                   success_threshold=int(probe.get("successThreshold") or 1),
                   failure_threshold=int(probe.get("failureThreshold") or 3),
                   termination_grace=None if grace is None else float(grace))


class ProbeWorker:
    """One probe kind of one container instance."""

    def __init__(self, kind: str, spec: ProbeSpec, *, started_at: float) -> None:
        self.kind = kind
        self.spec = spec
        self.result: bool | None = {"readiness": False, "liveness": True}.get(kind)
        self.on_hold = False
        self._next: float | None = started_at + spec.initial_delay
        self._last: bool | None = None
        self._run = 0

    def next_time(self) -> float | None:
        return None if self.on_hold else self._next

    def due(self, now: float) -> bool:
        t = self.next_time()
        return t is not None and t <= now

    def not_before(self, t: float) -> None:
        """Delay the next probe to `t` at the earliest (startup gating)."""
        if self._next is not None:
            self._next = max(self._next, t)

    def observe(self, now: float, ok: bool) -> bool | None:
        """Record a probe run at `now`; the new result if it changed, else None."""
        self._next = now + self.spec.period
        if self._last == ok:
            self._run += 1
        else:
            self._last, self._run = ok, 1
        needed = self.spec.success_threshold if ok else self.spec.failure_threshold
        if self._run < needed:
            return None
        changed = self.result != ok
        self.result = ok
        if not ok and self.kind in ("liveness", "startup"):
            self.on_hold, self._run = True, 0
        if ok and self.kind == "startup":
            self._next = None  # a startup probe stops once it has succeeded
        return ok if changed else None


class ContainerProbes:
    """The probes of one running container instance and what they conclude."""

    def __init__(self, container: dict, *, started_at: float) -> None:
        self.workers: dict[str, ProbeWorker] = {}
        for kind in KINDS:
            probe = container.get(_FIELDS[kind])
            if probe:
                self.workers[kind] = ProbeWorker(kind, ProbeSpec.of(probe),
                                                 started_at=started_at)
        self.started = "startup" not in self.workers

    @property
    def ready(self) -> bool:
        if not self.started:
            return False
        readiness = self.workers.get("readiness")
        return readiness is None or bool(readiness.result)

    def resume(self, *, started: bool, ready: bool) -> None:
        """An adopted instance (kubelet restart): start with the results its status last
        reported instead of the initial ones."""
        if started and not self.started:
            self.started = True
            startup = self.workers["startup"]
            startup.result, startup._next = True, None
        if "readiness" in self.workers:
            self.workers["readiness"].result = ready

    def active(self) -> list[ProbeWorker]:
        """Workers allowed to run now (only the startup probe until it succeeds)."""
        if not self.started:
            return [self.workers["startup"]]
        return [w for k, w in self.workers.items() if k != "startup"]

    def due(self, now: float) -> list[ProbeWorker]:
        return [w for w in self.active() if w.due(now)]

    def next_time(self) -> float | None:
        times = [t for w in self.active() if (t := w.next_time()) is not None]
        return min(times) if times else None

    def observe(self, worker: ProbeWorker, now: float, ok: bool) -> str | None:
        """Record a probe result; returns what changed: "started", "ready", "unready",
        "liveness-failed", "startup-failed", or None."""
        changed = worker.observe(now, ok)
        if changed is None:
            return None
        if worker.kind == "startup":
            if not changed:
                return "startup-failed"
            self.started = True
            for kind in ("liveness", "readiness"):
                if kind in self.workers:
                    self.workers[kind].not_before(now)
            return "started"
        if worker.kind == "liveness":
            return None if changed else "liveness-failed"
        return "ready" if changed else "unready"
