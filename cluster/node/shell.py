"""Container scripts in virtual time: what `sh -c "..."` would print, and when.

A container's command is evaluated once, when the container starts, against a clock that
starts at 0 and moves only when the script sleeps (shell_eval.py). The result is a `Trace`:
output lines with their offsets, the files the script created or removed (exec probes look
at them), and how it ends -- an exit code at an offset, or blocked forever (in `sleep
infinity`, `tail -f`, `wait`, a server program, or a loop), possibly with `Periodic` output.

Signals follow a real PID 1: a server the shell `exec`s (or a script that is a single
command, which `sh -c` execs) exits 0 on SIGTERM; a shell or a `sleep` running as PID 1
ignores SIGTERM and is killed at the end of the grace period; a shell blocked in `wait` or a
loop with `trap '... exit N' TERM` exits N. `run_exec` runs probe and hook commands beside a
container, where unknown programs (`redis-cli ping`) succeed at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kubemu.cluster.node.shell_control import Exit, Forever, Jump, Periodic, PeriodicFound
from kubemu.cluster.node.shell_eval import MIN_LOOP_PERIOD, SHELLS, Evaluator

__all__ = ["Trace", "Periodic", "ExecResult", "run_script", "run_argv", "run_exec",
           "SHELLS", "MIN_LOOP_PERIOD"]


@dataclass(frozen=True)
class Trace:
    lines: tuple[tuple[float, str], ...]
    files: tuple[tuple[float, str, bool], ...]  # (offset, path, exists), by offset
    end: float | None  # offset of the exit; None = never ends by itself
    exit_code: int
    periodic: Periodic | None = None
    blocked_by: str = ""  # "" | sleep | server | read | tail | wait | loop | busy
    sigterm_exit: int | None = None  # None: SIGTERM is ignored
    listens: bool = False  # reached a server program (it answers on the container's ports)


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str
    duration: float  # math.inf when the command never ends


def run_script(script: str, *, env: Mapping[str, str], hostname: str, args: tuple[str, ...] = (),
               errexit: bool = False, stdin_open: bool = False) -> Trace:
    """Trace of `sh -c script` run as a container's PID 1."""
    shell = Evaluator(env=env, hostname=hostname, exec_mode=False, stdin_open=stdin_open,
                   positional=args or ("sh",))
    shell.errexit = errexit
    return _trace(shell, lambda: shell.run_script_text(script, pid1=True))


def run_argv(argv: list[str], *, env: Mapping[str, str], hostname: str,
             stdin_open: bool = False) -> Trace:
    """Trace of a container whose command is `argv` (no shell in between)."""
    shell = Evaluator(env=env, hostname=hostname, exec_mode=False, stdin_open=stdin_open)
    shell.sole = True
    return _trace(shell, lambda: shell.command(list(argv), ()))


def run_exec(argv: list[str], *, env: Mapping[str, str], hostname: str,
             files: Mapping[str, tuple[str, ...] | None]) -> ExecResult:
    """An exec probe or hook: `argv` run beside the container, seeing its files."""
    shell = Evaluator(env=env, hostname=hostname, exec_mode=True,
                   files={k: (list(v) if v is not None else None) for k, v in files.items()})
    try:
        status = shell.command(list(argv), ())
    except Exit as e:
        status = e.code
    except (Forever, PeriodicFound):
        return ExecResult(1, shell.captured(), math.inf)
    return ExecResult(status, shell.captured(), shell.t)


def _trace(shell: Evaluator, body: Callable[[], int]) -> Trace:
    end: float | None = None
    code, blocked, periodic = 0, "", None
    try:
        code = body()
        end = shell.t
    except Exit as e:
        code, end = e.code, shell.t
    except Forever as e:
        blocked, periodic = e.reason, shell.bg_periodic
    except PeriodicFound as e:
        blocked, periodic = "loop", e.periodic
    except Jump:
        code, end = 0, shell.t
    if shell.partial:
        shell.lines.append((shell.t, shell.partial))
    return Trace(lines=tuple(sorted(shell.lines, key=lambda x: x[0])),
                 files=tuple(sorted(shell.file_ops, key=lambda x: x[0])),
                 end=end, exit_code=code & 0xFF, periodic=periodic, blocked_by=blocked,
                 sigterm_exit=_sigterm_exit(shell, blocked) if end is None else None,
                 listens=shell.listens)


def _sigterm_exit(shell: Evaluator, blocked: str) -> int | None:
    """The exit code the blocked script answers SIGTERM with; None if it ignores it."""
    if blocked == "server" and shell.exec_server:
        return 0
    if shell.trap_term is not None and blocked in ("wait", "loop", "read", "busy", "server"):
        handler = Evaluator(env=shell.vars, hostname=shell.hostname, exec_mode=True)
        try:
            handler.run_seq(shell.trap_term)
        except Exit as e:
            return e.code & 0xFF
        except (Forever, PeriodicFound, Jump):
            return None
    return None
