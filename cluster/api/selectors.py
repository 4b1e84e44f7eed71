"""Label and field selectors: which objects a list, a watch or a controller's selector picks.

A `LabelSelector` is upstream's labels.Selector: an AND of requirements on an object's labels,
parsed from the query-string syntax (`app=web,tier!=db,env in (a,b),!canary`) or built from a
metav1.LabelSelector dict (`matchLabels`, `matchExpressions`). Negative requirements (`!=`,
`notin`, `!key`) match objects that lack the key, as upstream. A `FieldSelector` is an AND of
`field=value` / `field!=value` terms over the few fields upstream makes selectable per kind
(`spec.nodeName` of a Pod, `type` of a Secret, ...); a field the object lacks reads as its Go
zero value ("" for strings, "false" for booleans, "0" for counts), so `spec.nodeName=` selects
unscheduled pods. Both selectors are frozen and hashable; `str()` is the canonical form
(requirements sorted by key, set values sorted) so equal selectors print alike. Parse errors
are `BadRequest`: the user typed the selector.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kubemu.cluster.api.errors import BadRequest

__all__ = [
    "Requirement", "LabelSelector", "parse_label_selector", "selector_from_dict",
    "FieldSelector", "parse_field_selector", "field_value", "supported_fields",
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


@dataclass(frozen=True)
class FieldSelector:
    """An AND of `(field, operator, value)` terms, operator "=" or "!=", over one kind."""

    kind: str
    requirements: tuple[tuple[str, str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: dict) -> bool:
        for field, op, value in self.requirements:
            if (field_value(obj, self.kind, field) == value) != (op == "="):
                return False
        return True

    def requires_exact_match(self, field: str) -> str | None:
        """The value `field` must equal, if a term says so (lets a caller use an index)."""
        for name, op, value in self.requirements:
            if name == field and op == "=":
                return value
        return None

    def __str__(self) -> str:
        return ",".join(f"{f}{op}{_escape(v)}" for f, op, v in self.requirements)


def parse_field_selector(text: str, kind: str, *, extra: Iterable[str] = ()) -> FieldSelector:
    """Parse the `fieldSelector` query syntax for objects of `kind`. `extra` adds dotted
    fields (a CRD's selectableFields). An unknown field or bad syntax raises BadRequest."""
    allowed = supported_fields(kind) | frozenset(extra)
    terms: list[tuple[str, str, str]] = []
    for term in _split_unescaped(text, ","):
        term = term.strip()
        if not term:
            continue
        field, op, raw = _split_term(term)
        field = field.strip()
        if field not in allowed:
            raise BadRequest(f"field label not supported: {field}")
        terms.append((field, op, _unescape(raw, term)))
    return FieldSelector(kind=kind, requirements=tuple(sorted(set(terms))))


def supported_fields(kind: str) -> frozenset[str]:
    """The fields a field selector may name for `kind`."""
    return _COMMON_FIELDS | frozenset(_KIND_FIELDS.get(kind, {}))


def field_value(obj: dict, kind: str, field: str) -> str:
    """The string a field selector compares for `field` of `obj`: a per-kind extractor for
    upstream's selectable fields, else the dotted path read generically ("" when missing)."""
    getter = _KIND_FIELDS.get(kind, {}).get(field)
    if getter is not None:
        return getter(obj)
    return _render(_dig(obj, field.split(".")))


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


# ---- field selector internals ------------------------------------------------------------

_COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


def _dig(obj: Any, path: Iterable[str]) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _render(value: Any) -> str:
    """A field as upstream's fields.Set holds it: Go's zero value when missing."""
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _path(path: str, zero: Any = None) -> Callable[[dict], str]:
    """Reads a dotted path; `zero` stands for a missing value (False, 0 or None for "")."""
    parts = path.split(".")
    return lambda obj: _render(v if (v := _dig(obj, parts)) is not None else zero)


def _pod_ips(obj: dict) -> list[str]:
    ips = [entry.get("ip", "") for entry in _dig(obj, ("status", "podIPs")) or []]
    return ips or ([_dig(obj, ("status", "podIP"))] if _dig(obj, ("status", "podIP")) else [])


def _involved(field: str) -> Callable[[dict], str]:
    """Events come in core/v1 shape (involvedObject) or events.k8s.io/v1 shape (regarding)."""
    return lambda obj: _render((obj.get("involvedObject") or obj.get("regarding") or {})
                               .get(field))


_KIND_FIELDS: dict[str, dict[str, Callable[[dict], str]]] = {
    "Pod": {
        "spec.nodeName": _path("spec.nodeName"),
        "spec.restartPolicy": _path("spec.restartPolicy"),
        "spec.schedulerName": _path("spec.schedulerName"),
        "spec.serviceAccountName": _path("spec.serviceAccountName"),
        "spec.hostNetwork": _path("spec.hostNetwork", False),
        "status.phase": _path("status.phase"),
        "status.podIP": lambda obj: (_pod_ips(obj) or [""])[0],
        "status.podIPs": lambda obj: ",".join(_pod_ips(obj)),
        "status.nominatedNodeName": _path("status.nominatedNodeName"),
    },
    "Node": {"spec.unschedulable": _path("spec.unschedulable", False)},
    "Secret": {"type": _path("type")},
    "Namespace": {"status.phase": _path("status.phase")},
    "Event": {
        **{f"involvedObject.{f}": _involved(f) for f in (
            "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")},
        "reason": _path("reason"),
        "reportingComponent": lambda obj: _render(
            obj.get("reportingComponent") or obj.get("reportingController")),
        "source": lambda obj: _render(
            (obj.get("source") or obj.get("deprecatedSource") or {}).get("component")),
        "type": _path("type"),
    },
    "ReplicaSet": {"status.replicas": _path("status.replicas", 0)},
    "Job": {"status.successful": _path("status.succeeded", 0)},  # upstream's name for succeeded
}
for _fields in _KIND_FIELDS.values():
    _fields.update({f: _path(f) for f in _COMMON_FIELDS})


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on `sep` where it is not escaped by a backslash (escapes are kept)."""
    parts, start, i = [], 0, 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == sep:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _split_term(term: str) -> tuple[str, str, str]:
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], "=" if op == "==" else op, term[i + len(op):]
    raise BadRequest(f"invalid selector: '{term}'; can't understand '{term}'")


def _unescape(raw: str, term: str) -> str:
    out, i = [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\":
            if i + 1 >= len(raw) or raw[i + 1] not in "\\,=":
                raise BadRequest(f"invalid field selector: invalid escape sequence in '{term}'")
            out.append(raw[i + 1])
            i += 2
            continue
        if ch in ",=":
            raise BadRequest(f"invalid field selector: unescaped '{ch}' in value of '{term}'")
        out.append(ch)
        i += 1
    return "".join(out)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
