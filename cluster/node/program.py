"""Emulated container programs: what a container does, decided once when it starts.

`program_for(container, pod)` turns a container spec into a frozen `Program`: its output
timeline, when and how it exits, how it answers SIGTERM, which ports it listens on, its
memory working set, and how it answers probes. It comes from:
- `command` + `args` (after Kubernetes' `$(VAR)` expansion), run by the shell emulation in
  `shell.py`; with no command, the image's default (`images.family`): shells exit 0 at once,
  servers run forever and listen on the declared containerPorts (every port if none);
- pod annotations scripting failures, applied to every app container, or to one container
  (init containers included) with a `.<container-name>` suffix that wins:
  `kubemu.io/exit-after` (Go duration; exit code from `kubemu.io/exit-code`, default 1),
  `kubemu.io/ready-after` (readiness and startup probes fail until then),
  `kubemu.io/fail-liveness-after` (liveness probes fail from then on),
  `kubemu.io/memory` (working set; above the memory limit the container is OOMKilled, exit
  137, `OOM_DELAY` after it starts). Bad values are ignored and listed in `warnings`.
Times inside a Program are offsets from the container's start, in Kubernetes seconds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from kubemu.cluster.api.quantity import QuantityError, parse_quantity
from kubemu.cluster.node import images
from kubemu.cluster.node.durations import parse_go_duration
from kubemu.cluster.node.shell import ExecResult, Trace, run_argv, run_exec
from kubemu.cluster.node.shell_commands import DATE_MARK

__all__ = ["Program", "Port", "program_for", "render_line", "ANNOTATIONS", "OOM_DELAY",
           "EXIT_AFTER", "EXIT_CODE", "READY_AFTER", "FAIL_LIVENESS_AFTER", "MEMORY",
           "DEFAULT_SERVER_MEMORY", "DEFAULT_SCRIPT_MEMORY", "LOG_LINES"]

EXIT_AFTER = "kubemu.io/exit-after"
EXIT_CODE = "kubemu.io/exit-code"
READY_AFTER = "kubemu.io/ready-after"
FAIL_LIVENESS_AFTER = "kubemu.io/fail-liveness-after"
MEMORY = "kubemu.io/memory"
ANNOTATIONS = (EXIT_AFTER, EXIT_CODE, READY_AFTER, FAIL_LIVENESS_AFTER, MEMORY)
OOM_DELAY = 1.0
DEFAULT_SERVER_MEMORY = 8 * 1024 * 1024
DEFAULT_SCRIPT_MEMORY = 1024 * 1024
LOG_LINES = 1000
"""The most log lines kept for one container instance (the newest ones)."""


@dataclass(frozen=True)
class Port:
    number: int
    name: str = ""
    protocol: str = "TCP"


@dataclass(frozen=True)
class Program:
    image: str
    trace: Trace
    ends_at: float | None  # offset of the exit; None: runs until killed
    exit_code: int
    exit_reason: str  # Completed | Error | OOMKilled
    sigterm_exit: int | None  # exit code on SIGTERM; None: SIGTERM is ignored
    listens: bool
    ports: tuple[Port, ...]
    memory_bytes: int
    ready_after: float | None = None
    fail_liveness_after: float | None = None
    env: tuple[tuple[str, str], ...] = ()
    hostname: str = ""
    warnings: tuple[str, ...] = field(default=())

    def output(self, elapsed: float, *, limit: int = LOG_LINES) -> list[tuple[float, str]]:
        """(offset, line) printed by `elapsed` seconds after start: the newest `limit`."""
        end = elapsed if self.ends_at is None else min(elapsed, self.ends_at)
        lines = [x for x in self.trace.lines if x[0] <= end]
        loop = self.trace.periodic
        if loop is not None and loop.lines and end >= loop.start:
            started = int((end - loop.start) // loop.period) + 1
            first = max(0, started - (limit // len(loop.lines) + 2))
            for k in range(first, started):
                base = loop.start + k * loop.period
                lines.extend((base + dt, ln) for dt, ln in loop.lines if base + dt <= end)
        return lines[-limit:] if limit else []

    def files_at(self, elapsed: float) -> dict[str, tuple[str, ...] | None]:
        """Paths the script created (`()`) or removed (`None`) by `elapsed`."""
        state: dict[str, tuple[str, ...] | None] = {}
        for t, path, exists in self.trace.files:
            if t <= elapsed:
                state[path] = () if exists else None
        loop = self.trace.periodic
        if loop is not None and loop.files and elapsed >= loop.start:
            since = elapsed - loop.start
            ops = [op for op in loop.files if since >= loop.period]  # a whole earlier iteration
            ops += [op for op in loop.files if op[0] <= since % loop.period]  # then this one
            for _, path, exists in ops:
                state[path] = () if exists else None
        return state

    def run_exec(self, argv: list[str], elapsed: float) -> ExecResult:
        """An exec probe or hook run in the container `elapsed` seconds after it started."""
        return run_exec(argv, env=dict(self.env), hostname=self.hostname,
                        files=self.files_at(elapsed))

    def hook_duration(self, handler: dict, elapsed: float) -> float:
        """Seconds a lifecycle hook (preStop/postStart) takes; math.inf if it never ends."""
        if "exec" in handler:
            return self.run_exec(list((handler["exec"] or {}).get("command") or []),
                                 elapsed).duration
        if "sleep" in handler:
            return float((handler["sleep"] or {}).get("seconds") or 0)
        return 0.0

    def probe(self, handler: dict, elapsed: float, kind: str, *, host: str = "",
              timeout: float = 1.0) -> tuple[bool, str]:
        """(ok, message) of one probe run `elapsed` seconds after the container started;
        `message` is the Unhealthy event's ("Liveness probe failed: ...")."""
        label = kind.capitalize()
        failing = (kind == "liveness" and self.fail_liveness_after is not None
                   and elapsed >= self.fail_liveness_after) or \
                  (kind in ("readiness", "startup") and self.ready_after is not None
                   and elapsed < self.ready_after)
        if "exec" in handler:
            argv = list((handler["exec"] or {}).get("command") or [])
            if failing:
                return False, f"{label} probe failed: "
            result = self.run_exec(argv, elapsed)
            if result.duration > timeout:
                return False, f'{label} probe failed: command "{" ".join(argv)}" timed out'
            if result.exit_code != 0:
                return False, f"{label} probe failed: {result.output.rstrip(chr(10))}"
            return True, ""
        action_name = next((k for k in ("httpGet", "tcpSocket", "grpc") if k in handler), None)
        if action_name is None:
            return False, f"{label} probe errored: missing probe handler"
        action = handler[action_name] or {}
        port = self._port(action.get("port"))
        ip = action.get("host") or host or "127.0.0.1"
        if port is None:
            return False, f"{label} probe errored: unable to find port {action.get('port')!r}"
        refused = f"dial tcp {ip}:{port}: connect: connection refused"
        listening = self.listens and (not self.ports or any(p.number == port for p in self.ports))
        if action_name == "httpGet":
            url = f"{str(action.get('scheme') or 'HTTP').lower()}://{ip}:{port}" \
                  f"{action.get('path') or '/'}"
            if not listening:
                return False, f'{label} probe failed: Get "{url}": {refused}'
            if failing:
                code = 500 if kind == "liveness" else 503
                return False, f"{label} probe failed: HTTP probe failed with statuscode: {code}"
            return True, ""
        if action_name == "grpc":
            if not listening:
                return False, (f'{label} probe failed: timeout: failed to connect service '
                               f'"{ip}:{port}" within {timeout:g}s')
            if failing:
                return False, f'{label} probe failed: service unhealthy (responded with ' \
                              f'"NOT_SERVING")'
            return True, ""
        if not listening or failing:
            return False, f"{label} probe failed: {refused}"
        return True, ""

    def _port(self, value: object) -> int | None:
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            if value.isdigit():
                return int(value)
            for p in self.ports:
                if p.name == value:
                    return p.number
        return None


def program_for(container: dict, pod: dict, *, init: bool = False) -> Program:
    """The program `container` of `pod` runs when it starts now."""
    name = str(container.get("name") or "")
    image = str(container.get("image") or "")
    md = pod.get("metadata") or {}
    hostname = str((pod.get("spec") or {}).get("hostname") or md.get("name") or "")
    spec_env = _environment(container, pod)
    env = {"HOSTNAME": hostname, **spec_env}
    ports = tuple(Port(int(p.get("containerPort") or 0), str(p.get("name") or ""),
                       str(p.get("protocol") or "TCP"))
                  for p in container.get("ports") or [])
    command = [_expand(str(x), spec_env) for x in container.get("command") or []]
    args = [_expand(str(x), spec_env) for x in container.get("args") or []]
    stdin_open = bool(container.get("stdin"))
    kind = images.family(image)
    argv: list[str] | None = None
    if command:
        argv = command + args
    elif kind == "shell":
        argv = (["sh"] + args if args and args[0].startswith("-") else args) or ["sh"]
    if argv is not None:
        trace = run_argv(argv, env=env, hostname=hostname, stdin_open=stdin_open)
    else:
        tcp = [p.number for p in ports if p.protocol == "TCP"]
        first = images.banner(image, tcp) if kind == "server" else ""
        trace = Trace(lines=((0.0, first),) if first else (), files=(), end=None, exit_code=0,
                      blocked_by="server", sigterm_exit=0, listens=kind == "server")
    warnings: list[str] = []
    annotations = md.get("annotations") or {}

    def duration(key: str) -> float | None:
        value = _annotation(annotations, key, name, init)
        if value is None:
            return None
        try:
            seconds = parse_go_duration(value)
        except ValueError as e:
            warnings.append(f'invalid {key} "{value}": {e}')
            return None
        if seconds < 0:
            warnings.append(f'invalid {key} "{value}": must not be negative')
            return None
        return seconds

    ends_at, code = trace.end, trace.exit_code
    reason = "Completed" if code == 0 else "Error"
    exit_after = duration(EXIT_AFTER)
    if exit_after is not None and (ends_at is None or exit_after < ends_at):
        ends_at, code = exit_after, _exit_code(annotations, name, init, warnings)
        reason = "Completed" if code == 0 else "Error"
    memory = _memory(annotations, name, init, warnings, listens=trace.listens)
    limit = _memory_limit(container)
    if limit is not None and memory > limit and (ends_at is None or ends_at > OOM_DELAY):
        ends_at, code, reason = OOM_DELAY, 137, "OOMKilled"
    return Program(image=image, trace=trace, ends_at=ends_at, exit_code=code,
                   exit_reason=reason, sigterm_exit=trace.sigterm_exit,
                   listens=trace.listens, ports=ports, memory_bytes=memory,
                   ready_after=duration(READY_AFTER),
                   fail_liveness_after=duration(FAIL_LIVENESS_AFTER),
                   env=tuple(sorted(env.items())), hostname=hostname,
                   warnings=tuple(warnings))


def render_line(line: str, wall: float) -> str:
    """A log line with `date` placeholders replaced by the wall time it was printed at."""
    if "\x00" not in line:
        return line
    when = datetime.fromtimestamp(int(wall), tz=timezone.utc)

    def fmt(m: re.Match[str]) -> str:
        spec = m.group(1)
        if not spec:
            return f"{when:%a %b} {when.day:2d} {when:%H:%M:%S} UTC {when.year}"
        return when.strftime(spec.replace("%s", str(int(wall))))
    return re.sub(DATE_MARK.format("(?::([^\x00]*))?"), fmt, line)


def _annotation(annotations: dict, key: str, name: str, init: bool) -> str | None:
    specific = annotations.get(f"{key}.{name}")
    if specific is not None:
        return str(specific)
    if init:
        return None
    value = annotations.get(key)
    return None if value is None else str(value)


def _exit_code(annotations: dict, name: str, init: bool, warnings: list[str]) -> int:
    value = _annotation(annotations, EXIT_CODE, name, init)
    if value is None:
        return 1
    try:
        code = int(value)
    except ValueError:
        warnings.append(f'invalid {EXIT_CODE} "{value}": not an integer')
        return 1
    if not 0 <= code <= 255:
        warnings.append(f'invalid {EXIT_CODE} "{value}": must be between 0 and 255')
        return 1
    return code


def _memory(annotations: dict, name: str, init: bool, warnings: list[str], *,
            listens: bool) -> int:
    default = DEFAULT_SERVER_MEMORY if listens else DEFAULT_SCRIPT_MEMORY
    value = _annotation(annotations, MEMORY, name, init)
    if value is None:
        return default
    try:
        amount = parse_quantity(value)
    except QuantityError as e:
        warnings.append(f'invalid {MEMORY} "{value}": {e}')
        return default
    if amount < 0:
        warnings.append(f'invalid {MEMORY} "{value}": must not be negative')
        return default
    return math.ceil(amount)


def _memory_limit(container: dict) -> int | None:
    value = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    if value is None:
        return None
    try:
        return math.ceil(parse_quantity(value))
    except QuantityError:
        return None


def _environment(container: dict, pod: dict) -> dict[str, str]:
    """The container's `env`: literal values and downward API fields (others are unset)."""
    md, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    fields = {"metadata.name": md.get("name"), "metadata.namespace": md.get("namespace"),
              "metadata.uid": md.get("uid"), "spec.nodeName": spec.get("nodeName"),
              "spec.serviceAccountName": spec.get("serviceAccountName"),
              "status.podIP": status.get("podIP"), "status.hostIP": status.get("hostIP")}
    env: dict[str, str] = {}
    for var in container.get("env") or []:
        name = var.get("name")
        if not name:
            continue
        if "value" in var:
            env[name] = _expand(str(var.get("value") or ""), env)
            continue
        ref = ((var.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath", "")
        m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", ref)
        if m:
            env[name] = str((md.get(m.group(1)) or {}).get(m.group(2), ""))
        elif fields.get(ref) is not None:
            env[name] = str(fields[ref])
    return env


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion of command, args and env values (`$$` escapes)."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, text)
