"""Durations as emulated containers read them: Go's `time.ParseDuration` and `sleep`'s operands.

kubemu's pod annotations (`kubemu.io/exit-after: "1m30s"`) take Go durations, like every
duration a Kubernetes user writes in a flag or annotation; errors carry Go's messages so the
Warning Event a kubelet emits for a bad value reads like upstream's. `sleep` in a container
script follows coreutils/busybox: a decimal number with an optional s/m/h/d suffix, several
operands add up, and "infinity" never ends. Results are seconds as floats (math.inf for
"infinity"); nothing here reads a clock.
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_go_duration", "parse_sleep", "format_go_duration"]

_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
             "m": 60.0, "h": 3600.0}
_GO_TERM = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")
_SLEEP_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SLEEP_OPERAND = re.compile(r"^\+?([0-9]*\.?[0-9]*(?:[eE][-+]?[0-9]+)?)([smhd]?)$")


def parse_go_duration(text: str) -> float:
    """Seconds of a Go duration ("300ms", "-1.5h", "2h45m"); ValueError with Go's message."""
    quoted = f'"{text}"'
    rest = text
    sign = 1.0
    if rest[:1] in ("-", "+"):
        sign = -1.0 if rest[0] == "-" else 1.0
        rest = rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0.0
    while rest:
        m = _GO_TERM.match(rest)
        number, unit = (m.group(1), m.group(2)) if m else ("", "")
        if not number or number == ".":
            raise ValueError(f"time: invalid duration {quoted}")
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        unit = re.match(r"[^0-9.]+", unit).group(0)  # type: ignore[union-attr]
        if unit not in _GO_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
        total += float(number) * _GO_UNITS[unit]
        rest = rest[len(number) + len(unit):]
    return sign * total


def format_go_duration(seconds: float) -> str:
    """Go's `Duration.String` for whole and fractional seconds: 10s, 1m30s, 2h0m0s, 500ms."""
    if seconds == 0:
        return "0s"
    if abs(seconds) < 1:
        return f"{seconds * 1000:g}ms"
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    hours, rem = divmod(s, 3600)
    minutes, secs = divmod(rem, 60)
    secs_text = f"{secs:.9f}".rstrip("0").rstrip(".")
    if hours:
        return f"{sign}{int(hours)}h{int(minutes)}m{secs_text}s"
    if minutes:
        return f"{sign}{int(minutes)}m{secs_text}s"
    return f"{sign}{secs_text}s"


def parse_sleep(operands: list[str]) -> float:
    """Seconds `sleep OPERAND...` waits; ValueError("invalid number 'x'") like busybox."""
    if not operands:
        raise ValueError("missing operand")
    total = 0.0
    for op in operands:
        if op.lower() in ("inf", "infinity"):
            return math.inf
        m = _SLEEP_OPERAND.match(op)
        if m is None or m.group(1) in ("", "."):
            raise ValueError(f"invalid number '{op}'")
        total += float(m.group(1)) * _SLEEP_UNITS[m.group(2)]
    return total
