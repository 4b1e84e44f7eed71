"""Text utilities of the emulated container shell: echo, printf, cat, grep, head, wc, ...

Each utility is a function `(shell, args, stdin) -> exit status` over the `Shell` protocol
(stdout/stderr writes, the emulated files, variables), so utilities never see the
evaluator's control flow. Text filters read `stdin` (the previous pipeline stage's lines) or
files; messages to stderr follow busybox ("cat: can't open 'x': No such file or directory").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

__all__ = ["Shell", "Utility", "TEXT_UTILITIES", "unescape"]


class Shell(Protocol):
    vars: dict[str, str]
    hostname: str

    def write(self, text: str) -> None: ...
    def error(self, text: str) -> None: ...
    def file(self, path: str) -> list[str] | None: ...
    def set_file(self, path: str, content: list[str] | None) -> None: ...


Utility = Callable[[Shell, list[str], "list[str] | None"], int]
_FILTERS = frozenset({"sed", "awk", "cut", "tr", "xargs", "rev"})


def _echo(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        newline = newline and "n" not in args[0]
        escapes = "e" in args[0]
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text = unescape(text)
    sh.write(text + ("\n" if newline else ""))
    return 0


def _printf(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    if not args:
        sh.error("printf: usage: printf format [arguments]")
        return 2
    fmt, values = unescape(args[0]), list(args[1:])
    out: list[str] = []
    while True:  # the format is reused while arguments remain, as printf(1) does
        text, used = _format_once(fmt, values)
        out.append(text)
        values = values[used:]
        if not values or used == 0:
            break
    sh.write("".join(out))
    return 0


def _format_once(fmt: str, values: list[str]) -> tuple[str, int]:
    used = 0

    def substitute(m: re.Match[str]) -> str:
        nonlocal used
        if m.group(0) == "%%":
            return "%"
        value = values[used] if used < len(values) else ""
        used += 1
        flags, conv = m.group(1), m.group(2)
        try:
            if conv in "di":
                return ("%" + flags + "d") % int(value or 0)
            if conv in "fgeE":
                return ("%" + flags + conv) % float(value or 0)
            if conv in "xXo":
                return ("%" + flags + conv) % int(value or 0)
        except ValueError:
            return "0"
        if conv == "b":
            return unescape(value)
        return ("%" + flags + "s") % value

    return re.sub(r"%([-+ #0-9.]*)([sdifgeExXobc])|%%", substitute, fmt), used


def _cat(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    files = [a for a in args if not a.startswith("-") or a == "-"]
    if not files:
        for line in stdin or []:
            sh.write(line + "\n")
        return 0
    status = 0
    for path in files:
        content = sh.file(path)
        if content is None:
            sh.error(f"cat: can't open '{path}': No such file or directory")
            status = 1
            continue
        for line in content:
            sh.write(line + "\n")
    return status


def _lines_of(sh: Shell, files: list[str], stdin: list[str] | None, tool: str) -> list[str] | None:
    if not files:
        return list(stdin or [])
    lines: list[str] = []
    for path in files:
        content = sh.file(path)
        if content is None:
            sh.error(f"{tool}: {path}: No such file or directory")
            return None
        lines.extend(content)
    return lines


def _head_tail(sh: Shell, args: list[str], stdin: list[str] | None, *, tail: bool) -> int:
    count, files = 10, []
    it = iter(args)
    for a in it:
        if a == "-n":
            count = int(next(it, "10").lstrip("+") or 10)
        elif re.fullmatch(r"-n?[0-9]+", a):
            count = int(a.lstrip("-n"))
        elif not a.startswith("-"):
            files.append(a)
    lines = _lines_of(sh, files, stdin, "tail" if tail else "head")
    if lines is None:
        return 1
    chosen = (lines[-count:] if count else []) if tail else lines[:count]
    for line in chosen:
        sh.write(line + "\n")
    return 0


def _grep(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    flags, rest = "", []
    for a in args:
        if a.startswith("-") and len(a) > 1 and not rest:
            flags += a[1:]
        else:
            rest.append(a)
    if not rest:
        sh.error("grep: no pattern")
        return 2
    pattern, files = rest[0], rest[1:]
    lines = _lines_of(sh, files, stdin, "grep")
    if lines is None:
        return 2
    try:
        rx = re.compile(re.escape(pattern) if "F" in flags else pattern,
                        re.IGNORECASE if "i" in flags else 0)
    except re.error:
        rx = re.compile(re.escape(pattern))
    matched = [ln for ln in lines if bool(rx.search(ln)) != ("v" in flags)]
    if "c" in flags:
        sh.write(f"{len(matched)}\n")
    elif "q" not in flags:
        for line in matched:
            sh.write(line + "\n")
    return 0 if matched else 1


def _wc(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    flags = "".join(a[1:] for a in args if a.startswith("-"))
    lines = _lines_of(sh, [a for a in args if not a.startswith("-")], stdin, "wc")
    if lines is None:
        return 1
    counts = {"l": len(lines), "w": sum(len(ln.split()) for ln in lines),
              "c": sum(len(ln) + 1 for ln in lines)}
    shown = [str(counts[f]) for f in "lwc" if f in flags] or [str(counts[f]) for f in "lwc"]
    sh.write(" ".join(shown) + "\n")
    return 0


def _passthrough(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    for line in stdin or []:
        sh.write(line + "\n")
    return 0


def _sort(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    lines = _lines_of(sh, [a for a in args if not a.startswith("-")], stdin, "sort")
    for line in sorted(lines or [], reverse="-r" in args):
        sh.write(line + "\n")
    return 0


def _uniq(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    previous = None
    for line in stdin or []:
        if line != previous:
            sh.write(line + "\n")
        previous = line
    return 0


def _tee(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    append = "-a" in args
    for path in (a for a in args if not a.startswith("-")):
        before = (sh.file(path) or []) if append else []
        sh.set_file(path, before + list(stdin or []))
    return _passthrough(sh, args, stdin)


def _seq(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    try:
        nums = [int(a) for a in args]
    except ValueError:
        sh.error(f"seq: invalid argument {args!r}")
        return 1
    first, step, last = {1: (1, 1, nums[0] if nums else 0), 2: (nums[0], 1, nums[-1]),
                         3: (nums[0], nums[1] if len(nums) > 1 else 1, nums[-1])}.get(
        len(nums), (1, 1, 0))
    if step == 0:
        return 1
    values = range(first, last + (1 if step > 0 else -1), step)
    for value in list(values)[:10_000]:
        sh.write(f"{value}\n")
    return 0


def _expr(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    if len(args) == 3 and args[1] in "+-*/%" and args[1]:
        try:
            a, b = int(args[0]), int(args[2])
            value = {"+": a + b, "-": a - b, "*": a * b,
                     "/": int(a / b) if b else 0, "%": a % b if b else 0}[args[1]]
        except ValueError:
            sh.error("expr: non-integer argument")
            return 2
        sh.write(f"{value}\n")
        return 0 if value != 0 else 1
    sh.write((args[0] if args else "") + "\n")
    return 0


def unescape(text: str) -> str:
    return re.sub(r"\\([ntr\\a0]|c)",
                  lambda m: {"n": "\n", "t": "\t", "r": "", "\\": "\\", "a": "", "0": "",
                             "c": ""}[m.group(1)], text)

TEXT_UTILITIES: dict[str, Utility] = {
    "echo": _echo, "printf": _printf, "cat": _cat, "grep": _grep, "egrep": _grep,
    "fgrep": _grep, "wc": _wc, "sort": _sort, "uniq": _uniq, "tee": _tee, "seq": _seq,
    "expr": _expr, "head": lambda sh, a, i: _head_tail(sh, a, i, tail=False),
    "tail": lambda sh, a, i: _head_tail(sh, a, i, tail=True),
    **{name: _passthrough for name in _FILTERS},
}
