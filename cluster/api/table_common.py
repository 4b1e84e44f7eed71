"""Shared pieces of the Table printers: column definitions, the `Printer` record, cell helpers.

A `Printer` is upstream's TableHandler for one kind: its column definitions (wide columns carry
priority 1) and a function from (object, now) to the row's cells. kube-apiserver always prints
with `Wide: true` and lets kubectl hide priority-1 columns, so every printer returns the wide
cells too. Cell helpers reproduce upstream's formatting exactly: `labels.FormatLabels`
("a=b,c=d" or "<none>"), `metav1.FormatLabelSelector` (requirements sorted by key, set-based
operators spelled `in (..)`, `notin (..)`, `k`, `!k`), and the comma-joined container names and
images of the wide workload columns. Objects are read defensively: a missing field prints as
its Go zero value would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubemu.cluster.api.duration import age

__all__ = ["Printer", "col", "NAME", "AGE", "name_cell", "age_cell", "format_labels",
           "format_selector", "selector_string", "container_cells", "int_or_string",
           "spec", "status", "meta", "has_condition", "template_spec", "Cells"]

Cells = Callable[[dict, float], list]


@dataclass(frozen=True)
class Printer:
    columns: tuple[dict, ...]
    cells: Cells
    conditions: Callable[[dict], list[dict] | None] | None = None  # TableRow.conditions


def col(name: str, type_: str = "string", description: str = "", *, priority: int = 0,
        format_: str = "") -> dict:
    """One `TableColumnDefinition` (every field present, as upstream serialises it)."""
    return {"name": name, "type": type_, "format": format_, "description": description,
            "priority": priority}


NAME = col("Name", "string", "Name must be unique within a namespace. Cannot be updated.",
           format_="name")
AGE = col("Age", "string", "CreationTimestamp is a timestamp representing the server time when "
          "this object was created.")


def meta(obj: dict) -> dict:
    return obj.get("metadata") or {}


def spec(obj: dict) -> dict:
    return obj.get("spec") or {}


def status(obj: dict) -> dict:
    return obj.get("status") or {}


def name_cell(obj: dict) -> str:
    return meta(obj).get("name", "")


def age_cell(obj: dict, now: float) -> str:
    return age(meta(obj).get("creationTimestamp"), now)


def has_condition(conditions: list[dict] | None, type_: str) -> bool:
    """Whether the first condition of `type_` is True (upstream's hasJobCondition)."""
    for c in conditions or ():
        if c.get("type") == type_:
            return c.get("status") == "True"
    return False


def format_labels(labels: dict[str, str] | None) -> str:
    """`labels.FormatLabels`: sorted "k=v" pairs joined by commas, "<none>" when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def selector_string(selector: dict | None) -> str:
    """`LabelSelectorAsSelector(sel).String()`: "" for an empty or missing selector."""
    if not selector:
        return ""
    reqs: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        reqs.append((key, f"{key}={value}"))
    for expr in selector.get("matchExpressions") or ():
        key, op = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(sorted(expr.get("values") or ()))
        if op == "In":
            reqs.append((key, f"{key} in ({values})"))
        elif op == "NotIn":
            reqs.append((key, f"{key} notin ({values})"))
        elif op == "Exists":
            reqs.append((key, key))
        elif op == "DoesNotExist":
            reqs.append((key, f"!{key}"))
        else:
            return "<error>"
    reqs.sort(key=lambda r: r[0])
    return ",".join(text for _, text in reqs)


def format_selector(selector: dict | None) -> str:
    """`metav1.FormatLabelSelector`: the selector string, "<none>" when it selects all/none."""
    return selector_string(selector) or "<none>"


def container_cells(pod_spec: dict | None) -> tuple[str, str]:
    """The wide Containers and Images cells of a workload's pod template."""
    containers = (pod_spec or {}).get("containers") or ()
    return (",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers))


def int_or_string(value: Any) -> str:
    """`intstr.IntOrString.String()`."""
    return str(value)


def template_spec(obj: dict) -> dict:
    """`spec.template.spec` of a workload."""
    return (spec(obj).get("template") or {}).get("spec") or {}
