"""The container shell evaluator: runs a parsed script in virtual time.

`Evaluator` walks the syntax tree of shell_parse.py. Time starts at 0 and moves only when
the script sleeps, so evaluating a script once, when its container starts, yields its whole
future: output lines with their offsets, file changes, and how it ends. Output goes to the
log (lines stamped with the current offset) unless redirected, piped or captured by `$(...)`;
stdout and stderr both reach the log, as a container runtime collects both. Unknown programs
are servers (they block forever and listen) except inside `$(...)` and in exec mode (probes
and hooks), where they succeed at once. An infinite loop whose iterations repeat exactly is
recognised after two identical iterations (same duration, output, file changes, variables)
and summarised as `Periodic`; every command costs one step of a budget, and a script that
spends it is treated as running silently from then on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from kubemu.cluster.node import shell_parse as sp
from kubemu.cluster.node.shell_builtins import BUILTINS
from kubemu.cluster.node.shell_commands import QUICK, UTILITIES
from kubemu.cluster.node.shell_control import (Exit, Forever, Jump, Periodic, PeriodicFound)
from kubemu.cluster.node.shell_expand import expand, expand_one

__all__ = ["Evaluator", "SHELLS", "MIN_LOOP_PERIOD", "BUDGET", "HORIZON"]

SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
MIN_LOOP_PERIOD = 1.0
"""A loop that prints without sleeping is emulated as one iteration per second."""
BUDGET = 10_000
HORIZON = 10 * 365 * 86400.0


class Evaluator:
    """One shell process: its variables, files, output and clock."""

    def __init__(self, *, env: Mapping[str, str], hostname: str, exec_mode: bool,
                 stdin_open: bool = False, positional: tuple[str, ...] = ("sh",),
                 files: dict[str, list[str] | None] | None = None) -> None:
        self.vars: dict[str, str] = {"HOME": "/root", "PWD": "/", "HOSTNAME": hostname,
                                     "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                             "/usr/bin:/sbin:/bin", **env}
        self.hostname = hostname
        self.exec_mode = exec_mode
        self.stdin_open = stdin_open
        self.positional = list(positional)
        self.files: dict[str, list[str] | None] = files if files is not None else {}
        self.t = 0.0
        self.status = 0
        self.lines: list[tuple[float, str]] = []
        self.file_ops: list[tuple[float, str, bool]] = []
        self.partial = ""
        self.out: list[list[str] | None] = [[] if exec_mode else None]
        self.err: list[list[str] | None] = [self.out[0]]
        self.stdin: list[list[str]] = []
        self.budget = BUDGET
        self.errexit = False
        self.cond_depth = 0
        self.trap_term: sp.Sequence | None = None
        self.bg_until = 0.0
        self.bg_periodic: Periodic | None = None
        self.listens = False
        self.exec_server = False
        self.sole = False
        self.subst_depth = 0  # inside $(...): unknown programs print nothing and succeed

    # -- the Shell protocol the utilities use ---------------------------------------------
    def write(self, text: str, *, err: bool = False) -> None:
        target = (self.err if err else self.out)[-1]
        if target is not None:
            target.append(text)
            return
        text = self.partial + text
        *complete, self.partial = text.split("\n")
        self.lines.extend((self.t, line) for line in complete)

    def error(self, text: str) -> None:
        self.write(text + "\n", err=True)

    def file(self, path: str) -> list[str] | None:
        return self.files.get(path, [])

    def set_file(self, path: str, content: list[str] | None) -> None:
        self.files[path] = content
        self.file_ops.append((self.t, path, content is not None))

    def captured(self) -> str:
        return "".join(self.out[0] or [])

    def run_script_text(self, script: str, *, pid1: bool = False) -> int:
        try:
            tree = sp.parse(script)
        except sp.ParseError:
            return self.unknown(pid1)
        # sh -c "one command" execs it: that command becomes PID 1
        self.sole = pid1 and len(tree.items) == 1 and not tree.items[0][1] \
            and isinstance(tree.items[0][0], sp.Simple)
        return self.run_seq(tree)

    def tick(self) -> None:
        self.budget -= 1
        if self.budget <= 0 or self.t > HORIZON:
            raise Forever("busy")

    # -- syntax tree -----------------------------------------------------------------------
    def run_seq(self, seq: sp.Sequence) -> int:
        status = 0
        for node, background in seq.items:
            if background:
                self._background(node)
                status = 0
            else:
                status = self.run(node)
        self.status = status
        return status

    def run(self, node: sp.Node) -> int:
        self.tick()
        if isinstance(node, sp.Simple):
            status = self._simple(node)
        elif isinstance(node, sp.Pipeline):
            status = self._pipeline(node)
        elif isinstance(node, sp.AndOr):
            status = self._and_or(node)
        elif isinstance(node, sp.Loop):
            status = self._loop(node)
        elif isinstance(node, sp.ForLoop):
            status = self._for(node)
        elif isinstance(node, sp.If):
            status = self._if(node)
        elif isinstance(node, sp.Group):
            status = self._group(node)
        else:
            status = self.run_seq(node)
        self.status = status
        if status != 0 and self.errexit and self.cond_depth == 0 and \
                isinstance(node, (sp.Simple, sp.Pipeline)):
            raise Exit(status)
        return status

    def _condition(self, node: sp.Node | sp.Sequence) -> int:
        self.cond_depth += 1
        try:
            return self.run_seq(node) if isinstance(node, sp.Sequence) else self.run(node)
        finally:
            self.cond_depth -= 1

    def _and_or(self, node: sp.AndOr) -> int:
        status = self._condition(node.first)
        for i, (op, nxt) in enumerate(node.rest):
            if (op == "&&") == (status == 0):
                last = i == len(node.rest) - 1
                status = self.run(nxt) if last else self._condition(nxt)
        return status

    def _pipeline(self, node: sp.Pipeline) -> int:
        data: list[str] | None = None
        status = 0
        for i, cmd in enumerate(node.commands):
            last = i == len(node.commands) - 1
            sink: list[str] = []
            if data is not None:
                self.stdin.append(data)
            if not last:
                self.out.append(sink)
            try:
                status = self._condition(cmd) if node.negate or not last else self.run(cmd)
            finally:
                if not last:
                    self.out.pop()
                if data is not None:
                    self.stdin.pop()
            data = "".join(sink).splitlines()
        return (1 if status == 0 else 0) if node.negate else status

    def _loop(self, node: sp.Loop) -> int:
        status = 0
        previous = None
        while True:
            self.tick()
            t0, n0, f0, vars0 = self.t, len(self.lines), len(self.file_ops), dict(self.vars)
            if (self._condition(node.cond) == 0) == node.until:
                return status
            try:
                status = self.run_seq(node.body)
            except Jump as j:
                if j.levels > 1:
                    raise Jump(j.kind, j.levels - 1) from None
                if j.kind == "break":
                    return 0
            logging = self.out[-1] is None and not self.partial
            signature = (self.t - t0, tuple((t - t0, ln) for t, ln in self.lines[n0:]),
                         tuple((t - t0, p, e) for t, p, e in self.file_ops[f0:]), status)
            if logging and vars0 == self.vars and signature == previous:
                period, lines, files = signature[0], signature[1], signature[2]
                if period <= 0:
                    if not lines and not files:
                        raise Forever("busy")
                    period = MIN_LOOP_PERIOD
                    lines = tuple((0.0, ln) for _, ln in lines)
                raise PeriodicFound(Periodic(self.t, period, lines, files))
            previous = signature if vars0 == self.vars else None

    def _for(self, node: sp.ForLoop) -> int:
        values = self.positional[1:] if node.words is None else \
            [f for w in node.words for f in expand(self, w)]
        status = 0
        for value in values:
            self.vars[node.var] = value
            try:
                status = self.run_seq(node.body)
            except Jump as j:
                if j.levels > 1:
                    raise Jump(j.kind, j.levels - 1) from None
                if j.kind == "break":
                    return 0
        return status

    def _if(self, node: sp.If) -> int:
        for cond, body in node.branches:
            if self._condition(cond) == 0:
                return self.run_seq(body)
        return self.run_seq(node.otherwise) if node.otherwise else 0

    def _group(self, node: sp.Group) -> int:
        if not node.subshell:
            return self.run_seq(node.body)
        saved = dict(self.vars), list(self.positional)
        try:
            return self.run_seq(node.body)
        except Exit as e:
            return e.code & 0xFF
        finally:
            self.vars, self.positional = saved[0], saved[1]

    def _background(self, node: sp.Node) -> None:
        child = Evaluator(env=self.vars, hostname=self.hostname, exec_mode=self.exec_mode,
                       files=dict(self.files), positional=tuple(self.positional))
        child.t, child.budget, child.out, child.err = self.t, self.budget // 2, \
            [self.out[-1]], [self.err[-1]]
        end = math.inf
        try:
            child.run(node)
            end = child.t
        except (Exit, Jump):
            end = child.t
        except Forever:
            pass
        except PeriodicFound as e:
            self.bg_periodic = e.periodic
        if child.partial:
            child.lines.append((child.t, child.partial))
        self.lines.extend(child.lines)
        self.file_ops.extend(child.file_ops)
        self.files.update(child.files)
        self.listens |= child.listens
        self.bg_until = max(self.bg_until, end)
        self.vars["!"] = "2"

    # -- simple commands -------------------------------------------------------------------
    def _simple(self, node: sp.Simple) -> int:
        argv = [f for w in node.words for f in expand(self, w)]
        assigns = tuple((name, expand_one(self, value)) for name, value in node.assigns)
        if not argv:
            self.vars.update(assigns)
            return self.status if node.assigns and any(
                p.kind == "cmd" for _, w in node.assigns for p in w) else 0
        if not node.redirects:
            return self.command(argv, assigns)
        out_sink: list[str] | None = self.out[-1]
        err_sink: list[str] | None = self.err[-1]
        writes: list[tuple[str, list[str], bool]] = []
        for op, word in node.redirects:
            target = expand_one(self, word)
            fd = op[0] if op[0].isdigit() else ("&" if op.startswith("&") else "1")
            kind = op.lstrip("0123456789&")
            if kind in ("<", "<&"):
                continue
            if kind == ">&":
                if target == "1" and fd == "2":
                    err_sink = out_sink
                continue
            sink: list[str] = []
            if target != "/dev/null":
                writes.append((target, sink, kind == ">>"))
            if fd in ("1", "&"):
                out_sink = sink
            if fd in ("2", "&"):
                err_sink = sink
        self.out.append(out_sink)
        self.err.append(err_sink)
        try:
            return self.command(argv, assigns)
        finally:
            self.out.pop()
            self.err.pop()
            for path, sink, append in writes:
                content = "".join(sink).splitlines()
                before = (self.files.get(path) or []) if append else []
                self.set_file(path, before + content)

    def command(self, argv: list[str], assigns: tuple[tuple[str, str], ...]) -> int:
        """Runs one command; raises _Exit, _Forever or _Jump for control flow."""
        self.tick()
        name = argv[0].rsplit("/", 1)[-1]
        args = argv[1:]
        if name in BUILTINS:
            return BUILTINS[name](self, args)
        if name in SHELLS:
            return self._nested_shell(args)
        if name in UTILITIES:
            return UTILITIES[name](self, args, self.stdin[-1] if self.stdin else None)
        if name in QUICK or self.exec_mode or self.subst_depth:
            for line in (self.stdin[-1] if self.stdin else []):
                self.write(line + "\n")
            return 0
        return self.unknown(self.sole)

    def unknown(self, pid1: bool) -> int:
        if self.exec_mode:
            return 0
        self.listens = True
        self.exec_server = self.exec_server or pid1
        raise Forever("server")

    def _nested_shell(self, args: list[str]) -> int:
        errexit, i = False, 0
        script: str | None = None
        while i < len(args) and args[i].startswith("-") and args[i] != "-":
            flag = args[i]
            if flag == "-o":
                i += 2
                continue
            errexit = errexit or "e" in flag
            i += 1
            if "c" in flag:
                script = args[i] if i < len(args) else ""
                i += 1
                break
        if script is None:
            if i < len(args):
                return self.unknown(self.sole)  # `sh script.sh`: a program we cannot see
            if self.stdin_open and not self.exec_mode:
                raise Forever("read")
            return 0  # an interactive shell on a closed stdin exits at once
        saved = dict(self.vars), list(self.positional), self.errexit, self.sole
        self.positional = list(args[i:]) or ["sh"]
        self.errexit = errexit
        try:
            return self.run_script_text(script, pid1=self.sole)
        except Exit as e:
            return e.code & 0xFF
        finally:
            self.vars, self.positional, self.errexit, self.sole = saved
