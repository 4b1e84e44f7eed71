"""The JSONPath subset of CRD additionalPrinterColumns, and how upstream turns a hit into a cell.

kube-apiserver evaluates each column's `jsonPath` with client-go's jsonpath (missing keys
allowed) and keeps the first result. The subset here covers what printer columns use: field
steps (`.spec.replicas`, `.metadata.labels.app`), quoted keys (`['app.kubernetes.io/name']`),
indexes and slices (`[0]`, `[-1]`, `[1:3]`), wildcards (`[*]`, `.*`) and filters comparing a
relative path with a literal (`[?(@.type=="Ready")]`, `[?(@.port>80)]`, `[?(@.ready)]`).
`compile_path` parses once and raises ValueError on anything else. Cell conversion follows
upstream's tableconvertor: no result gives None (an empty cell); "string" columns print the
value as Go's fmt would ("true", "map[a:b]"), "integer"/"number"/"boolean" keep typed values
of the right JSON type only, and "date" renders an RFC 3339 string as a human age.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from kubemu.cluster.api.duration import age, parse_time

__all__ = ["compile_path", "find_first", "is_missing", "cell_value"]

Step = Callable[[Any], Iterator[Any]]
_MISSING = object()


def compile_path(path: str) -> list[Step]:
    """Parse a printer-column JSONPath (with or without `{...}` and leading `$`)."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[Step] = []
    pos = 0
    while pos < len(text):
        if text.startswith("..", pos):
            raise ValueError(f"recursive descent is not supported: {path!r}")
        if text[pos] == ".":
            match = _FIELD.match(text, pos + 1)
            if not match:
                raise ValueError(f"bad field at {pos} in {path!r}")
            name = match.group(0)
            steps.append(_wildcard if name == "*" else _field(name))
            pos = match.end()
        elif text[pos] == "[":
            end = _closing_bracket(text, pos, path)
            steps.append(_bracket(text[pos + 1:end].strip(), path))
            pos = end + 1
        else:
            raise ValueError(f"unexpected {text[pos]!r} at {pos} in {path!r}")
    return steps


def find_first(steps: list[Step], obj: Any) -> Any:
    """The first value the path reaches, or `_MISSING` (tested with `is_missing`)."""
    values: Iterator[Any] = iter([obj])
    for step in steps:
        values = _chain(step, values)
    return next(values, _MISSING)


def is_missing(value: Any) -> bool:
    return value is _MISSING


def cell_value(column_type: str, value: Any, now: float) -> Any:
    """The table cell for one evaluated printer column."""
    if value is _MISSING or value is None:
        return None
    if column_type == "string":
        return _go_print(value)
    if column_type == "integer" and isinstance(value, (int, float)) and not isinstance(value,
                                                                                      bool):
        return int(value)
    if column_type == "number" and isinstance(value, (int, float)) and not isinstance(value,
                                                                                     bool):
        return float(value)
    if column_type == "boolean" and isinstance(value, bool):
        return value
    if column_type == "date" and isinstance(value, str):
        if value in ("", "null"):
            return "<unknown>"
        if parse_time(value) is None:
            return "<invalid>"
        return age(value, now)
    return None


_FIELD = re.compile(r"[^.\[\]\s]+")
_FILTER = re.compile(r"^\?\(\s*@((?:\.[^.\s=!<>]+)*)\s*(?:(==|!=|<=|>=|<|>)\s*(.+?))?\s*\)$")
_SLICE = re.compile(r"^(-?\d*)\s*:\s*(-?\d*)$")


def _chain(step: Step, values: Iterator[Any]) -> Iterator[Any]:
    for value in values:
        yield from step(value)


def _field(name: str) -> Step:
    def step(value: Any) -> Iterator[Any]:
        if isinstance(value, dict) and name in value:
            yield value[name]
    return step


def _wildcard(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        yield from (value[k] for k in sorted(value))
    elif isinstance(value, list):
        yield from value


def _closing_bracket(text: str, start: int, path: str) -> int:
    quote = None
    depth = 0
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unclosed bracket in {path!r}")


def _bracket(inner: str, path: str) -> Step:
    if inner == "*":
        return _wildcard
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return _field(inner[1:-1])
    if re.fullmatch(r"-?\d+", inner):
        index = int(inner)

        def at(value: Any) -> Iterator[Any]:
            if isinstance(value, list) and -len(value) <= index < len(value):
                yield value[index]
        return at
    if (match := _SLICE.match(inner)) is not None:
        lo = int(match.group(1)) if match.group(1) else None
        hi = int(match.group(2)) if match.group(2) else None

        def sliced(value: Any) -> Iterator[Any]:
            if isinstance(value, list):
                yield from value[lo:hi]
        return sliced
    if (match := _FILTER.match(inner)) is not None:
        fields = [f for f in match.group(1).split(".") if f]
        op, literal = match.group(2), match.group(3)
        wanted = _literal(literal, path) if op else None

        def filtered(value: Any) -> Iterator[Any]:
            items = value if isinstance(value, list) else (
                [value[k] for k in sorted(value)] if isinstance(value, dict) else [])
            for item in items:
                got: Any = item
                for f in fields:
                    got = got.get(f, _MISSING) if isinstance(got, dict) else _MISSING
                if _compare(got, op, wanted):
                    yield item
        return filtered
    raise ValueError(f"unsupported expression [{inner}] in {path!r}")


def _literal(text: str, path: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise ValueError(f"bad literal {text!r} in {path!r}") from None


def _compare(got: Any, op: str | None, wanted: Any) -> bool:
    if got is _MISSING:
        return False
    if op is None:  # `[?(@.x)]`: the path exists
        return True
    if op in ("==", "!="):
        same = (type(got) is bool) == (type(wanted) is bool) and got == wanted
        return same if op == "==" else not same
    numbers = (int, float)
    if not (isinstance(got, numbers) and isinstance(wanted, numbers)) or isinstance(
            got, bool) or isinstance(wanted, bool):
        return False
    return {"<": got < wanted, ">": got > wanted, "<=": got <= wanted,
            ">=": got >= wanted}[op]


def _go_print(value: Any) -> str:
    """What Go's fmt.Fprint writes for a decoded JSON value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_print(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_print(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    return str(value)


def _go_float(value: float) -> str:
    """Go's %v for float64: shortest repr, exponent form for large and small magnitudes."""
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        return f"{mantissa}e{sign}{abs(int(exp)):02d}"
    return text
