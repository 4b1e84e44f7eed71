"""Label selectors: which objects a list, a watch or a controller's selector picks by label.

A `LabelSelector` is upstream's labels.Selector: an AND of requirements on an object's labels,
parsed from the query-string syntax (`app=web,tier!=db,env in (a,b),!canary`) or built from a
metav1.LabelSelector dict (`matchLabels`, `matchExpressions`). Negative requirements (`!=`,
`notin`, `!key`) match objects that lack the key, as upstream. Selectors are frozen and
hashable; `str()` is the canonical form (requirements sorted by key, set values sorted) so
equal selectors print alike. Parse errors are `BadRequest`: the user typed the selector.
Field selectors are in `field_selectors`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubemu.cluster.api.errors import BadRequest

__all__ = [
    "Requirement", "LabelSelector", "parse_label_selector", "selector_from_dict",
    "qualified_name_errors", "label_value_errors", "EVERYTHING",
]

# Operator names are upstream's selection.Operator values ("==" is read as "=").
_SET_OPS = ("in", "notin")
_VALUE_OPS = ("=", "!=", "gt", "lt")


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector: `key`, an operator and its values (sorted, distinct)."""

    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        op = self.operator
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        if self.key not in labels:
            return op in ("!=", "notin")
        value = labels[self.key]
        if op in ("=", "in"):
            return value in self.values
        if op in ("!=", "notin"):
            return value not in self.values
        number = _as_int(value)
        if number is None:
            return False
        limit = int(self.values[0])
        return number > limit if op == "gt" else number < limit

    def __str__(self) -> str:
        op = self.operator
        if op == "exists":
            return self.key
        if op == "!":
            return f"!{self.key}"
        if op in _SET_OPS:  # a lone empty value prints as "(,)" so the text parses back
            return f"{self.key} {op} ({','.join(self.values) if self.values != ('',) else ','})"
        symbol = {"gt": ">", "lt": "<"}.get(op, op)
        return f"{self.key}{symbol}{self.values[0]}"


@dataclass(frozen=True)
class LabelSelector:
    """An AND of requirements; no requirement at all matches every object."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the `labelSelector` query syntax; a syntax or name error raises BadRequest."""
    try:
        return _selector(_LabelParser(text).parse())
    except ValueError as err:
        raise BadRequest(f"unable to parse requirement: {err}") from None


def selector_from_dict(sel: dict | None) -> LabelSelector:
    """The selector a metav1.LabelSelector stands for; None or {} matches everything.
    A bad operator, key, value or value count raises ValueError (validation reports it)."""
    if not sel:
        return EVERYTHING
    if not isinstance(sel, dict):
        raise ValueError("a label selector must be an object")
    requirements = [_requirement(k, "=", [v]) for k, v in (sel.get("matchLabels") or {}).items()]
    for expr in sel.get("matchExpressions") or []:
        op = _EXPRESSION_OPS.get(expr.get("operator", ""))
        if op is None:
            raise ValueError(f'"{expr.get("operator")}" is not a valid label selector operator')
        values = list(expr.get("values") or [])
        if op in ("exists", "!") and values:
            raise ValueError("values set must be empty for exists and does not exist")
        requirements.append(_requirement(expr.get("key", ""), op, values))
    return _selector(requirements)


def qualified_name_errors(name: str) -> list[str]:
    """Why `name` is not a qualified name (`[prefix/]name`), as upstream words it."""
    parts = name.split("/")
    if len(parts) > 2:
        return [f"a qualified name {_QN_FORMAT}"]
    errors: list[str] = []
    local = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        elif len(prefix) > 253:
            errors.append("prefix part must be no more than 253 characters")
        elif not _DNS1123_SUBDOMAIN.fullmatch(prefix):
            errors.append("prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                          "alphanumeric characters, '-' or '.', and must start and end with an "
                          "alphanumeric character")
    if not local:
        errors.append("name part must be non-empty")
    elif len(local) > 63:
        errors.append("name part must be no more than 63 characters")
    elif not _QUALIFIED_NAME.fullmatch(local):
        errors.append(f"name part {_QN_FORMAT}")
    return errors


def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a label value (empty is valid), as upstream words it."""
    if len(value) > 63:
        return ["must be no more than 63 characters"]
    if value and not _QUALIFIED_NAME.fullmatch(value):
        return ["a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character"]
    return []


# ---- label selector internals ------------------------------------------------------------

_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QN_FORMAT = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
              "with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc')")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_EXPRESSION_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
_TOKEN = re.compile(r"==|!=|[=!(),<>]|[^\s=!(),<>]+")
_OPERATORS = frozenset({"==", "!=", "=", "!", "(", ")", ",", "<", ">", "in", "notin"})


def _selector(requirements: list[Requirement]) -> LabelSelector:
    return LabelSelector(tuple(sorted(requirements, key=lambda r: (r.key, r.operator, r.values))))


def _requirement(key: str, op: str, values: list[str]) -> Requirement:
    """Validate and build one requirement (ValueError names what is wrong)."""
    if not isinstance(key, str):
        raise ValueError(f"key: Invalid value: {key!r}: must be a string")
    errors = qualified_name_errors(key)
    if errors:
        raise ValueError(f'key: Invalid value: "{key}": {"; ".join(errors)}')
    if op in _SET_OPS and not values:
        raise ValueError("for 'in', 'notin' operators, values set can't be empty")
    if op in _VALUE_OPS and len(values) != 1:
        raise ValueError("exact-match compatibility requires one single value")
    if op in ("gt", "lt") and _as_int(values[0]) is None:
        raise ValueError(f'for \'Gt\', \'Lt\' operators, the value must be an integer: '
                         f'"{values[0]}"')
    for value in values:
        if not isinstance(value, str):
            raise ValueError(f"values: Invalid value: {value!r}: must be a string")
        errors = label_value_errors(value)
        if errors and op not in ("gt", "lt"):
            raise ValueError(f'values: Invalid value: "{value}": {"; ".join(errors)}')
    return Requirement(key=key, operator=op, values=tuple(sorted(set(values))))


class _LabelParser:
    """Recursive descent over upstream's grammar: requirement (',' requirement)*.
    Tokens are plain strings; "" is the end of the text."""

    def __init__(self, text: str) -> None:
        self.tokens = _TOKEN.findall(text) + [""]
        self.pos = 0

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while self._peek():
            requirements.append(self._requirement())
            token = self._next()
            if token not in (",", ""):
                raise ValueError(f"found '{token}', expected: ',' or 'end of string'")
            if token == "," and not (_is_id(self._peek()) or self._peek() == "!"):
                raise ValueError(f"found '{self._peek()}', expected: identifier after ','")
        return requirements

    def _requirement(self) -> Requirement:
        negated = self._peek() == "!"
        if negated:
            self._next()
        key = self._expect_id()
        if negated or self._peek() in (",", ""):
            return _requirement(key, "!" if negated else "exists", [])
        op = self._next()
        op = {"==": "=", ">": "gt", "<": "lt"}.get(op, op)
        if op not in _SET_OPS + _VALUE_OPS:
            raise ValueError(f"found '{op}', expected: =, !=, ==, in, notin, >, <")
        if op not in _SET_OPS:
            return _requirement(key, op, ["" if self._peek() in (",", "") else self._expect_id()])
        token = self._next()
        if token != "(":
            raise ValueError(f"found '{token}', expected: '('")
        values: list[str] = []
        if self._peek() == ")":  # "()": an empty set, which _requirement rejects
            self._next()
            return _requirement(key, op, values)
        while True:  # "(,", ",," and ",)" hold an empty value, as upstream
            values.append(self._next() if _is_id(self._peek()) else "")
            token = self._next()
            if token == ")":
                return _requirement(key, op, values)
            if token != ",":
                raise ValueError(f"found '{token}', expected: ',' or ')'")

    def _expect_id(self) -> str:
        token = self._next()
        if not _is_id(token):
            raise ValueError(f"found '{token}', expected: identifier")
        return token

    def _peek(self) -> str:
        return self.tokens[self.pos]

    def _next(self) -> str:
        token = self.tokens[self.pos]
        self.pos += bool(token)
        return token


def _is_id(token: str) -> bool:
    return bool(token) and token not in _OPERATORS


def _as_int(text: str) -> int | None:
    """Go's strconv.ParseInt(text, 10, 64): optional sign and decimal digits only."""
    return int(text) if _INTEGER.fullmatch(text) else None
