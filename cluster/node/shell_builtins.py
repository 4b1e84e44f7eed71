"""Builtins of the container shell: the commands that steer the evaluator itself.

`exit`, `exec`, `sleep`, `wait`, `trap`, `read`, `tail -f`, `cat` on stdin, `set -e`,
`export`, `break`/`continue`, `eval`, `timeout`, `shift` and the prefixes (`nohup`, `env`,
`command`, `busybox`) need the evaluator's state -- its clock, its background jobs, its
traps -- so they live here rather than with the utilities. `sleep` is where virtual time
passes; `sleep infinity`, `tail -f`, `wait` on a never-ending job, and reading an open stdin
block forever. `exec` replaces the shell: a server it starts becomes PID 1 (it answers
SIGTERM) and the shell's traps are gone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from kubemu.cluster.node import shell_parse as sp
from kubemu.cluster.node.durations import parse_sleep
from kubemu.cluster.node.shell_commands import UTILITIES
from kubemu.cluster.node.shell_control import Exit, Forever, Jump, arith, to_int

if TYPE_CHECKING:
    from kubemu.cluster.node.shell_eval import Evaluator

__all__ = ["BUILTINS", "Builtin"]

Builtin = Callable[["Evaluator", list[str]], int]


def _exit(sh: Evaluator, args: list[str]) -> int:
    raise Exit(to_int(args[0], 2) if args else sh.status)


def _exec(sh: Evaluator, args: list[str]) -> int:
    if not args:
        return 0
    sh.trap_term = None  # the new program replaces the shell and its traps
    sh.sole = True
    raise Exit(sh.command(args, ()))


def _sleep(sh: Evaluator, args: list[str]) -> int:
    try:
        seconds = parse_sleep(args)
    except ValueError as e:
        sh.error(f"sleep: {e}")
        return 1
    if math.isinf(seconds):
        raise Forever("sleep")
    sh.t += seconds
    return 0


def _tail(sh: Evaluator, args: list[str]) -> int:
    if any(a in ("-f", "-F") or (a.startswith("-") and "f" in a and not a[1:].isdigit())
           for a in args):
        raise Forever("tail")
    return UTILITIES["tail"](sh, args, sh.stdin[-1] if sh.stdin else None)


def _cat(sh: Evaluator, args: list[str]) -> int:
    if not [a for a in args if not a.startswith("-")] and not sh.stdin:
        if sh.stdin_open and not sh.exec_mode:
            raise Forever("read")
        return 0
    return UTILITIES["cat"](sh, args, sh.stdin[-1] if sh.stdin else None)


def _read(sh: Evaluator, args: list[str]) -> int:
    names = [a for a in args if not a.startswith("-")] or ["REPLY"]
    if sh.stdin and sh.stdin[-1]:
        words = sh.stdin[-1].pop(0).split(maxsplit=len(names) - 1)
        for k, name in enumerate(names):
            sh.vars[name] = words[k] if k < len(words) else ""
        return 0
    if sh.stdin_open and not sh.exec_mode and not sh.stdin:
        raise Forever("read")
    return 1


def _wait(sh: Evaluator, args: list[str]) -> int:
    if math.isinf(sh.bg_until):
        raise Forever("wait")
    sh.t = max(sh.t, sh.bg_until)
    return 0


def _trap(sh: Evaluator, args: list[str]) -> int:
    if len(args) >= 2 and any(s in ("TERM", "SIGTERM", "15") for s in args[1:]):
        sh.trap_term = sp.parse(args[0]) if args[0] not in ("", "-") else None
    return 0


def _set(sh: Evaluator, args: list[str]) -> int:
    for a in args:
        if a.startswith("-") and "e" in a and a != "-o":
            sh.errexit = True
        elif a.startswith("+") and "e" in a:
            sh.errexit = False
    return 0


def _export(sh: Evaluator, args: list[str]) -> int:
    for a in args:
        name, sep, value = a.partition("=")
        if sep and not name.startswith("-"):
            sh.vars[name] = value
    return 0


def _unset(sh: Evaluator, args: list[str]) -> int:
    for a in args:
        sh.vars.pop(a, None)
    return 0


def _jump(kind: str):  # type: ignore[no-untyped-def]
    def run(sh: Evaluator, args: list[str]) -> int:
        raise Jump(kind, to_int(args[0], 1) if args else 1)
    return run


def _eval(sh: Evaluator, args: list[str]) -> int:
    try:
        return sh.run_seq(sp.parse(" ".join(args)))
    except sp.ParseError:
        return 2


def _timeout(sh: Evaluator, args: list[str]) -> int:
    rest = [a for a in args if not a.startswith("-")]
    if len(rest) < 2:
        return 125
    try:
        limit = parse_sleep([rest[0]])
    except ValueError:
        return 125
    t0, n0 = sh.t, len(sh.lines)
    try:
        status = sh.command(rest[1:], ())
    except Forever:
        if math.isinf(limit):
            raise
        sh.t = t0 + limit
        return 124
    if sh.t - t0 > limit:
        sh.t = t0 + limit
        sh.lines[n0:] = [x for x in sh.lines[n0:] if x[0] <= sh.t]
        return 124
    return status


def _shift(sh: Evaluator, args: list[str]) -> int:
    n = to_int(args[0], 1) if args else 1
    sh.positional = sh.positional[:1] + sh.positional[1 + n:]
    return 0


def _prefix(sh: Evaluator, args: list[str]) -> int:
    """`nohup cmd`, `command cmd`, `env [VAR=x] cmd`, `busybox cmd`: run cmd."""
    while args and ("=" in args[0] or args[0].startswith("-")):
        name, _, value = args[0].partition("=")
        if not args[0].startswith("-"):
            sh.vars[name] = value
        args = args[1:]
    if not args:
        return UTILITIES["env"](sh, [], None)
    return sh.command(args, ())


BUILTINS: dict[str, Builtin] = {
    "exit": _exit, "exec": _exec, "sleep": _sleep, "tail": _tail, "cat": _cat,
    "read": _read, "wait": _wait, "trap": _trap, "set": _set, "export": _export,
    "readonly": _export, "unset": _unset, "break": _jump("break"),
    "continue": _jump("continue"), "eval": _eval, "timeout": _timeout,
    "shift": _shift, "nohup": _prefix, "command": _prefix, "env": _prefix,
    "busybox": _prefix,
    "cd": lambda sh, a: 0, "source": lambda sh, a: 0, ".": lambda sh, a: 0,
    "return": _exit, "let": lambda sh, a: 0 if a and arith(a[-1], sh.vars) else 1,
}
