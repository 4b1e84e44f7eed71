"""Router: one `Request` in, one `Response` out -- Kubernetes REST paths, verbs and media types.

It parses the path (`/api/v1/namespaces/{ns}/{plural}/{name}/{sub}`, `/apis/{g}/{v}/...`),
checks the bearer token and the body size before reading anything, picks the verb from method
and path, maps query parameters to handler options, and negotiates the answer: plain JSON, a
`meta.k8s.io/v1` Table when the Accept header asks for one (kubectl get), or aggregated
discovery. Lists and watches go to the watch hub (lists from its watch caches, falling back
to the store). Every failure is an `ApiError` turned into a `Status` here and nowhere else, so a
bad request can never leave a half-written object or a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from kubemu.cluster.api import discovery, namespaces, subresources
from kubemu.cluster.api.bodies import parse_body
from kubemu.cluster.api.errors import (
    ApiError, BadRequest, InternalError, MethodNotAllowed, NotAcceptable, NotFound,
    RequestEntityTooLarge, Unauthorized,
)
from kubemu.cluster.api.handlers import PATCH_TYPES, Handlers, Options
from kubemu.cluster.api.lists import ListQuery
from kubemu.cluster.api.openapi import OpenAPICache
from kubemu.cluster.api.registry import Resource
from kubemu.cluster.api.request import JSON, Request, Response
from kubemu.cluster.api.table import to_table
from kubemu.cluster.api.watchcache_lists import serve_list
from kubemu.cluster.api.watches import IDLE, WatchEvent, WatchHub, watch_events

__all__ = ["Router", "MAX_BODY_BYTES"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024
_OPEN_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})
_WATCH_TIMEOUT = 1800.0  # upstream's min-request-timeout; a client re-watches after it
_WATCH_CHUNK = 256 * 1024  # bytes of watch lines sent as one write at most (about)


@dataclass
class _Target:
    res: Resource
    namespace: str
    name: str
    sub: str


class Router:
    def __init__(self, handlers: Handlers, hub: WatchHub, openapi: OpenAPICache, *,
                 token: str | None, server_address: str = "127.0.0.1:6443",
                 ready: Callable[[], Awaitable[bool]] | None = None,
                 resync_crds: Callable[[], Awaitable[None]] | None = None) -> None:
        self.h = handlers
        self.hub = hub
        self.openapi = openapi
        self.token = token
        self.server_address = server_address
        self._ready = ready
        self._resync_crds = resync_crds

    async def handle(self, req: Request) -> Response:
        try:
            return await self._handle(req)
        except ApiError as exc:
            return _error(exc)
        except Exception as exc:  # a bug must still answer a Status, never a traceback
            log.exception("internal error serving %s %s", req.method, req.path)
            return _error(InternalError(f"an internal error occurred: {type(exc).__name__}"))

    async def _handle(self, req: Request) -> Response:
        path = req.path.rstrip("/") or "/"
        if self.token is not None and path not in _OPEN_PATHS:
            if req.headers.get("authorization", "") != f"Bearer {self.token}":
                raise Unauthorized("Unauthorized")
        if len(req.body) > MAX_BODY_BYTES:
            raise RequestEntityTooLarge("the request body is too large: limit is 3145728 bytes")
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(
                ("/healthz/", "/livez/", "/readyz/")):
            return await self._health(path)
        if path == "/version":
            return _json(discovery.version_info())
        if path.startswith("/openapi/"):
            return self._openapi(path, req)
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis"):
            raise NotFound("the server could not find the requested resource")
        if req.method != "GET" and len(parts) <= 3 - (parts[0] == "api"):
            raise MethodNotAllowed(f"the server does not allow this method on the requested "
                                   f"resource ({req.method} {path})")
        accept = req.headers.get("accept", "")
        if parts == ["api"]:
            return self._discovery(accept, core=True)
        if parts == ["apis"]:
            return self._discovery(accept, core=False)
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) == 2:
            group_doc = discovery.api_group(self.h.registry, parts[1])
            if group_doc is None:
                raise NotFound("the server could not find the requested resource")
            return _json(group_doc)
        else:
            group, version, rest = parts[1], parts[2], parts[3:]
        if not rest:
            doc = discovery.api_resource_list(self.h.registry, group, version)
            if doc is None:
                raise NotFound("the server could not find the requested resource")
            return _json(doc)
        target = await self._target(group, version, rest)
        return await self._resource(req, target, accept)

    # ---- path -> target --------------------------------------------------------------------

    async def _target(self, group: str, version: str, rest: list[str]) -> _Target:
        target = self._parse(group, version, rest)
        if target is None and self._resync_crds is not None:
            await self._resync_crds()  # another API server may have just served a new CRD
            target = self._parse(group, version, rest)
        if target is None:
            raise NotFound("the server could not find the requested resource")
        return target

    def _parse(self, group: str, version: str, rest: list[str]) -> _Target | None:
        lookup = self.h.registry.lookup
        if rest[0] == "namespaces" and len(rest) >= 3:
            res = lookup(group, version, rest[2])
            if res is not None and res.namespaced and len(rest) <= 5:
                return _Target(res, rest[1], _at(rest, 3), _at(rest, 4))
        res = lookup(group, version, rest[0])
        if res is None or len(rest) > 3:
            return None
        return _Target(res, "", _at(rest, 1), _at(rest, 2))

    # ---- verbs -----------------------------------------------------------------------------

    async def _resource(self, req: Request, t: _Target, accept: str) -> Response:
        q, m = req.query, req.method
        res = t.res
        if t.sub and t.sub not in res.subresources:
            raise NotFound(f"the server could not find the requested resource "
                           f"({res.group_resource}/{t.sub})")
        if t.name and res.namespaced and not t.namespace:
            raise NotFound("the server could not find the requested resource")
        opts = _options(q)
        if not t.name:
            if m == "GET":
                query = _list_query(q)
                if q.get("watch") in ("true", "1"):
                    return self._watch(res, t.namespace, query, q, accept)
                listed = await serve_list(self.hub, res, t.namespace, query)
                return self._listing(res, listed, accept, q)
            if m == "POST":
                body = _body(req)
                created = await self.h.create(res, t.namespace, body, opts)
                return _json(created, 201, opts)
            if m == "DELETE" and "deletecollection" in res.verbs:
                return _json(await self._delete_collection(res, t.namespace, req, opts),
                             200, opts)
            raise MethodNotAllowed(f"{m} is not supported on a collection of "
                                   f"{res.group_resource}")
        if t.sub == "scale":
            return await self._scale(req, t, opts)
        if t.sub in ("binding", "eviction"):
            if m != "POST":
                raise MethodNotAllowed(f"{m} is not supported on {res.plural}/{t.sub}")
            action = subresources.bind if t.sub == "binding" else subresources.evict
            status = await action(self.h, res, t.namespace, t.name, _body(req), opts)
            return _json(status, 201, opts)
        if t.sub == "finalize":
            if m != "PUT":
                raise MethodNotAllowed(f"{m} is not supported on {res.plural}/finalize")
            return _json(await namespaces.finalize(self.h, t.name, _body(req), opts), 200,
                         opts)
        sub = t.sub  # "" or "status"
        if m == "GET":
            obj = await self.h.get(res, t.namespace, t.name)
            if _wants_table(accept):
                return _json(to_table(res, [obj], now=self.h.wall_clock(),
                                      include_object=q.get("includeObject", "Metadata"),
                                      resource_version=obj["metadata"]["resourceVersion"]))
            return _json(obj)
        if m == "PUT":
            return _json(await self.h.update(res, t.namespace, t.name, _body(req), opts,
                                             subresource=sub), 200, opts)
        if m == "PATCH":
            patch_type = _patch_type(req)
            return _json(await self.h.patch(res, t.namespace, t.name, patch_type, req.body,
                                            opts, subresource=sub), 200, opts)
        if m == "DELETE" and not sub:
            options = _delete_options(req)
            if options.get("dryRun"):
                opts.dry_run = True
            return _json(await self.h.delete(res, t.namespace, t.name, options, opts), 200,
                         opts)
        raise MethodNotAllowed(f"{m} is not supported on {res.group_resource}")

    async def _scale(self, req: Request, t: _Target, opts: Options) -> Response:
        if req.method == "GET":
            return _json(await subresources.get_scale(self.h, t.res, t.namespace, t.name))
        if req.method == "PUT":
            return _json(await subresources.update_scale(self.h, t.res, t.namespace, t.name,
                                                         _body(req), opts), 200, opts)
        if req.method == "PATCH":
            return _json(await subresources.patch_scale(
                self.h, t.res, t.namespace, t.name, _patch_type(req), req.body, opts), 200,
                opts)
        raise MethodNotAllowed(f"{req.method} is not supported on scale")

    async def _delete_collection(self, res: Resource, namespace: str, req: Request,
                                 opts: Options) -> dict:
        options = _delete_options(req)
        if options.get("dryRun"):
            opts.dry_run = True
        listed = await serve_list(self.hub, res, namespace, _list_query(req.query))
        deleted = []
        for obj in listed["items"]:
            md = obj["metadata"]
            try:
                deleted.append(await self.h.delete(res, md.get("namespace", ""), md["name"],
                                                   options, opts))
            except NotFound:
                continue
        listed["items"] = deleted
        return listed

    def _listing(self, res: Resource, listed: dict, accept: str, q: dict) -> Response:
        if not _wants_table(accept):
            return _json(listed)
        md = listed["metadata"]
        return _json(to_table(res, listed["items"], now=self.h.wall_clock(),
                              include_object=q.get("includeObject", "Metadata"),
                              resource_version=md["resourceVersion"],
                              continue_token=md.get("continue", ""),
                              remaining=md.get("remainingItemCount")))

    def _watch(self, res: Resource, namespace: str, query: ListQuery, q: dict,
               accept: str) -> Response:
        # as upstream, a watch without timeoutSeconds ends after min-request-timeout times a
        # random 1..2: the thousands of watches a cluster opens at start would otherwise end,
        # and be opened again, all in the same moment (a stall at 1,800 s at 1,000 nodes)
        timeout = _WATCH_TIMEOUT * (1.0 + self.h.rng.random())
        if q.get("timeoutSeconds"):
            timeout = float(_int_param(q, "timeoutSeconds"))
        events = watch_events(self.hub, res, namespace, query,
                              allow_bookmarks=q.get("allowWatchBookmarks") in ("true", "1"),
                              timeout=timeout, idle_marks=True)
        table = _wants_table(accept)
        include = q.get("includeObject", "Metadata")
        return Response(200, content_type=JSON, stream=self._lines(res, events, table, include))

    async def _lines(self, res: Resource, events: AsyncIterator[dict], table: bool,
                     include: str) -> AsyncIterator[bytes]:
        """The events as JSON lines; the lines of events that were ready together (up to
        `_WATCH_CHUNK` bytes) come as one chunk: one write, not one per event."""
        first = True
        chunk: list[bytes] = []
        size = 0
        try:
            async for event in events:
                if event is IDLE:
                    if chunk:
                        yield b"".join(chunk)
                        chunk, size = [], 0
                    continue
                if table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    event = {"type": event["type"], "object": to_table(
                        res, [event["object"]], now=self.h.wall_clock(), include_object=include,
                        columns=first)}
                    first = False
                line = event.line() if isinstance(event, WatchEvent) else \
                    orjson.dumps(event) + b"\n"
                chunk.append(line)
                size += len(line)
                if size >= _WATCH_CHUNK:
                    yield b"".join(chunk)
                    chunk, size = [], 0
            if chunk:
                yield b"".join(chunk)
        finally:
            await events.aclose()

    # ---- discovery, openapi, health --------------------------------------------------------

    def _discovery(self, accept: str, *, core: bool) -> Response:
        registry = self.h.registry
        version = discovery.aggregated_version(accept)
        if version:
            return Response(200, orjson.dumps(discovery.aggregated_discovery(
                registry, core=core, version=version)),
                content_type=discovery.aggregated_content_type(version))
        if core:
            return _json(discovery.api_versions(self.server_address))
        return _json(discovery.api_group_list(registry))

    def _openapi(self, path: str, req: Request) -> Response:
        accept = req.headers.get("accept", "")
        if accept and "json" not in accept and "*/*" not in accept:
            raise NotAcceptable("only application/json is served for OpenAPI documents")
        if path == "/openapi/v2":
            return Response(200, self.openapi.v2_bytes(),
                            headers={"etag": f'"{self.openapi.v2_hash()}"'})
        if path == "/openapi/v3":
            return Response(200, self.openapi.index_bytes())
        body = self.openapi.v3_bytes(path[len("/openapi/v3/"):])
        if body is None:
            raise NotFound("the server could not find the requested resource")
        return Response(200, body, headers={"cache-control": "public, immutable"})

    async def _health(self, path: str) -> Response:
        ok = True
        if self._ready is not None and path.startswith("/readyz"):
            try:
                ok = await asyncio.wait_for(self._ready(), 5.0)
            except Exception:
                ok = False
        if not ok:
            return Response(500, b"readyz check failed: store unreachable\n",
                            content_type="text/plain; charset=utf-8")
        return Response(200, b"ok", content_type="text/plain; charset=utf-8")


def _at(parts: list[str], i: int) -> str:
    return parts[i] if i < len(parts) else ""


def _json(obj: Any, status: int = 200, opts: Options | None = None) -> Response:
    headers = {}
    if opts is not None and opts.warnings:
        headers["warning"] = ", ".join(f'299 - "{w}"' for w in opts.warnings)
    return Response(status, orjson.dumps(obj), headers=headers)


def _error(exc: ApiError) -> Response:
    headers = {}
    retry = exc.details.get("retryAfterSeconds") if exc.details else None
    if retry:
        headers["retry-after"] = str(retry)
    return Response(exc.code, exc.body(), headers=headers)


def _body(req: Request) -> Any:
    return parse_body(req.body, req.headers.get("content-type", JSON))


def _wants_table(accept: str) -> bool:
    return "as=Table" in accept and "g=meta.k8s.io" in accept


def _patch_type(req: Request) -> str:
    media = req.headers.get("content-type", "").split(";")[0].strip().lower()
    patch_type = PATCH_TYPES.get(media)
    if patch_type is None:
        from kubemu.cluster.api.errors import UnsupportedMediaType
        raise UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types "
            f"include: {', '.join(PATCH_TYPES)}")
    return patch_type


def _int_param(q: dict, name: str) -> int:
    try:
        return int(q[name])
    except ValueError:
        raise BadRequest(f'invalid {name}: "{q[name]}": must be an integer') from None


def _options(q: dict) -> Options:
    dry = q.get("dryRun", "")
    if dry and dry != "All":
        raise BadRequest(f'dryRun: Unsupported value: "{dry}": supported values: "All"')
    return Options(dry_run=dry == "All", field_validation=q.get("fieldValidation", "Warn")
                   or "Warn", field_manager=q.get("fieldManager", ""))


def _list_query(q: dict) -> ListQuery:
    return ListQuery(label_selector=q.get("labelSelector", ""),
                     field_selector=q.get("fieldSelector", ""),
                     limit=_int_param(q, "limit") if q.get("limit") else 0,
                     continue_=q.get("continue", ""),
                     resource_version=q.get("resourceVersion", ""),
                     resource_version_match=q.get("resourceVersionMatch", ""))


def _delete_options(req: Request) -> dict:
    options: dict[str, Any] = {}
    if req.body.strip():
        body = parse_body(req.body, req.headers.get("content-type", JSON))
        if not isinstance(body, dict):
            raise BadRequest("the body of a delete request must be DeleteOptions")
        options.update(body)
    q = req.query
    if q.get("gracePeriodSeconds"):
        options["gracePeriodSeconds"] = _int_param(q, "gracePeriodSeconds")
    if q.get("propagationPolicy"):
        options["propagationPolicy"] = q["propagationPolicy"]
    if q.get("orphanDependents") in ("true", "false") and "propagationPolicy" not in options:
        options["propagationPolicy"] = "Orphan" if q["orphanDependents"] == "true" \
            else "Background"
    if q.get("dryRun") == "All" or options.get("dryRun") == ["All"]:
        options["dryRun"] = True
    elif "dryRun" in options:
        raise BadRequest(f'dryRun: Unsupported value: {options["dryRun"]}')
    return options
