"""Schema lookups for the API handlers: a kind's definition, strategic-merge patch metadata, and
the fields of a request body that its schema does not declare (fieldValidation).

Schemas are compiled once into `_Node` trees: per node the declared properties (refs already
resolved to the shared node of their definition, so recursion and reuse cost nothing), the
patch metadata of each property, the node of map values (`additionalProperties`) and of list
items, and whether undeclared keys are unknown. Built-in definitions compile lazily, once
each; a CRD's openAPIV3Schema compiles once per schema object (cached by identity).

Unknown-field rules, as upstream's strict decoding and CRD pruning report them:
- paths read `spec.template.spec.containers[0].imagex`, in document order; map keys are
  path elements (`spec.foo.key.bar`);
- `apiVersion` and `kind` at the root are always known and `metadata` is checked against
  ObjectMeta (labels and annotations are free maps);
- `x-kubernetes-preserve-unknown-fields: true` allows unknown keys at its level (declared
  properties below it are still checked); `additionalProperties` makes every key known and
  checks the values against its schema;
- a built-in definition without properties (RawExtension, FieldsV1) accepts anything; in a
  CRD schema a nested `type: object` with neither properties nor additionalProperties nor
  preserve-unknown-fields holds no fields (upstream prunes them all), while a root without
  `properties` accepts anything.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from kubemu.cluster.api.schemas.dsl import DEFINITIONS, ref_name

__all__ = ["PatchMeta", "kind_definition", "patch_meta", "unknown_fields", "OBJECT_META"]

PatchMeta = Callable[[tuple[str, ...]], tuple[str | None, str | None]]
"""(field path from the object root) -> (x-kubernetes-patch-strategy, -patch-merge-key)."""

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_STRATEGY = "x-kubernetes-patch-strategy"
_MERGE_KEY = "x-kubernetes-patch-merge-key"
_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_NO_META: tuple[None, None] = (None, None)
_ROOT_KNOWN = frozenset(("apiVersion", "kind"))
_CRD_CACHE_SIZE = 512


def kind_definition(api_version: str, kind: str) -> str | None:
    """The definition name of a built-in kind (`io.k8s.api.apps.v1.Deployment`), or None."""
    return _kinds().get((api_version, kind))


@lru_cache(maxsize=None)
def patch_meta(api_version: str, kind: str) -> PatchMeta:
    """Strategic-merge metadata of a kind's fields: given a path of field names from the object
    root (list items add no element) returns (strategy, merge key), (None, None) when the
    field is unknown or carries none. Answers are cached per path."""
    name = kind_definition(api_version, kind)
    if name is None:
        return _no_meta
    root = _definition_node(name)
    cache: dict[tuple[str, ...], tuple[str | None, str | None]] = {}

    def meta(path: tuple[str, ...]) -> tuple[str | None, str | None]:
        found = cache.get(path)
        if found is None:
            found = cache[path] = _walk_meta(root, path)
        return found

    return meta


def unknown_fields(api_version: str, kind: str, obj: dict, *,
                   schema: dict | None = None) -> list[str]:
    """Paths of the fields in `obj` its schema does not declare, in document order. `schema`
    (a CRD's openAPIV3Schema) replaces the built-in definition of the kind."""
    if schema is not None:
        if "properties" not in schema:
            return []
        root = _crd_node(schema)
    else:
        name = kind_definition(api_version, kind)
        if name is None:
            return []
        root = _definition_node(name)
    out: list[str] = []
    meta_node = _definition_node(OBJECT_META)
    for key, value in obj.items():
        if key in _ROOT_KNOWN:
            continue
        if key == "metadata":
            _walk(meta_node, value, "metadata", out)
            continue
        child = _child(root, key)
        if child is not None:
            _walk(child, value, key, out)
        elif root.closed:
            out.append(key)
    return out


# -- compiled schema nodes --------------------------------------------------------------------

class _Node:
    __slots__ = ("props", "patch", "values", "values_patch", "items", "closed", "leaf",
                 "embedded")

    def __init__(self) -> None:
        self.props: dict[str, _Node] = {}
        self.patch: dict[str, tuple[str | None, str | None]] = {}
        self.values: _Node | None = None
        self.values_patch: tuple[str | None, str | None] = _NO_META
        self.items: _Node | None = None
        self.closed = False  # undeclared keys are unknown
        self.leaf = True  # nothing to check below
        self.embedded = False  # x-kubernetes-embedded-resource: apiVersion/kind/metadata ok


_DEF_NODES: dict[str, _Node] = {}
_CRD_NODES: dict[int, tuple[dict, _Node]] = {}


def _definition_node(name: str) -> _Node:
    node = _DEF_NODES.get(name)
    if node is None:
        node = _DEF_NODES[name] = _Node()  # placed first: recursive definitions
        schema = DEFINITIONS.get(name)
        if schema is not None:
            _fill(node, schema, crd=False)
    return node


def _crd_node(schema: dict) -> _Node:
    cached = _CRD_NODES.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    if len(_CRD_NODES) >= _CRD_CACHE_SIZE:
        _CRD_NODES.clear()
    node = _compile(schema, crd=True)
    _CRD_NODES[id(schema)] = (schema, node)  # holding schema keeps its id unique
    return node


def _compile(schema: dict, *, crd: bool) -> _Node:
    name = ref_name(schema)
    if name is not None:
        return _definition_node(name)
    node = _Node()
    _fill(node, schema, crd=crd)
    return node


def _fill(node: _Node, schema: dict, *, crd: bool) -> None:
    preserve = bool(schema.get(_PRESERVE))
    items = schema.get("items")
    if isinstance(items, dict):
        node.items = _compile(items, crd=crd)
    for key, field in (schema.get("properties") or {}).items():
        node.props[key] = _compile(field, crd=crd)
        if _STRATEGY in field or _MERGE_KEY in field:
            node.patch[key] = (field.get(_STRATEGY), field.get(_MERGE_KEY))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        node.values = _compile(extra, crd=crd)
        node.values_patch = (extra.get(_STRATEGY), extra.get(_MERGE_KEY))
    open_map = extra is True or isinstance(extra, dict)
    node.embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    if crd:
        is_object = schema.get("type") == "object" or "properties" in schema
        node.closed = is_object and not preserve and not open_map
    else:
        node.closed = bool(node.props) and not preserve and not open_map
    node.leaf = (not node.closed and not node.props and node.values is None
                 and node.items is None)


def _child(node: _Node, key: str) -> _Node | None:
    child = node.props.get(key)
    if child is not None:
        return child
    if node.values is not None:
        return node.values
    if node.embedded and (key in _ROOT_KNOWN or key == "metadata"):
        return _OPEN
    return None


_OPEN = _Node()


def _walk(node: _Node, value: object, path: str, out: list[str]) -> None:
    if node.leaf:
        return
    if type(value) is dict:
        for key, item in value.items():
            child = _child(node, key)
            if child is None:
                if node.closed:
                    out.append(f"{path}.{key}")
            elif not child.leaf and type(item) in (dict, list):
                _walk(child, item, f"{path}.{key}", out)
    elif type(value) is list and node.items is not None and not node.items.leaf:
        items = node.items
        for index, item in enumerate(value):
            if type(item) in (dict, list):
                _walk(items, item, f"{path}[{index}]", out)


def _walk_meta(node: _Node, path: tuple[str, ...]) -> tuple[str | None, str | None]:
    meta: tuple[str | None, str | None] = _NO_META
    for name in path:
        while node.items is not None:
            node = node.items
        child = node.props.get(name)
        if child is not None:
            meta = node.patch.get(name, _NO_META)
        elif node.values is not None:
            child, meta = node.values, node.values_patch
        else:
            return _NO_META
        node = child
    return meta


def _no_meta(path: tuple[str, ...]) -> tuple[str | None, str | None]:
    return _NO_META


@lru_cache(maxsize=1)
def _kinds() -> dict[tuple[str, str], str]:
    kinds: dict[tuple[str, str], str] = {}
    for name, schema in DEFINITIONS.items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or ():
            group, version = gvk.get("group", ""), gvk.get("version", "")
            api_version = f"{group}/{version}" if group else version
            kinds.setdefault((api_version, gvk.get("kind", "")), name)
    return kinds
