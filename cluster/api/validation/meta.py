"""ObjectMeta rules shared by every kind: names, namespace, labels, annotations, owners,
finalizers; plus label selectors and the small numeric checks every group reuses.

`validate_object_meta` is upstream's ValidateObjectMeta (create) and
`validate_object_meta_update` its update twin. The handler fills `metadata.name` from
`generateName` and manages uid, resourceVersion and creationTimestamp before validation, so
those system fields are not checked here. Paths and messages follow apimachinery: label and
annotation errors point at `metadata.labels` / `metadata.annotations` (no key), owner reference
errors at `metadata.ownerReferences`.
"""

from __future__ import annotations

from typing import Any

from kubemu.cluster.api.errors import FieldError
from kubemu.cluster.api.validation import names as n
from kubemu.cluster.api.validation.field import (
    IS_NEGATIVE, child, forbidden, immutable, index, invalid, required, too_long)

__all__ = ["validate_object_meta", "validate_object_meta_update", "validate_labels",
           "validate_annotations", "validate_label_selector", "validate_qualified_name",
           "nonnegative", "positive", "messages_to_errors", "TOTAL_ANNOTATION_SIZE_LIMIT"]

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
_ORPHAN, _FOREGROUND = "orphan", "foregroundDeletion"


def validate_object_meta(obj: dict, *, namespaced: bool, name_fn: n.NameFn,
                         path: str = "metadata") -> list[FieldError]:
    """Create-time metadata checks (upstream ValidateObjectMeta)."""
    meta = obj.get("metadata") or {}
    errs: list[FieldError] = []
    generate = meta.get("generateName") or ""
    if generate:
        errs += messages_to_errors(child(path, "generateName"), generate, name_fn(generate, True))
    name = meta.get("name") or ""
    if not name:
        errs.append(required(child(path, "name"), "name or generateName is required"))
    else:
        errs += messages_to_errors(child(path, "name"), name, name_fn(name, False))
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            errs.append(required(child(path, "namespace")))
        else:
            errs += messages_to_errors(child(path, "namespace"), namespace,
                                       n.name_is_dns_label(namespace, False))
    elif namespace:
        errs.append(forbidden(child(path, "namespace"), "not allowed on this type"))
    errs += nonnegative(meta.get("generation") or 0, child(path, "generation"))
    errs += validate_labels(meta.get("labels"), child(path, "labels"))
    errs += validate_annotations(meta.get("annotations"), child(path, "annotations"))
    errs += _owner_references(meta.get("ownerReferences") or [], child(path, "ownerReferences"))
    errs += _finalizers(meta.get("finalizers") or [], child(path, "finalizers"))
    return errs


def validate_object_meta_update(new: dict, old: dict,
                                path: str = "metadata") -> list[FieldError]:
    """Update-time metadata checks (upstream ValidateObjectMetaUpdate, minus system fields)."""
    meta, old_meta = new.get("metadata") or {}, old.get("metadata") or {}
    errs: list[FieldError] = []
    if old_meta.get("deletionTimestamp"):
        added = sorted(set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or []))
        if added:
            rendered = "[]string{" + ", ".join(f'"{f}"' for f in added) + "}"
            errs.append(forbidden(child(path, "finalizers"),
                                  "no new finalizers can be added if the object is being "
                                  f"deleted, found new finalizers {rendered}"))
    if (meta.get("generation") or 0) < (old_meta.get("generation") or 0):
        errs.append(invalid(child(path, "generation"), meta.get("generation") or 0,
                            "must not be decremented"))
    errs += immutable(meta.get("name") or "", old_meta.get("name") or "", child(path, "name"))
    errs += immutable(meta.get("namespace") or "", old_meta.get("namespace") or "",
                      child(path, "namespace"))
    errs += validate_labels(meta.get("labels"), child(path, "labels"))
    errs += validate_annotations(meta.get("annotations"), child(path, "annotations"))
    errs += _owner_references(meta.get("ownerReferences") or [], child(path, "ownerReferences"))
    errs += _finalizers(meta.get("finalizers") or [], child(path, "finalizers"))
    return errs


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for k, v in (labels or {}).items():
        errs += messages_to_errors(path, k, n.is_qualified_name(k))
        value = v if isinstance(v, str) else str(v)
        errs += messages_to_errors(path, value, n.is_valid_label_value(value))
    return errs


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    total = 0
    for k, v in (annotations or {}).items():
        errs += messages_to_errors(path, k, n.is_qualified_name(k.lower()))
        total += len(k.encode()) + len(str(v).encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def validate_label_selector(selector: Any, path: str) -> list[FieldError]:
    """matchLabels and matchExpressions syntax (upstream ValidateLabelSelector, strict)."""
    if not selector:
        return []
    errs = validate_labels(selector.get("matchLabels"), child(path, "matchLabels"))
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        p = index(child(path, "matchExpressions"), i)
        op, values = expr.get("operator", ""), expr.get("values") or []
        errs += validate_operator_values(op, values, p)
        errs += validate_qualified_name(expr.get("key", ""), child(p, "key"))
        for j, value in enumerate(values):
            errs += messages_to_errors(index(child(p, "values"), j), value,
                                       n.is_valid_label_value(str(value)))
    return errs


def validate_operator_values(op: str, values: list, path: str, *,
                             numeric: bool = False) -> list[FieldError]:
    """A selector requirement's operator and values: In/NotIn need values, Exists/
    DoesNotExist take none, and (node selectors, `numeric`) Gt/Lt take exactly one."""
    if op in ("In", "NotIn"):
        if not values:
            return [required(child(path, "values"),
                             "must be specified when `operator` is 'In' or 'NotIn'")]
    elif op in ("Exists", "DoesNotExist"):
        if values:
            return [forbidden(child(path, "values"), "may not be specified when "
                              "`operator` is 'Exists' or 'DoesNotExist'")]
    elif numeric and op in ("Gt", "Lt"):
        if len(values) != 1:
            return [required(child(path, "values"), "must be specified single value when "
                             "`operator` is 'Lt' or 'Gt'")]
    else:
        return [invalid(child(path, "operator"), op, "not a valid selector operator")]
    return []


def validate_qualified_name(value: str, path: str) -> list[FieldError]:
    return messages_to_errors(path, value, n.is_qualified_name(value))


def nonnegative(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return [invalid(path, value, IS_NEGATIVE)]
    return []


def positive(value: Any, path: str, detail: str = "must be greater than 0") -> list[FieldError]:
    if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
        return [invalid(path, value, detail)]
    return []


def messages_to_errors(path: str, value: Any, messages: list[str]) -> list[FieldError]:
    return [invalid(path, value, m) for m in messages]


def _owner_references(refs: list[dict], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    first_controller = ""
    for ref in refs:
        api_version = ref.get("apiVersion") or ""
        if not api_version.rpartition("/")[2]:
            errs.append(invalid(child(path, "apiVersion"), api_version,
                                "version must not be empty"))
        if not ref.get("kind"):
            errs.append(invalid(child(path, "kind"), ref.get("kind") or "",
                                "kind must not be empty"))
        if not ref.get("name"):
            errs.append(invalid(child(path, "name"), ref.get("name") or "",
                                "name must not be empty"))
        if not ref.get("uid"):
            errs.append(invalid(child(path, "uid"), ref.get("uid") or "",
                                "uid must not be empty"))
        if ref.get("controller") is True:
            current = f"{ref.get('kind', '')}/{ref.get('name', '')}"
            if first_controller:
                errs.append(invalid(path, refs, "Only one reference can have Controller set to "
                                    f'true. Found "true" in references for {first_controller} '
                                    f"and {current}"))
            else:
                first_controller = current
    return errs


def _finalizers(finalizers: list[str], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for f in finalizers:
        errs += validate_qualified_name(f, path)
    if _ORPHAN in finalizers and _FOREGROUND in finalizers:
        errs.append(invalid(path, finalizers, f"finalizer {_ORPHAN} and {_FOREGROUND} cannot "
                            "be both set"))
    return errs

