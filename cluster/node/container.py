"""One container of a pod on the emulated runtime: its instances, restart backoff, status.

A container (by name) runs as a series of instances, each with its own containerID, Program
and probe workers; the kubelet reports the newest as `state` and the one before as
`lastState`, as upstream's status conversion does. An instance ends at the earliest of: its
program's own exit, its SIGTERM answer (after a stop request and the preStop hook), or the
SIGKILL at the end of the grace period (exit 137). Restart backoff is client-go's
`flowcontrol.Backoff` as the kubelet uses it: 10 s doubling to 300 s, keyed by container,
`IsInBackOffSince(finishedAt)` before each restart and `Next` when restarting; an entry older
than twice the maximum (a container that ran 10 minutes) starts over at 10 s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.node import images
from kubemu.cluster.node.probes import ContainerProbes
from kubemu.cluster.node.program import Program, render_line

__all__ = ["Instance", "Backoff", "ContainerState", "BACKOFF_INITIAL", "BACKOFF_MAX"]

BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0
_EPSILON = 1e-6  # back-off ends are sums of floats: compare with a little slack


@dataclass
class Instance:
    container_id: str
    program: Program
    started_at: float
    probes: ContainerProbes
    finished_at: float | None = None
    exit_code: int = 0
    reason: str = ""
    stop_at: float | None = None  # a stop was requested (preStop then SIGTERM)
    sigterm_at: float | None = None
    kill_at: float | None = None

    @property
    def running(self) -> bool:
        return self.finished_at is None

    def exit_event(self) -> tuple[float, int, str] | None:
        """(when, exitCode, reason) of the coming exit, if one is known."""
        candidates: list[tuple[float, int, str]] = []
        if self.program.ends_at is not None:
            candidates.append((self.started_at + self.program.ends_at, self.program.exit_code,
                               self.program.exit_reason))
        if self.sigterm_at is not None and self.program.sigterm_exit is not None:
            code = self.program.sigterm_exit
            candidates.append((self.sigterm_at, code, "Completed" if code == 0 else "Error"))
        if self.kill_at is not None:
            candidates.append((self.kill_at, 137, "Error"))
        return min(candidates, key=lambda c: c[0]) if candidates else None


class Backoff:
    """flowcontrol.Backoff for one container key, without jitter."""

    def __init__(self) -> None:
        self.duration = 0.0
        self.last_update: float | None = None

    def _expired(self, event_time: float) -> bool:
        return self.last_update is None or event_time - self.last_update > 2 * BACKOFF_MAX

    def in_backoff_since(self, event_time: float, now: float) -> bool:
        if self._expired(event_time):
            return False
        return now - event_time < self.duration - _EPSILON

    def next(self, event_time: float, now: float) -> None:
        if self._expired(event_time):
            self.duration = BACKOFF_INITIAL
        else:
            self.duration = min(self.duration * 2, BACKOFF_MAX)
        self.last_update = now


class ContainerState:
    def __init__(self, spec: dict, *, kind: str) -> None:
        self.spec = spec
        self.name = str(spec.get("name") or "")
        self.kind = kind  # "init" | "sidecar" | "app"
        self.current: Instance | None = None
        self.previous: Instance | None = None
        self.restart_count = 0
        self.backoff = Backoff()
        self.waiting: tuple[str, str] | None = None  # (reason, message) while backing off
        self.restart_at: float | None = None  # end of the current back-off
        self.force_restart = False  # killed for a spec change: restart whatever the policy

    @property
    def field_path(self) -> str:
        return f"spec.{'containers' if self.kind == 'app' else 'initContainers'}{{{self.name}}}"

    @property
    def running(self) -> bool:
        return self.current is not None and self.current.running

    @property
    def exited(self) -> bool:
        return self.current is not None and not self.current.running

    @property
    def stopping(self) -> bool:
        return self.running and self.current.stop_at is not None  # type: ignore[union-attr]

    @property
    def succeeded(self) -> bool:
        return self.exited and self.current.exit_code == 0  # type: ignore[union-attr]

    def start(self, instance: Instance) -> None:
        if self.current is not None:
            self.previous = self.current
            self.restart_count += 1
        self.current = instance
        self.waiting = None
        self.restart_at = None
        self.force_restart = False

    def finish(self, t: float, code: int, reason: str) -> None:
        inst = self.current
        assert inst is not None and inst.running
        inst.finished_at, inst.exit_code, inst.reason = t, code, reason

    def status(self, *, wall_of: Callable[[float], float], default_waiting: str) -> dict:
        """The API ContainerStatus of this container."""
        inst = self.current
        status: dict = {"name": self.name, "state": {}, "lastState": {}, "ready": False,
                        "restartCount": self.restart_count,
                        "image": str(self.spec.get("image") or ""), "imageID": "",
                        "started": False}
        if inst is None:
            status["state"] = {"waiting": self._waiting(default_waiting)}
            return status
        status["image"] = images.normalize(inst.program.image)
        status["imageID"] = images.image_id(inst.program.image)
        status["containerID"] = inst.container_id
        if inst.running:
            status["state"] = {"running": {"startedAt": rfc3339(wall_of(inst.started_at))}}
            if self.previous is not None:
                status["lastState"] = {"terminated": self._terminated(self.previous, wall_of)}
            status["started"] = inst.probes.started
            status["ready"] = inst.probes.ready and self.kind != "init"
            return status
        if self.waiting is not None:
            status["state"] = {"waiting": self._waiting("")}
            status["lastState"] = {"terminated": self._terminated(inst, wall_of)}
            return status
        status["state"] = {"terminated": self._terminated(inst, wall_of)}
        if self.previous is not None:
            status["lastState"] = {"terminated": self._terminated(self.previous, wall_of)}
        status["ready"] = self.kind == "init" and inst.exit_code == 0
        return status

    def logs(self, now: float, wall_of: Callable[[float], float], *,
             previous: bool = False) -> list[str]:
        inst = self.previous if previous else self.current
        if inst is None:
            return []
        end = now if inst.finished_at is None else inst.finished_at
        return [render_line(line, wall_of(inst.started_at + offset))
                for offset, line in inst.program.output(max(0.0, end - inst.started_at))]

    def _waiting(self, default: str) -> dict:
        if self.waiting is None:
            return {"reason": default}
        reason, message = self.waiting
        return {"reason": reason, "message": message} if message else {"reason": reason}

    @staticmethod
    def _terminated(inst: Instance, wall_of: Callable[[float], float]) -> dict:
        assert inst.finished_at is not None
        return {"exitCode": inst.exit_code, "reason": inst.reason,
                "startedAt": rfc3339(wall_of(inst.started_at)),
                "finishedAt": rfc3339(wall_of(inst.finished_at)),
                "containerID": inst.container_id}
