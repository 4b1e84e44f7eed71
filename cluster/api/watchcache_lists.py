"""Lists from the watch cache: which lists it may answer, at which revision, and pages that
are identical to the store's (`lists.list_from_store`) at that revision.

As kube-apiserver's cache delegator (1.31+, with ConsistentListFromCache and
ListFromCacheSnapshot):
- resourceVersion "0" (any): the cache as it is.
- unset (consistent read): read the store's current revision (one small read), wait until
  the cache has seen through it (at most `CONSISTENT_WAIT`, asking the store for progress),
  then serve from the cache; on timeout the store answers.
- "N" (not older than): wait until the cache has reached N (at most `CONSISTENT_WAIT`),
  else the store answers, which is a 504 "Too large resource version" when it has not.
- Exact N, and continue tokens: served from a snapshot at that revision (a paginated list's
  first page keeps one), after one small read confirms the store still holds the revision
  (otherwise the store answers, which is the 410 it has always been); without a snapshot
  the store answers.
A cache still building, or a resource never cached, is answered by the store.

A page scans keys in order from the start key exactly as the store path does: a page ends
after `limit` items, its continue token names the key after the last one scanned and pins
the page's revision, and remainingItemCount (without selectors) counts the keys left.
Selectors read an entry's labels and `spec.nodeName` (pods, through an index when pinned)
and a key's name and namespace before decoding anything, so a selective list decodes only
what it returns.
"""

from __future__ import annotations

import asyncio
import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from typing import Any

from kubemu.cluster.api.lists import (
    ListPlan, ListQuery, encode_continue, list_from_store, plan_list)
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.api.watchcache import Entry, View, WatchCache
from kubemu.cluster.store import StoreError, prefix_end

__all__ = ["serve_list", "CONSISTENT_WAIT", "page"]

CONSISTENT_WAIT = 3.0  # upstream's blockTimeout for waiting until the cache is fresh


async def serve_list(hub: Any, res: Resource, namespace: str, query: ListQuery) -> dict:
    """The `<Kind>List` for one list request: from the watch cache when it can answer,
    else from the store (the same answer either way)."""
    plan = plan_list(res, namespace, query)
    answer = await _from_cache(hub, res, plan)
    if answer is not None:
        hub.stats["lists_from_cache"] += 1
        return answer
    hub.stats["lists_from_store"] += 1
    return await list_from_store(hub.store, res, plan)


def page(res: Resource, plan: ListPlan, view: View, *, trigger_field: str | None = None
         ) -> tuple[dict, bool]:
    """The list answer for `plan` from `view`, and whether it has a continue token."""
    keys, objects = view.keys, view.objects
    end = prefix_end(plan.prefix)
    lo, hi = _bisect_left(keys, plan.start), _bisect_left(keys, end)
    accept = _acceptor(res, plan, trigger_field)
    limit = plan.limit
    items: list[dict] = []
    more, last, i = False, "", lo
    candidates = _candidates(plan, view, trigger_field)
    if candidates is not None:
        for key in candidates:
            obj = accept(key, objects[key])
            if obj is not None:
                items.append(obj)
                last = key
                if limit and len(items) == limit:
                    more = _bisect_right(keys, key) < hi  # any key left to scan
                    break
    else:
        for key in _keys_in(keys, plan.start, end, lo, hi):
            if limit and len(items) == limit:
                more = True
                break
            last = key
            obj = accept(key, objects[key])
            if obj is not None:
                items.append(obj)
            i += 1
    md: dict[str, Any] = {"resourceVersion": str(view.revision)}
    if more:
        md["continue"] = encode_continue(view.revision, (last + "\x00")[len(plan.prefix):])
        if not plan.filtering:
            md["remainingItemCount"] = hi - i
    return ({"kind": res.list_kind, "apiVersion": res.api_version, "metadata": md,
             "items": items}, more)


# A view's keys are the cache's live index (a SortedList, read before the next await: no copy
# of 100,000 keys for a list of one node's pods), a snapshot's (the live index with the writes
# since undone), or a plain sorted list.

def _bisect_left(keys: Any, key: str) -> int:
    own = getattr(keys, "bisect_left", None)
    return own(key) if own is not None else bisect_left(keys, key)


def _bisect_right(keys: Any, key: str) -> int:
    own = getattr(keys, "bisect_right", None)
    return own(key) if own is not None else bisect_right(keys, key)


def _keys_in(keys: Any, start: str, end: str, lo: int, hi: int) -> Iterator[str]:
    """The keys from `start` (position `lo`) up to `end` (position `hi`), in order."""
    own = getattr(keys, "irange", None)
    return own(start, end, inclusive=(True, False)) if own is not None \
        else itertools.islice(keys, lo, hi)


# ---- the delegator ------------------------------------------------------------------------

async def _from_cache(hub: Any, res: Resource, plan: ListPlan) -> dict | None:
    cache: WatchCache | None = await hub.cache(res)
    if cache is None:
        return None
    loop = asyncio.get_running_loop()
    if plan.mode in ("exact", "continue"):
        if cache.snapshot_at(plan.revision, now=loop.time()) is None:
            return None
        if not await _store_holds(hub.store, plan.revision):
            return None  # compacted: the store's own answer is the 410
        view = cache.snapshot_at(plan.revision, now=loop.time())
        if view is None:
            return None
        if plan.mode == "continue":
            hub.stats["pages_from_snapshots"] += 1
        return _answer(res, plan, view, cache, live=view.objects is cache.objects)
    if plan.mode == "latest":
        wanted = (await hub.store.request({"op": "range", "key": "/", "count_only": True,
                                           "limit": 1}))["revision"]
    else:
        wanted = plan.revision  # "not-older-than" N; 0 for "any"
    if not await hub.fresh(res, cache, wanted, CONSISTENT_WAIT):
        if plan.mode == "latest":
            hub.stats["consistent_fallbacks"] += 1
        return None
    return _answer(res, plan, cache.view(), cache, live=True)


def _answer(res: Resource, plan: ListPlan, view: View, cache: WatchCache, *,
            live: bool) -> dict:
    """A page from `view`; a first page from the live cache that continues keeps a snapshot
    for the pages after it (taken before any await, so it is the state the page saw)."""
    answer, more = page(res, plan, view, trigger_field=cache.trigger_field)
    if more and live:
        cache.snapshot(now=asyncio.get_running_loop().time())
    return answer


async def _store_holds(store: Any, revision: int) -> bool:
    """Whether the store can still read at `revision` (not compacted away)."""
    try:
        await store.request({"op": "range", "key": "/", "count_only": True, "limit": 1,
                             "revision": revision})
    except StoreError:
        return False
    return True


# ---- selectors over entries --------------------------------------------------------------

def _candidates(plan: ListPlan, view: View, trigger_field: str | None) -> list[str] | None:
    """The keys an indexed field selector term allows, in order (None: scan every key)."""
    if view.by_trigger is None or trigger_field is None:
        return None
    value = plan.fields.requires_exact_match(trigger_field)
    if value is None:
        return None
    start, end = plan.start, prefix_end(plan.prefix)
    return sorted(k for k in view.by_trigger.get(value, ()) if start <= k < end)


def _acceptor(res: Resource, plan: ListPlan, trigger_field: str | None
              ) -> Callable[[str, Entry], dict | None]:
    """key, entry -> the decoded object when it matches the selectors, else None. Cheap
    checks (labels, the trigger field, name and namespace from the key) come first."""
    if not plan.filtering:
        return lambda key, entry: entry.decode()
    labels, fields = plan.labels, plan.fields
    terms = fields.requirements
    on_trigger = [(op, v) for f, op, v in terms if trigger_field and f == trigger_field]
    on_name = [(op, v) for f, op, v in terms if f == "metadata.name"]
    on_ns = [(op, v) for f, op, v in terms if f == "metadata.namespace"] \
        if res.namespaced else []
    base = len(res.prefix())

    def accept(key: str, entry: Entry) -> dict | None:
        if not labels.empty and not labels.matches(entry.labels):
            return None
        for op, value in on_trigger:
            if (entry.trigger == value) != (op == "="):
                return None
        if on_name:
            name = key[key.rfind("/") + 1:]
            if any((name == value) != (op == "=") for op, value in on_name):
                return None
        if on_ns:
            ns = key[base:key.find("/", base)]
            if any((ns == value) != (op == "=") for op, value in on_ns):
                return None
        obj = entry.decode()
        if not fields.empty and not fields.matches(obj):
            return None
        return obj

    return accept
