"""List: pages with limit/continue, label and field selectors, resourceVersion semantics.

A list is a store range over the resource's prefix at one revision. Its semantics follow
kube-apiserver: resourceVersion unset is a consistent (latest) read; "0" is any; "N" is
not-older-than N (504 Timeout when the store has not reached N), or exactly N with
resourceVersionMatch=Exact (410 Expired once compacted). A page ends with a continue token that
pins the revision of the first page, so every later page reads the same snapshot (410 Expired
once compacted). Selectors filter while paging, so a page may hold fewer than `limit` items
but never skips one; remainingItemCount is given only without selectors, as upstream.

`plan_list` validates a request without reading anything; `list_from_store` answers it from
the store. The API server answers most lists from its watch cache (`watchcache_lists`),
which gives the same answers; this module is its fallback and its reference.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

from kubemu.cluster.api.errors import BadRequest, Expired, Timeout
from kubemu.cluster.api.objects import decode
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.api.field_selectors import FieldSelector, parse_field_selector
from kubemu.cluster.api.selectors import LabelSelector, parse_label_selector
from kubemu.cluster.store import CompactedError, prefix_end

__all__ = ["ListQuery", "ListPlan", "encode_continue", "list_from_store", "list_objects",
           "parse_resource_version", "plan_list", "selectors_for", "too_large"]

_SCAN = 500  # keys read per store range while filtering


@dataclass
class ListQuery:
    label_selector: str = ""
    field_selector: str = ""
    limit: int = 0
    continue_: str = ""
    resource_version: str = ""
    resource_version_match: str = ""


def parse_resource_version(text: str, *, what: str = "resourceVersion") -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise BadRequest(f'invalid {what}: "{text}"') from None
    return value


def selectors_for(res: Resource, query: ListQuery) -> tuple[LabelSelector, FieldSelector]:
    kind = "" if res.custom else res.kind
    return (parse_label_selector(query.label_selector),
            parse_field_selector(query.field_selector, kind))


@dataclass(frozen=True)
class ListPlan:
    """A validated list request: where it starts and at which revision it reads.

    `mode` is "latest" (resourceVersion unset), "any" ("0"), "not-older-than" (N),
    "exact" (N with resourceVersionMatch=Exact) or "continue" (the token's revision and
    start key); `revision` is N or the token's revision, else 0."""

    labels: LabelSelector
    fields: FieldSelector
    prefix: str
    start: str
    limit: int
    mode: str
    revision: int = 0

    @property
    def filtering(self) -> bool:
        return not (self.labels.empty and self.fields.empty)


def plan_list(res: Resource, namespace: str, query: ListQuery) -> ListPlan:
    """Validate a list request (BadRequest as upstream words it) without reading anything."""
    labels, fields = selectors_for(res, query)
    if query.limit < 0:
        raise BadRequest(f"limit must not be negative, got {query.limit}")
    mode, revision = _mode(query)
    prefix = res.prefix(namespace)
    start = prefix
    if query.continue_:
        start, revision = _decode_continue(query.continue_, prefix)
    return ListPlan(labels, fields, prefix, start, query.limit, mode, revision)


async def list_objects(store: Any, res: Resource, namespace: str, query: ListQuery) -> dict:
    """The `<Kind>List` object for one list request, read from the store."""
    return await list_from_store(store, res, plan_list(res, namespace, query))


async def list_from_store(store: Any, res: Resource, plan: ListPlan) -> dict:
    """The `<Kind>List` for a validated request, read from the store."""
    labels, fields, filtering = plan.labels, plan.fields, plan.filtering
    limit, prefix, continuing = plan.limit, plan.prefix, plan.mode == "continue"
    end = prefix_end(prefix)
    start = plan.start
    revision = plan.revision if plan.mode in ("exact", "continue") else 0
    if plan.mode == "not-older-than":
        await _check_not_too_large(store, plan.revision)
    items: list[dict] = []
    more = False
    last_key = ""
    while True:
        want = limit - len(items) if limit else 0
        batch = (_SCAN if filtering else want + 1) if limit else 0
        result = await _range(store, start, end, revision, batch, continuing=continuing)
        revision = revision or result["revision"]
        kvs = result["kvs"]
        for i, kv in enumerate(kvs):
            if limit and len(items) == limit:
                more = True
                break
            last_key = kv["key"]
            obj = decode(kv)
            if filtering and not (labels.matches(obj.get("metadata", {}).get("labels"))
                                  and fields.matches(obj)):
                continue
            items.append(obj)
        else:
            if result.get("more") and kvs:
                start = kvs[-1]["key"] + "\x00"
                if limit and len(items) == limit:
                    more = True
                    break
                continue
        break
    md: dict[str, Any] = {"resourceVersion": str(revision)}
    if more:
        next_start = last_key + "\x00"
        md["continue"] = encode_continue(revision, next_start[len(prefix):])
        if not filtering:  # one range read the page: its count holds every key left
            md["remainingItemCount"] = result["count"] - len(items)
    return {"kind": res.list_kind, "apiVersion": res.api_version, "metadata": md,
            "items": items}


def too_large(wanted: int, current: int) -> Timeout:
    """The 504 a read at a resourceVersion the store has not reached gets."""
    return Timeout(f"Too large resource version: {wanted}, current: {current}",
                   details={"causes": [{"reason": "ResourceVersionTooLarge",
                                        "message": "Too large resource version"}],
                            "retryAfterSeconds": 1})


def _mode(query: ListQuery) -> tuple[str, int]:
    """What the resourceVersion parameters ask for, validated as upstream validates them."""
    rv, match = query.resource_version, query.resource_version_match
    if query.continue_:
        if rv and rv != "0":
            raise BadRequest("specifying resource version is not allowed when using continue")
        return "continue", 0
    if match and not rv:
        raise BadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
    if match not in ("", "Exact", "NotOlderThan"):
        raise BadRequest(f'resourceVersionMatch: Unsupported value: "{match}": supported '
                         'values: "Exact", "NotOlderThan"')
    if not rv or rv == "0":
        if match == "Exact":
            raise BadRequest('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"')
        return ("any", 0) if rv == "0" else ("latest", 0)
    wanted = parse_resource_version(rv)
    return ("exact", wanted) if match == "Exact" else ("not-older-than", wanted)


async def _check_not_too_large(store: Any, wanted: int) -> None:
    current = (await store.request({"op": "range", "key": "/", "count_only": True,
                                    "limit": 1}))["revision"]
    if current < wanted:
        raise too_large(wanted, current)


async def _range(store: Any, start: str, end: str, revision: int, limit: int, *,
                 count_only: bool = False, continuing: bool = False) -> dict:
    command: dict[str, Any] = {"op": "range", "key": start, "range_end": end}
    if revision:
        command["revision"] = revision
    if limit:
        command["limit"] = limit
    if count_only:
        command["count_only"] = True
    try:
        return await store.request(command)
    except CompactedError:
        if continuing:
            raise Expired("The provided continue parameter is too old to display a consistent "
                          "list result. You can start a new list without the continue "
                          "parameter.") from None
        raise Expired(f"The resourceVersion for the provided list is too old: {revision}") \
            from None


def encode_continue(revision: int, start: str) -> str:
    token = orjson.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start})
    return base64.urlsafe_b64encode(token).decode().rstrip("=")


def _decode_continue(token: str, prefix: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        revision, start = int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise BadRequest(f"continue key is not valid: {token!r}") from None
    if revision <= 0 or start.startswith("/") or ".." in start.split("/"):
        raise BadRequest(f"continue key is not valid: {token!r}")
    return prefix + start, revision
