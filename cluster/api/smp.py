"""Strategic merge patch: the patch type kubectl sends for built-in kinds.

Semantics follow apimachinery's strategicpatch (MergeParallelList, IgnoreUnmatchedNulls), the
algorithm kube-apiserver runs. Maps merge recursively and `null` deletes a key. A list merges
only when the schema says so: `PatchMeta(path)` returns the field's patch strategy and merge
key, where `path` names the field from the object root (list items add no element, so a
container's ports are ("spec", "template", "spec", "containers", "ports")). A merging list of
maps merges items by merge key; a merging list of scalars is a set union; every other list is
replaced. Directives: `$patch: replace|delete` on a map or as a list item, `$retainKeys`,
`$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>`. They steer the merge and are
never stored: a value taken whole from the patch is merged into an empty value, which strips
directives and nulls alike. Order of a merged list, as upstream: items named by the patch
follow the patch's order (or `$setElementOrder`'s), items only the server has keep theirs, and
the two are interleaved by their positions in the live list; an item new to the list comes
before a server-only item it cannot be compared with. Pure unless the caller hands the
document over (`owned`): the inputs are never mutated.
`kubemu.cluster.api.patch` re-exports `strategic_merge_patch` beside the other patch types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubemu.cluster.api.errors import BadRequest

__all__ = ["PatchMeta", "strategic_merge_patch", "smp_meta_none"]

PatchMeta = Callable[[tuple[str, ...]], tuple[str | None, str | None]]
"""(field path from the object root) -> (patch strategy, merge key); strategy is "merge",
"replace", "retainKeys", "merge,retainKeys" or None."""


def strategic_merge_patch(doc: dict, patch: dict, meta: PatchMeta, *,
                          owned: bool = False) -> dict:
    """Apply a strategic merge patch to a copy of `doc` (to `doc` itself when the caller
    hands it over, `owned`: copying a pod was most of a status patch's cost); BadRequest if
    it is malformed."""
    if not isinstance(patch, dict):
        raise BadRequest("strategic merge patch must be a JSON object")
    base = {} if not isinstance(doc, dict) else doc if owned else _copy(doc)
    return _Merger(meta).map(base, patch, ())


def smp_meta_none(path: tuple[str, ...]) -> tuple[str | None, str | None]:
    """Patch metadata for a kind without a schema: no list merges, every list is replaced."""
    return None, None


# ---- internals ---------------------------------------------------------------------------

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"
_MISSING: Any = object()


class _Merger:
    """One patch application. `map` and `list` merge a patch value into a private copy of the
    live value (mutated in place); `take` turns a patch value into a stored value."""

    def __init__(self, meta: PatchMeta) -> None:
        self.meta = meta

    def strategy(self, path: tuple[str, ...]) -> tuple[str | None, str | None]:
        strategy, merge_key = self.meta(path)
        parts = set((strategy or "").split(",")) - {"retainKeys", ""}
        return ("merge" if "merge" in parts else "replace" if "replace" in parts else None,
                merge_key)

    def take(self, value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, dict):
            return self.map({}, value, path)
        if isinstance(value, list):
            return self.list([], value, path)
        return value

    def map(self, original: dict, patch: dict, path: tuple[str, ...]) -> dict:
        if _DIRECTIVE in patch:
            directive = patch[_DIRECTIVE]
            if directive == "replace":
                return self.map({}, {k: v for k, v in patch.items() if k != _DIRECTIVE}, path)
            if directive == "delete":
                return {}
            raise BadRequest(f"Unknown patch type: {directive} in map at {_dotted(path)}")
        for key in patch:
            if key.startswith("$") and key != _RETAIN_KEYS and not key.startswith(
                    (_SET_ORDER, _DELETE_FROM)):
                raise BadRequest(f'unknown strategic merge patch directive "{key}" at '
                                 f"{_dotted(path)}")
        if _RETAIN_KEYS in patch:
            retain = patch[_RETAIN_KEYS]
            if not isinstance(retain, list):
                raise BadRequest(f"invalid patch: $retainKeys at {_dotted(path)} must be a list")
            for key in [k for k in original if k not in retain]:
                del original[key]
        ordered = set()
        for key, order in patch.items():
            if key.startswith(_SET_ORDER):
                field = key[len(_SET_ORDER):]
                ordered.add(field)
                self.ordered_list(original, patch, field, order, path + (field,))
        for key, value in patch.items():
            if key.startswith(_DELETE_FROM):
                self.delete_from(original, key[len(_DELETE_FROM):], value, path)
            elif key.startswith("$") or key in ordered:
                continue
            elif value is None:
                original.pop(key, None)
            else:
                original[key] = self.merge_value(original.get(key, _MISSING), value,
                                                 path + (key,))
        return original

    def merge_value(self, current: Any, value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, dict) and isinstance(current, dict):
            if self.strategy(path)[0] == "replace":
                return self.take(value, path)
            return self.map(current, value, path)
        if isinstance(value, list) and isinstance(current, list):
            return self.list(current, value, path)
        return self.take(value, path)

    def list(self, original: list, patch: list, path: tuple[str, ...]) -> list:
        strategy, merge_key = self.strategy(path)
        if strategy != "merge":
            return [self.take(item, path) for item in patch]
        if not original and not patch:
            return []
        maps = _element_kind(original, patch, path)
        if not maps:
            merged = _dedupe(original + patch)
            inside, server_only = _partition(merged, patch, None)
            return _normalize(inside, server_only, patch, original, None)
        if merge_key is None:
            raise BadRequest(f"cannot merge lists without merge key for {_dotted(path)}")
        plain: list[dict] = []
        replace = False
        for item in patch:
            if _DIRECTIVE not in item:
                plain.append(item)
                continue
            directive = item[_DIRECTIVE]
            if directive == "delete":
                if merge_key not in item:
                    raise _no_merge_key(item, merge_key, path)
                gone = _ident(item[merge_key])
                original = [o for o in original if _ident(o.get(merge_key, _MISSING)) != gone]
            elif directive == "replace":
                replace = True
            elif directive == "merge":
                raise BadRequest("merging lists cannot yet be specified in the patch")
            else:
                raise BadRequest(f"Unknown patch type: {directive} in list at {_dotted(path)}")
        if replace:
            original, plain = [self.take(item, path) for item in plain], []
        merged = list(original)
        where = {_ident(o.get(merge_key, _MISSING)): i for i, o in reversed(list(
            enumerate(merged)))}
        for item in plain:
            if merge_key not in item:
                raise _no_merge_key(item, merge_key, path)
            position = where.get(_ident(item[merge_key]))
            if position is not None:
                merged[position] = self.map(merged[position], item, path)
            else:
                where[_ident(item[merge_key])] = len(merged)
                merged.append(self.take(item, path))
        inside, server_only = _partition(merged, plain, merge_key)
        return _normalize(inside, server_only, plain, original, merge_key)

    def ordered_list(self, original: dict, patch: dict, field: str, order: Any,
                     path: tuple[str, ...]) -> None:
        """Merge `field` as `$setElementOrder/<field>` directs: the merged list follows
        `order`; items the order does not name keep their live positions around them."""
        current, change = original.get(field, _MISSING), patch.get(field, _MISSING)
        for value in (order, current, change):
            if value is not _MISSING and not isinstance(value, list):
                raise BadRequest(f"invalid patch: $setElementOrder/{field} at "
                                 f"{_dotted(path[:-1])} needs lists")
        if current is _MISSING and change is _MISSING:
            return
        merge_key = self.strategy(path)[1]
        if change is not _MISSING:
            _check_order(change, order, merge_key, path)
        if change is _MISSING:
            merged = current
        else:
            merged = self.list([] if current is _MISSING else current, change, path)
        maps = any(isinstance(item, dict) for item in merged)
        if merged and not (maps and merge_key is None):
            key = merge_key if maps else None
            inside, server_only = _partition(merged, order, key)
            merged = _normalize(inside, server_only, order,
                                [] if current is _MISSING else current, key)
        original[field] = merged

    def delete_from(self, original: dict, field: str, values: Any,
                    path: tuple[str, ...]) -> None:
        if not isinstance(values, list):
            raise BadRequest(f"invalid patch: $deleteFromPrimitiveList/{field} at "
                             f"{_dotted(path)} must be a list")
        current = original.get(field)
        if isinstance(current, list):
            gone = {_ident(v) for v in values}
            original[field] = [v for v in current if _ident(v) not in gone]


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value (`patch` imports this module, so it keeps its own)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path) or "<root>"


def _no_merge_key(item: dict, merge_key: str, path: tuple[str, ...]) -> BadRequest:
    return BadRequest(f"map: {item} does not contain declared merge key: {merge_key} "
                      f"(in {_dotted(path)})")


def _ident(value: Any) -> Any:
    """A hashable identity for a scalar or merge-key value; true is not 1, 1 is 1.0."""
    try:
        hash(value)
    except TypeError:
        return ("unhashable", repr(value))
    return (isinstance(value, bool), value)


def _key_of(item: Any, merge_key: str | None) -> Any:
    if merge_key is None:
        return _ident(item)
    return _ident(item.get(merge_key, _MISSING)) if isinstance(item, dict) else _MISSING


def _element_kind(original: list, patch: list, path: tuple[str, ...]) -> bool:
    """Whether a merging list holds maps (else scalars); mixed or nested lists are errors."""
    kinds = {type(v) is dict for v in original + patch}
    if any(isinstance(v, list) for v in original + patch):
        raise BadRequest(f"lists of lists are not supported by strategic merge patch "
                         f"({_dotted(path)})")
    if len(kinds) > 1:
        raise BadRequest(f"list element types are not identical in {_dotted(path)}")
    return kinds == {True}


def _dedupe(items: list) -> list:
    seen: set = set()
    out = []
    for item in items:
        ident = _ident(item)
        if ident not in seen:
            seen.add(ident)
            out.append(item)
    return out


def _partition(merged: list, by: list, merge_key: str | None) -> tuple[list, list]:
    """Split `merged` into the items `by` names and the rest (server-only), keeping order."""
    named = {_key_of(item, merge_key) for item in by}
    inside = [item for item in merged if _key_of(item, merge_key) in named]
    rest = [item for item in merged if _key_of(item, merge_key) not in named]
    return inside, rest


def _positions(order: list, merge_key: str | None) -> dict:
    positions: dict = {}
    for i, item in enumerate(order):
        positions.setdefault(_key_of(item, merge_key), i)
    return positions


def _sort_by(items: list, order: list, merge_key: str | None) -> list:
    """Stable sort by position in `order`; items it does not name go last."""
    positions = _positions(order, merge_key)
    return sorted(items, key=lambda item: positions.get(_key_of(item, merge_key), len(order)))


def _normalize(inside: list, server_only: list, patch_order: list, server_order: list,
               merge_key: str | None) -> list:
    """upstream's normalizeElementOrder: sort each part by its own order, then interleave,
    taking a server-only item first only when the live list puts it first."""
    inside = _sort_by(inside, patch_order, merge_key)
    server_only = _sort_by(server_only, server_order, merge_key)
    live = _positions(server_order, merge_key)
    out: list = []
    i = j = 0
    while i < len(server_only) or j < len(inside):
        if j >= len(inside):
            out.append(server_only[i])
            i += 1
            continue
        if i < len(server_only):
            left = live.get(_key_of(server_only[i], merge_key))
            right = live.get(_key_of(inside[j], merge_key))
            if left is not None and right is not None and left < right:
                out.append(server_only[i])
                i += 1
                continue
        out.append(inside[j])
        j += 1
    return out


def _check_order(change: list, order: list, merge_key: str | None,
                 path: tuple[str, ...]) -> None:
    """The patch list must name its items in `$setElementOrder`'s relative order."""
    items = [item for item in change if not (isinstance(item, dict) and _DIRECTIVE in item)]
    if not items or not order:
        return
    wanted = [_key_of(item, merge_key) for item in order]
    at = 0
    for item in items:
        key = _key_of(item, merge_key)
        while at < len(wanted) and wanted[at] != key:
            at += 1
        if at == len(wanted):
            raise BadRequest(f"the order in the patch list of {_dotted(path)} doesn't match "
                             f"its $setElementOrder list")
        at += 1
