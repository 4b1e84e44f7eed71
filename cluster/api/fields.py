"""Field validation of request bodies: fieldValidation Strict, Warn or Ignore, as upstream.

A field the kind's schema does not declare is an error under Strict (400, `strict decoding
error: unknown field "spec.foo"`), a warning under Warn (the default, as kube-apiserver), and
silently dropped under both Warn and Ignore -- upstream decodes into typed structs, so an
unknown field is never stored. Custom resources are checked against their CRD's structural
schema, with `x-kubernetes-preserve-unknown-fields` honoured.
"""

from __future__ import annotations

import re

from kubemu.cluster.api.errors import BadRequest
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.api.schemas import unknown_fields

__all__ = ["check_fields", "FIELD_VALIDATION"]

FIELD_VALIDATION = ("Strict", "Warn", "Ignore")
_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def check_fields(res: Resource, obj: dict, mode: str, warnings: list[str]) -> None:
    """Apply fieldValidation `mode` to `obj` (pruning unknown fields in place)."""
    if mode not in FIELD_VALIDATION:
        raise BadRequest(f'fieldValidation: Unsupported value: "{mode}": supported values: '
                         '"Ignore", "Strict", "Warn"')
    if res.custom:
        if res.schema is None:
            return
        unknown = unknown_fields(res.api_version, res.kind, obj, schema=res.schema)
    else:
        unknown = unknown_fields(res.api_version, res.kind, obj)
    if not unknown:
        return
    if mode == "Strict":
        raise BadRequest("strict decoding error: " +
                         ", ".join(f'unknown field "{path}"' for path in unknown))
    if mode == "Warn":
        warnings.extend(f'unknown field "{path}"' for path in unknown)
    for path in sorted(unknown, key=len, reverse=True):
        _remove(obj, path)


def _remove(obj: dict, path: str) -> None:
    steps = [int(index) if index else name for name, index in _SEGMENT.findall(path)]
    node = obj
    for step in steps[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(node, dict):
        node.pop(steps[-1], None)
