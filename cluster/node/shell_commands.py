"""The commands an emulated container's shell knows besides its builtins: the utility table.

`UTILITIES` maps a command name to a `(shell, args, stdin) -> status` function: the text
utilities of shell_text.py plus test/[, file commands (touch, rm, mkdir, cp, mv), date,
hostname, env, and a few constants (whoami, uname, id). Files are emulated only as far as
scripts and exec probes observe them: a path is absent (`None`), present with content lines,
or never mentioned -- and a file a script never mentions is taken to exist, so
`cat /tmp/healthy` in a probe succeeds unless the script removed it. Commands that would
touch the outside world (curl, wget, nslookup, apt-get, pip, ...; `QUICK`) succeed at once
without output: no network or package manager is emulated. Commands that block (`sleep`,
`tail -f`, servers) are the evaluator's business, not here.
"""

from __future__ import annotations

from kubemu.cluster.node.shell_text import TEXT_UTILITIES, Shell, Utility

__all__ = ["Shell", "UTILITIES", "QUICK", "DATE_MARK", "date_mark", "test_expression"]

DATE_MARK = "\x00date{}\x00"
"""Placeholder `date` writes; the log renders it with the wall time of the line."""


QUICK = frozenset({
    "chmod", "chown", "chgrp", "ls", "nslookup", "dig", "host", "wget", "curl", "ping", "nc",
    "apk", "apt-get", "apt", "yum", "dnf", "microdnf", "pip", "pip3", "tar", "gzip", "gunzip",
    "unzip", "mount", "umount", "ulimit", "umask", "sync", "stat", "find", "du", "df", "ps",
    "free", "md5sum", "sha256sum", "sha1sum", "openssl", "git", "iptables", "sysctl", "ip",
    "ifconfig", "getent", "useradd", "adduser", "groupadd", "usermod", "update-ca-certificates",
    "chroot", "setcap", "ldconfig", "which", "type", "hash", "alias", "local", "kill", "jq",
    "base64", "netstat", "ss", "traceroute", "telnet", "install", "diff", "cmp", "file", "logger",
    "mknod", "mkfifo", "readlink", "realpath", "stty", "tput", "clear", "reset", "dmesg", "lsof",
    "strace", "shred", "truncate",
})
"""Commands that exit 0 at once with no output (stdin passes through for filters)."""


def date_mark(fmt: str = "") -> str:
    return DATE_MARK.format(":" + fmt if fmt else "")


def test_expression(sh: Shell, args: list[str]) -> bool:
    """`test`/`[` semantics for the common unary and binary operators."""
    if not args:
        return False
    if args[0] == "!":
        return not test_expression(sh, args[1:])
    for joiner in ("-o", "-a"):
        if joiner in args[1:-1]:
            k = args.index(joiner, 1)
            left, right = test_expression(sh, args[:k]), test_expression(sh, args[k + 1:])
            return (left or right) if joiner == "-o" else (left and right)
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, operand = args
        if op == "-z":
            return operand == ""
        if op == "-n":
            return operand != ""
        if op in ("-e", "-f", "-d", "-r", "-w", "-x", "-s", "-L", "-h", "-S", "-p"):
            content = sh.file(operand)
            if content is None:
                return False
            return bool(content) if op == "-s" else True
        return False
    a, op, b = args[0], args[1], args[2]
    if op in ("=", "=="):
        return a == b
    if op == "!=":
        return a != b
    if op in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
        try:
            x, y = int(a), int(b)
        except ValueError:
            return False
        return {"-eq": x == y, "-ne": x != y, "-lt": x < y, "-le": x <= y, "-gt": x > y,
                "-ge": x >= y}[op]
    return False


def _test(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    return 0 if test_expression(sh, args) else 1


def _bracket(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    if not args or args[-1] not in ("]", "]]"):
        sh.error("[: missing ]")
        return 2
    return 0 if test_expression(sh, args[:-1]) else 1


def _touch(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    for path in (a for a in args if not a.startswith("-")):
        sh.set_file(path, sh.file(path) or [])
    return 0


def _rm(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    for path in (a for a in args if not a.startswith("-")):
        sh.set_file(path, None)
    return 0


def _copy(sh: Shell, args: list[str], stdin: list[str] | None, *, move: bool) -> int:
    paths = [a for a in args if not a.startswith("-")]
    if len(paths) < 2:
        return 1
    for src in paths[:-1]:
        content = sh.file(src)
        if content is None:
            sh.error(f"{'mv' if move else 'cp'}: can't stat '{src}': No such file or directory")
            return 1
        sh.set_file(paths[-1], list(content))
        if move:
            sh.set_file(src, None)
    return 0


def _date(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    fmt = next((a[1:] for a in args if a.startswith("+")), "")
    sh.write(date_mark(fmt) + "\n")
    return 0


def _constant(text: str) -> Utility:
    def run(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
        sh.write(text + "\n")
        return 0
    return run


def _hostname(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    sh.write(("10.0.0.1" if "-i" in args else sh.hostname) + "\n")
    return 0


def _env(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    names = [a for a in args if not a.startswith("-")]
    if names:
        if names[0] not in sh.vars:
            return 1
        sh.write(sh.vars[names[0]] + "\n")
        return 0
    for key in sorted(sh.vars):
        sh.write(f"{key}={sh.vars[key]}\n")
    return 0


def _basename(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    sh.write((args[0].rstrip("/").rsplit("/", 1)[-1] if args else "") + "\n")
    return 0


def _dirname(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    path = args[0].rstrip("/") if args else "."
    sh.write((path.rsplit("/", 1)[0] or "/" if "/" in path else ".") + "\n")
    return 0


def _mkdir(sh: Shell, args: list[str], stdin: list[str] | None) -> int:
    for path in (a for a in args if not a.startswith("-")):
        if sh.file(path) is None:
            sh.set_file(path, [])
    return 0

UTILITIES: dict[str, Utility] = {
    **TEXT_UTILITIES, "true": lambda sh, a, i: 0, ":": lambda sh, a, i: 0,
    "false": lambda sh, a, i: 1, "test": _test, "[": _bracket, "[[": _bracket,
    "touch": _touch, "rm": _rm, "rmdir": _rm, "mkdir": _mkdir,
    "cp": lambda sh, a, i: _copy(sh, a, i, move=False),
    "mv": lambda sh, a, i: _copy(sh, a, i, move=True), "ln": lambda sh, a, i: 0,
    "date": _date, "hostname": _hostname, "whoami": _constant("root"),
    "id": _constant("uid=0(root) gid=0(root) groups=0(root)"), "uname": _constant("Linux"),
    "pwd": _constant("/"), "env": _env, "printenv": _env, "basename": _basename,
    "dirname": _dirname,
}
