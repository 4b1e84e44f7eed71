"""Field selectors: `field=value` / `field!=value` terms over the fields upstream makes
selectable per kind (`spec.nodeName` of a Pod, `type` of a Secret, `involvedObject.*` of an
Event, ...). A field the object lacks reads as its Go zero value ("" for strings, "false" for
booleans, "0" for counts), so `spec.nodeName=` selects unscheduled pods. A field the kind does
not make selectable is a `BadRequest` with upstream's wording (`field label not supported`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kubemu.cluster.api.errors import BadRequest

__all__ = ["FieldSelector", "parse_field_selector", "field_value", "supported_fields"]


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
