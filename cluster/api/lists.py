"""List: pages with limit/continue, label and field selectors, resourceVersion semantics.

A list is a store range over the resource's prefix at one revision. Its semantics follow
kube-apiserver: resourceVersion unset is a consistent (latest) read; "0" is any; "N" is
not-older-than N (504 Timeout when the store has not reached N), or exactly N with
resourceVersionMatch=Exact (410 Expired once compacted). A page ends with a continue token that
pins the revision of the first page, so every later page reads the same snapshot (410 Expired
once compacted). Selectors filter while paging, so a page may hold fewer than `limit` items
but never skips one; remainingItemCount is given only without selectors, as upstream.
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

__all__ = ["ListQuery", "list_objects", "parse_resource_version", "selectors_for"]

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


async def list_objects(store: Any, res: Resource, namespace: str, query: ListQuery) -> dict:
    """The `<Kind>List` object for one list request."""
    labels, fields = selectors_for(res, query)
    filtering = not (labels.empty and fields.empty)
    if query.limit < 0:
        raise BadRequest(f"limit must not be negative, got {query.limit}")
    prefix = res.prefix(namespace)
    end = prefix_end(prefix)
    start, revision = prefix, await _read_revision(store, query)
    if query.continue_:
        start, revision = _decode_continue(query.continue_, prefix)
    items: list[dict] = []
    more = False
    last_key = ""
    while True:
        want = query.limit - len(items) if query.limit else 0
        batch = (_SCAN if filtering else want + 1) if query.limit else 0
        result = await _range(store, start, end, revision, batch, continuing=bool(
            query.continue_))
        revision = revision or result["revision"]
        kvs = result["kvs"]
        for i, kv in enumerate(kvs):
            if query.limit and len(items) == query.limit:
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
                if query.limit and len(items) == query.limit:
                    more = True
                    break
                continue
        break
    md: dict[str, Any] = {"resourceVersion": str(revision)}
    if more:
        next_start = last_key + "\x00"
        md["continue"] = _encode_continue(revision, next_start[len(prefix):])
        if not filtering:
            rest = await _range(store, next_start, end, revision, 0, count_only=True)
            md["remainingItemCount"] = rest["count"]
    return {"kind": res.list_kind, "apiVersion": res.api_version, "metadata": md,
            "items": items}


async def _read_revision(store: Any, query: ListQuery) -> int:
    """The revision to read at: 0 for latest, else the exact revision asked for."""
    rv, match = query.resource_version, query.resource_version_match
    if query.continue_:
        if rv and rv != "0":
            raise BadRequest("specifying resource version is not allowed when using continue")
        return 0
    if match and not rv:
        raise BadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
    if match not in ("", "Exact", "NotOlderThan"):
        raise BadRequest(f'resourceVersionMatch: Unsupported value: "{match}": supported '
                         'values: "Exact", "NotOlderThan"')
    if not rv or rv == "0":
        if match == "Exact":
            raise BadRequest('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"')
        return 0
    wanted = parse_resource_version(rv)
    if match == "Exact":
        return wanted
    current = (await store.request({"op": "range", "key": "/", "count_only": True,
                                    "limit": 1}))["revision"]
    if current < wanted:
        raise Timeout(f"Too large resource version: {wanted}, current: {current}",
                      details={"causes": [{"reason": "ResourceVersionTooLarge",
                                           "message": "Too large resource version"}],
                               "retryAfterSeconds": 1})
    return 0


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


def _encode_continue(revision: int, start: str) -> str:
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
