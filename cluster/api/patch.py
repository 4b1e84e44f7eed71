"""JSON Patch (RFC 6902) and JSON Merge Patch (RFC 7386) applied to plain JSON values.

PATCH with `application/json-patch+json` or `application/merge-patch+json` lands here; the
strategic merge patch of built-in kinds lives in `smp` and is re-exported here, so this module
is the one door to all three patch types (and `parse_patch` decodes their bodies). All three are pure: they deep-copy the document
first and never mutate their inputs, so the handler may retry a patch against a newer object
after a conflict. A JSON Patch is all-or-nothing: a failed `test`, a missing
path or a malformed operation raises `BadRequest` naming the operation and the path, and no
partial result escapes. Values compare as JSON does: `true` is not `1`, `1` equals `1.0`.
"""

from __future__ import annotations

from typing import Any

import orjson

from kubemu.cluster.api.errors import BadRequest, UnsupportedMediaType
from kubemu.cluster.api.smp import PatchMeta, smp_meta_none, strategic_merge_patch

__all__ = ["json_patch", "merge_patch", "strategic_merge_patch", "PatchMeta", "smp_meta_none",
           "json_copy", "json_equal", "parse_patch", "patch_precondition"]


def patch_precondition(patch: Any) -> str:
    """The resourceVersion a patch itself sets (a precondition, as upstream's patcher
    treats it), or "": a patch without one is retried on a conflicting write."""
    if isinstance(patch, dict):
        md = patch.get("metadata")
        return str(md.get("resourceVersion") or "") if isinstance(md, dict) else ""
    if isinstance(patch, list):
        for op in patch:
            if isinstance(op, dict) and op.get("path") == "/metadata/resourceVersion" \
                    and op.get("op") in ("add", "replace", "test"):
                return str(op.get("value") or "")
    return ""


def parse_patch(patch_type: str, body: bytes) -> Any:
    """A PATCH body of `patch_type` ("json", "merge", "strategic", "apply") decoded."""
    if patch_type not in ("json", "merge", "strategic", "apply"):
        raise UnsupportedMediaType(f"unsupported patch type {patch_type!r}")
    if patch_type == "apply":
        from kubemu.cluster.api.bodies import parse_yaml_or_json
        return parse_yaml_or_json(body)
    try:
        patch = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"error decoding patch: {exc}") from None
    if patch_type == "json" and not isinstance(patch, list):
        raise BadRequest("json patch must be a JSON array of operations")
    return patch


def json_patch(doc: Any, ops: list, *, owned: bool = False) -> Any:
    """Apply RFC 6902 operations in order to a copy of `doc` (to `doc` itself when the
    caller hands it over, `owned`) and return it."""
    if not isinstance(ops, list):
        raise BadRequest("json patch must be a list of operations")
    if not owned:
        doc = json_copy(doc)
    for index, op in enumerate(ops):
        doc = _apply(doc, op, index)
    return doc


def merge_patch(doc: Any, patch: Any, *, owned: bool = False) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes a member, anything else (lists
    included) replaces. A non-object patch replaces the whole document. `doc` is copied
    first unless the caller hands it over (`owned`: merged in place)."""
    if not isinstance(patch, dict):
        return json_copy(patch)
    if not isinstance(doc, dict):
        return _merge_into({}, patch)
    return _merge_into(doc if owned else json_copy(doc), patch)


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, scalars), faster than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_copy(v) for v in value]
    return value


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON defines it: booleans are not numbers, 1 == 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(json_equal(v, b[k]) for k, v in a.items()))
    if isinstance(a, list):
        return (isinstance(b, list) and len(a) == len(b)
                and all(json_equal(x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _merge_into(target: dict, patch: dict) -> dict:
    """Merge `patch` into `target` (a private copy) in place."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _merge_into(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = json_copy(value)
    return target


# ---- JSON Patch internals ----------------------------------------------------------------

_MISSING = object()


def _apply(doc: Any, op: Any, index: int) -> Any:
    if not isinstance(op, dict):
        raise BadRequest(f"jsonpatch operation {index} is not an object")
    name = op.get("op")
    if name not in _OPS:
        raise BadRequest(f'jsonpatch operation {index}: unknown op "{name}"')
    path = _field(op, "path", name)
    if name in ("add", "replace", "test") and "value" not in op:
        raise BadRequest(f'jsonpatch {name} operation {path}: missing "value"')
    return _OPS[name](doc, op, path)


def _field(op: dict, key: str, name: str) -> str:
    value = op.get(key)
    if not isinstance(value, str):
        raise BadRequest(f'jsonpatch {name} operation is missing "{key}" (a string)')
    return value


def _tokens(pointer: str, name: str) -> list[str]:
    """RFC 6901: "" is the whole document; "/a~1b/~0c" is ["a/b", "~c"]."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise BadRequest(f'jsonpatch {name} operation: path "{pointer}" must start with "/"')
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _array_index(token: str, size: int, *, adding: bool) -> int | None:
    """The list position a token names (`-` is the end when adding), or None if invalid."""
    if adding and token == "-":
        return size
    if not token.isdigit() or not token.isascii() or (len(token) > 1 and token[0] == "0"):
        return None
    position = int(token)
    return position if position < size or (adding and position == size) else None


def _parent(doc: Any, tokens: list[str], name: str, pointer: str) -> Any:
    """The container that holds the last token of `pointer`."""
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token)
        if node is _MISSING:
            raise BadRequest(f"jsonpatch {name} operation does not apply: doc is missing path: "
                             f"{pointer}")
    return node


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        return node.get(token, _MISSING)
    if isinstance(node, list):
        position = _array_index(token, len(node), adding=False)
        return _MISSING if position is None else node[position]
    return _MISSING


def _get(doc: Any, pointer: str, name: str) -> Any:
    node = doc
    for token in _tokens(pointer, name):
        node = _child(node, token)
        if node is _MISSING:
            raise BadRequest(f"jsonpatch {name} operation does not apply: doc is missing key: "
                             f"{pointer}")
    return node


def _add(doc: Any, pointer: str, value: Any, name: str = "add") -> Any:
    tokens = _tokens(pointer, name)
    if not tokens:
        return value
    parent = _parent(doc, tokens, name, pointer)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        position = _array_index(last, len(parent), adding=True)
        if position is None:
            raise BadRequest(f"jsonpatch {name} operation does not apply: index out of range: "
                             f"{pointer}")
        parent.insert(position, value)
    else:
        raise BadRequest(f"jsonpatch {name} operation does not apply: doc is missing path: "
                         f"{pointer}")
    return doc


def _remove(doc: Any, pointer: str, name: str = "remove") -> tuple[Any, Any]:
    """Remove the value at `pointer`; returns (doc, removed value)."""
    tokens = _tokens(pointer, name)
    if not tokens:
        return None, doc
    parent = _parent(doc, tokens, name, pointer)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list):
        position = _array_index(last, len(parent), adding=False)
        if position is not None:
            return doc, parent.pop(position)
    raise BadRequest(f"jsonpatch {name} operation does not apply: doc is missing key: {pointer}")


def _op_add(doc: Any, op: dict, path: str) -> Any:
    return _add(doc, path, json_copy(op["value"]))


def _op_remove(doc: Any, op: dict, path: str) -> Any:
    return _remove(doc, path)[0]


def _op_replace(doc: Any, op: dict, path: str) -> Any:
    _get(doc, path, "replace")
    tokens = _tokens(path, "replace")
    if not tokens:
        return json_copy(op["value"])
    parent = _parent(doc, tokens, "replace", path)
    if isinstance(parent, dict):
        parent[tokens[-1]] = json_copy(op["value"])
    else:
        parent[_array_index(tokens[-1], len(parent), adding=False)] = json_copy(op["value"])
    return doc


def _op_move(doc: Any, op: dict, path: str) -> Any:
    source = _field(op, "from", "move")
    if source == path:
        _get(doc, source, "move")
        return doc
    if path.startswith(source + "/"):
        raise BadRequest(f"jsonpatch move operation does not apply: cannot move {source} into "
                         f"its own child {path}")
    _get(doc, source, "move")
    doc, value = _remove(doc, source, "move")
    return _add(doc, path, value, "move")


def _op_copy(doc: Any, op: dict, path: str) -> Any:
    value = _get(doc, _field(op, "from", "copy"), "copy")
    return _add(doc, path, json_copy(value), "copy")


def _op_test(doc: Any, op: dict, path: str) -> Any:
    if not json_equal(_get(doc, path, "test"), op["value"]):
        raise BadRequest(f"jsonpatch test operation does not apply: value at {path} is not "
                         f"equal to the test value")
    return doc


_OPS = {"add": _op_add, "remove": _op_remove, "replace": _op_replace, "move": _op_move,
        "copy": _op_copy, "test": _op_test}
