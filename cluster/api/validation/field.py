"""Field paths and FieldError constructors: upstream's `field.Path` and `field.Invalid` & co.

Paths are plain strings written as upstream prints them (`spec.containers[0].image`,
`data[key.txt]`, `metadata.labels`), built with `child`, `index` and `key` so every validator
spells them the same way. The constructors mirror upstream's `field.Required`, `field.Invalid`,
`field.NotSupported`, ... and return `FieldError`s from `cluster/api/errors.py`; validators
return lists of them and never raise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubemu.cluster.api.errors import FieldError

__all__ = ["child", "index", "key", "required", "invalid", "not_supported", "duplicate",
           "forbidden", "too_long", "too_many", "not_found", "immutable",
           "FIELD_IMMUTABLE", "IS_NEGATIVE"]

FIELD_IMMUTABLE = "field is immutable"
IS_NEGATIVE = "must be greater than or equal to 0"


def child(path: str, *names: str) -> str:
    """`child("spec", "template", "spec")` -> `spec.template.spec`."""
    parts = [path] if path else []
    parts.extend(names)
    return ".".join(parts)


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"


def key(path: str, k: str) -> str:
    return f"{path}[{k}]"


def required(path: str, detail: str = "") -> FieldError:
    return FieldError("Required", path, detail)


def invalid(path: str, value: Any, detail: str = "") -> FieldError:
    return FieldError("Invalid", path, detail, value)


def not_supported(path: str, value: Any, supported: Iterable[str]) -> FieldError:
    return FieldError("NotSupported", path, "", value, tuple(supported))


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError("Duplicate", path, "", value)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError("Forbidden", path, detail)


def too_long(path: str, max_bytes: int) -> FieldError:
    unit = "byte" if max_bytes == 1 else "bytes"
    return FieldError("TooLong", path, f"may not be more than {max_bytes} {unit}")


def too_many(path: str, actual: int, limit: int) -> FieldError:
    return FieldError("TooMany", path, f"{actual}: must have at most {limit} items")


def not_found(path: str, value: Any) -> FieldError:
    return FieldError("NotFound", path, "", value)


def immutable(new: Any, old: Any, path: str) -> list[FieldError]:
    """Upstream's ValidateImmutableField: `field is immutable` when the value changed."""
    return [] if new == old else [invalid(path, new, FIELD_IMMUTABLE)]
