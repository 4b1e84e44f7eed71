"""Table responses: what `kubectl get` receives when it asks for `as=Table;g=meta.k8s.io;v=v1`.

`to_table` turns objects of one resource into a `meta.k8s.io/v1` Table, choosing the columns
the way kube-apiserver 1.32 does: a built-in printer for the kinds upstream prints
(table_pod, table_core, table_apps, table_groups); for a custom resource the CRD's
additionalPrinterColumns after Name (or Name and Age when the CRD declares none), evaluated
with the JSONPath subset in table_jsonpath; and otherwise the default convertor (Name,
Created At as an RFC 3339 time), which is what Role, ClusterRole and CRDs get. The server
prints wide, so priority-1 cells are always present and kubectl hides them without `-o wide`.
Each row embeds the object as `includeObject` asks: PartialObjectMetadata (the default), the
whole object, or nothing. On a watch only the first event carries columnDefinitions
(`columns=False` afterwards), as upstream's watch encoder does; `watch_table_event` wraps one
event that way and passes ERROR and BOOKMARK events through untouched.
"""

from __future__ import annotations

from kubemu.cluster.api.duration import format_time, parse_time
from kubemu.cluster.api.errors import BadRequest, FieldError
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.api.table_apps import APPS_PRINTERS
from kubemu.cluster.api.table_common import NAME, Printer, col, meta
from kubemu.cluster.api.table_core import CORE_PRINTERS
from kubemu.cluster.api.table_groups import GROUP_PRINTERS
from kubemu.cluster.api.table_jsonpath import cell_value, compile_path, find_first
from kubemu.cluster.api.table_pod import POD

__all__ = ["to_table", "watch_table_event", "printer_for", "INCLUDE_OBJECT_VALUES",
           "TABLE_API_VERSION"]

TABLE_API_VERSION = "meta.k8s.io/v1"
INCLUDE_OBJECT_VALUES = ("Metadata", "None", "Object")

PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Pod"): POD, **CORE_PRINTERS, **APPS_PRINTERS, **GROUP_PRINTERS}


def to_table(resource: Resource, objects: list[dict], *, now: float,
             include_object: str = "Metadata", resource_version: str = "",
             continue_token: str = "", remaining: int | None = None,
             columns: bool = True) -> dict:
    """A Table of `objects` (all of `resource`), ages relative to `now` (unix seconds)."""
    include_object = include_object or "Metadata"  # upstream reads "" as the default
    if include_object not in INCLUDE_OBJECT_VALUES:
        error = FieldError("NotSupported", "includeObject", value=include_object,
                           supported=INCLUDE_OBJECT_VALUES)
        raise BadRequest(str(error))
    printer = printer_for(resource)
    rows = []
    for obj in objects:
        row: dict = {"cells": printer.cells(obj, now)}
        if printer.conditions is not None and (conditions := printer.conditions(obj)):
            row["conditions"] = conditions
        if include_object == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": TABLE_API_VERSION,
                             "metadata": meta(obj)}
        elif include_object == "Object":
            row["object"] = obj if "kind" in obj else {
                "kind": resource.kind, "apiVersion": resource.api_version, **obj}
        rows.append(row)
    metadata: dict = {}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if continue_token:
        metadata["continue"] = continue_token
    if remaining is not None:
        metadata["remainingItemCount"] = remaining
    return {"kind": "Table", "apiVersion": TABLE_API_VERSION, "metadata": metadata,
            "columnDefinitions": [dict(c) for c in printer.columns] if columns else [],
            "rows": rows}


def watch_table_event(event_type: str, resource: Resource, obj: dict, *, now: float,
                      include_object: str = "Metadata", first: bool = False) -> dict:
    """One watch event with its object as a one-row Table (columns only when `first`)."""
    if event_type in ("ERROR", "BOOKMARK"):
        return {"type": event_type, "object": obj}
    table = to_table(resource, [obj], now=now, include_object=include_object,
                     resource_version=meta(obj).get("resourceVersion", ""), columns=first)
    return {"type": event_type, "object": table}


def printer_for(resource: Resource) -> Printer:
    """The printer kube-apiserver would use for this resource."""
    if resource.custom:
        return _custom_printer(resource.printer_columns)
    return PRINTERS.get((resource.group, resource.kind), _DEFAULT)


_CREATION_DOC = ("CreationTimestamp is a timestamp representing the server time when this "
                 "object was created.")


def _default_cells(obj: dict, now: float) -> list:
    created = parse_time(meta(obj).get("creationTimestamp"))
    return [meta(obj).get("name", ""),
            format_time(created) if created is not None else "0001-01-01T00:00:00Z"]


_DEFAULT = Printer((NAME, col("Created At", "date", _CREATION_DOC)), _default_cells)

_CRD_DEFAULT_COLUMNS = ({"name": "Age", "type": "date", "description": _CREATION_DOC,
                         "jsonPath": ".metadata.creationTimestamp"},)


def _custom_printer(printer_columns: tuple[dict, ...]) -> Printer:
    """upstream's CRD table convertor: Name, then each printer column (Age when none)."""
    columns = [NAME]
    paths = []
    for spec in printer_columns or _CRD_DEFAULT_COLUMNS:
        json_path = spec.get("jsonPath", "")
        try:
            paths.append(compile_path(json_path))
        except ValueError:
            break  # upstream stops at the first column it cannot parse
        columns.append(col(
            spec.get("name", ""), spec.get("type", "string"),
            spec.get("description") or
            f"Custom resource definition column (in JSONPath format): {json_path}",
            priority=spec.get("priority") or 0, format_=spec.get("format", "")))
    types = [c["type"] for c in columns[1:]]

    def cells(obj: dict, now: float) -> list:
        row: list = [meta(obj).get("name", "")]
        for path, type_ in zip(paths, types):
            row.append(cell_value(type_, find_first(path, obj), now))
        return row

    return Printer(tuple(columns), cells)
