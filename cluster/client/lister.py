"""Indexed cache and Lister: what an informer knows, readable by key and by index.

client-go's thread-safe store plus Indexer, for one event loop: objects are keyed
`namespace/name` (`name` for cluster-scoped kinds), and each named index maps an index value
(computed by an index function from the object) to the keys of the objects that produce it.
A "namespace" index always exists, so listing one namespace never scans the whole cache. The
"labels" index (`label_index`, added by who needs it) maps `namespace/key=value` to the objects
carrying that label: `Lister.with_labels` answers a plain label map (a Service's selector) from
its smallest bucket instead of walking the namespace.
Invariant: after every `upsert`, `delete` or `replace`, each index holds exactly the values
its function gives for the cached objects. Only the informer writes the `Cache`; everyone
else reads through a `Lister`. Objects are shared, not copied: callers must not mutate them
(copy first, as with client-go's listers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["Cache", "Lister", "IndexFunc", "LABEL_INDEX", "NAMESPACE_INDEX", "object_key",
           "label_index", "namespace_index"]

IndexFunc = Callable[[dict], "list[str]"]

NAMESPACE_INDEX = "namespace"
LABEL_INDEX = "labels"


def object_key(obj: dict) -> str:
    """`namespace/name`, or `name` for a cluster-scoped object (client-go's
    MetaNamespaceKeyFunc)."""
    meta = obj.get("metadata") or {}
    namespace, name = meta.get("namespace"), meta.get("name", "")
    return f"{namespace}/{name}" if namespace else name


def namespace_index(obj: dict) -> list[str]:
    """The object's namespace ("" when cluster-scoped)."""
    return [(obj.get("metadata") or {}).get("namespace") or ""]


def label_index(obj: dict) -> list[str]:
    """`namespace/key=value` for each label of the object."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace") or ""
    return [f"{ns}/{k}={v}" for k, v in (meta.get("labels") or {}).items()]


class Cache:
    """Objects by key, with named indexes kept in step with every write."""

    def __init__(self, indexers: dict[str, IndexFunc] | None = None) -> None:
        self._items: dict[str, dict] = {}
        self._indexers: dict[str, IndexFunc] = {NAMESPACE_INDEX: namespace_index,
                                                **(indexers or {})}
        self._indices: dict[str, dict[str, set[str]]] = {n: {} for n in self._indexers}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def get(self, key: str) -> dict | None:
        return self._items.get(key)

    def keys(self) -> list[str]:
        return list(self._items)

    def values(self) -> list[dict]:
        return list(self._items.values())

    def upsert(self, obj: dict) -> dict | None:
        """Store `obj` under its key; the object it replaced, if any."""
        key = object_key(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        return old

    def delete(self, key: str) -> dict | None:
        """Remove the object under `key`; the removed object, if any."""
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def replace(self, objs: Iterable[dict]) -> tuple[list[dict], list[tuple[dict, dict]],
                                                     list[dict]]:
        """Make the cache hold exactly `objs`; answers (added, [(old, new)] changed, deleted).
        An object counts as changed when its resourceVersion differs."""
        added: list[dict] = []
        changed: list[tuple[dict, dict]] = []
        seen: set[str] = set()
        for obj in objs:
            key = object_key(obj)
            seen.add(key)
            old = self.upsert(obj)
            if old is None:
                added.append(obj)
            elif _rv(old) != _rv(obj) or not _rv(obj):
                changed.append((old, obj))
        deleted = [self.delete(k) for k in [k for k in self._items if k not in seen]]
        return added, changed, [d for d in deleted if d is not None]

    def add_indexers(self, indexers: dict[str, IndexFunc]) -> None:
        """Add indexes (client-go's AddIndexers), built over what is cached already; a name
        already present must keep its function."""
        for name, func in indexers.items():
            current = self._indexers.get(name)
            if current is not None:
                if current is not func:
                    raise ValueError(f"index {name!r} exists with another function")
                continue
            self._indexers[name] = func
            index: dict[str, set[str]] = {}
            for key, obj in self._items.items():
                for value in func(obj):
                    index.setdefault(value, set()).add(key)
            self._indices[name] = index

    def by_index(self, index_name: str, value: str) -> list[dict]:
        try:
            index = self._indices[index_name]
        except KeyError:
            raise KeyError(f"no index named {index_name!r}") from None
        return [self._items[k] for k in sorted(index.get(value, ()))]

    def index_size(self, index_name: str, value: str) -> int:
        return len(self._indices[index_name].get(value, ()))

    def index_values(self, index_name: str) -> list[str]:
        return sorted(self._indices[index_name])

    def _index(self, key: str, obj: dict) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                index.setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: dict) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in func(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]


class Lister:
    """Read-only view of a Cache (client-go's GenericLister plus its Indexer reads)."""

    def __init__(self, cache: Cache) -> None:
        self._cache = cache

    def get(self, name: str, namespace: str | None = None) -> dict | None:
        return self._cache.get(f"{namespace}/{name}" if namespace else name)

    def list(self, namespace: str | None = None,
             selector: Callable[[dict], bool] | None = None) -> list[dict]:
        """Objects in one namespace (all when None), filtered by `selector`, key order."""
        if namespace is None:
            keys = sorted(self._cache.keys())
            objs = [self._cache.get(k) for k in keys]
        else:
            objs = self._cache.by_index(NAMESPACE_INDEX, namespace)
        return [o for o in objs if o is not None and (selector is None or selector(o))]

    def by_index(self, index_name: str, value: str) -> list[dict]:
        return self._cache.by_index(index_name, value)

    def index_values(self, index_name: str) -> list[str]:
        """The values the index holds objects under, sorted."""
        return self._cache.index_values(index_name)

    def with_labels(self, namespace: str, labels: dict[str, str]) -> list[dict]:
        """Objects in `namespace` carrying every label of `labels` (non-empty), key order,
        read from the smallest "labels" index bucket (the cache must have that index)."""
        buckets = [f"{namespace}/{k}={v}" for k, v in labels.items()]
        smallest = min(buckets, key=lambda b: self._cache.index_size(LABEL_INDEX, b))
        return [o for o in self._cache.by_index(LABEL_INDEX, smallest)
                if all(((o.get("metadata") or {}).get("labels") or {}).get(k) == v
                       for k, v in labels.items())]

    def keys(self) -> list[str]:
        return sorted(self._cache.keys())

    def __len__(self) -> int:
        return len(self._cache)


def _rv(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion") or ""
