"""FakeApi: a small in-memory Kubernetes API (a stand-in until the real Router exists).

It speaks the same `Request` / `Response` as the router (`async handle(req)`), so tests run the
real `ApiClient` through `RouterTransport(FakeApi())`. It keeps one global resourceVersion,
an event history that `compact()` drops (a watch from before it gets an ERROR 410 Expired
event, as kube-apiserver answers), continue tokens that expire with compaction, bookmarks on
demand, and fault hooks: `hold()` stops delivering live events (a network gap),
`end_watches()` ends every open stream, `fail_next(n, status)` answers the next n matching
requests with an error. Only what the client and informer tests need: equality label
selectors, merge patches, Binding creates.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable

import orjson

from kubemu.cluster.api import errors
from kubemu.cluster.api.registry import Registry, Resource, builtin_registry
from kubemu.cluster.api.request import Request, Response

WIDGET = Resource(group="example.com", version="v1", kind="Widget", plural="widgets",
                  singular="widget", namespaced=True, subresources=("status",), custom=True)
"""A custom kind the fake serves but the client's built-in registry does not know."""


class FakeApi:
    def __init__(self) -> None:
        self.registry: Registry = builtin_registry()
        self.registry.add_custom([WIDGET])
        self.objects: dict[tuple[str, str, str], dict] = {}  # (group/plural, ns, name)
        self.rv = 100
        self.history: list[tuple[int, str, str, dict]] = []  # (rv, resource id, type, obj)
        self.compacted = 0
        self.requests: list[Request] = []
        self.watches: list[_Stream] = []
        self.held = False
        self._faults: list[tuple[Callable[[Request], bool], int]] = []

    # -- fault and timing hooks ----------------------------------------------------------

    def hold(self, held: bool = True) -> None:
        """While held, writes reach no open watch (their events are lost to them)."""
        self.held = held

    def end_watches(self) -> None:
        for w in list(self.watches):
            w.push(None)

    def compact(self) -> None:
        self.compacted = self.rv
        self.history.clear()

    def bookmark(self) -> None:
        for w in self.watches:
            if w.bookmarks:
                w.push({"type": "BOOKMARK", "object": {
                    "kind": w.resource.kind, "apiVersion": w.resource.api_version,
                    "metadata": {"resourceVersion": str(self.rv)}}})

    def fail_next(self, n: int, status: int = 500, *, watch: bool | None = None) -> None:
        for _ in range(n):
            self._faults.append((lambda r: watch is None or _is_watch(r) == watch, status))

    def count(self, *, watch: bool, method: str = "GET") -> int:
        return sum(1 for r in self.requests if r.method == method and _is_watch(r) == watch
                   and _parts(r.path)[1] is not None)

    # -- the API -------------------------------------------------------------------------

    async def handle(self, req: Request) -> Response:
        self.requests.append(req)
        for i, (matches, status) in enumerate(self._faults):
            if matches(req):
                del self._faults[i]
                return _error(errors.InternalError("injected fault") if status == 500
                              else errors.ServiceUnavailable("injected fault"), status)
        try:
            return self._route(req)
        except errors.ApiError as err:
            return _error(err, err.code)

    def _route(self, req: Request) -> Response:
        gv, rest = _parts(req.path)
        group, _, version = gv.rpartition("/")
        if rest is None:
            return self._discovery(group, version)
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        res = self.registry.lookup(group, version, rest[0])
        if res is None:
            raise errors.NotFound("the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        body = orjson.loads(req.body) if req.body else None
        if req.method == "GET" and name is None:
            return self._watch(res, ns, req) if _is_watch(req) else self._list(res, ns, req)
        if req.method == "GET":
            return _ok(self._get(res, ns, name))
        if req.method == "POST" and sub == "binding":
            pod = copy.deepcopy(self._get(res, ns, name))
            pod.setdefault("spec", {})["nodeName"] = body["target"]["name"]
            self._write(res, pod, "MODIFIED")
            return _ok({"kind": "Status", "apiVersion": "v1", "status": "Success",
                        "code": 201}, 201)
        if req.method == "POST":
            return _ok(self._create(res, ns, body), 201)
        if req.method == "PUT":
            return _ok(self._update(res, ns, name, body))
        if req.method == "PATCH":
            obj = _merge(copy.deepcopy(self._get(res, ns, name)), body)
            return _ok(self._write(res, obj, "MODIFIED"))
        if req.method == "DELETE" and name is not None:
            obj = self._get(res, ns, name)
            del self.objects[(res.group_resource, ns or "", name)]
            return _ok(self._write(res, copy.deepcopy(obj), "DELETED", store=False))
        if req.method == "DELETE":
            gone = [o for o in self._select(res, ns, req)]
            for o in gone:
                del self.objects[(res.group_resource, ns or "", o["metadata"]["name"])]
                self._write(res, copy.deepcopy(o), "DELETED", store=False)
            return _ok({"kind": res.list_kind, "apiVersion": res.api_version,
                        "metadata": {}, "items": gone})
        raise errors.MethodNotAllowed(f"{req.method} is not supported")

    def _discovery(self, group: str, version: str) -> Response:
        found = self.registry.resources(group, version)
        if not found:
            raise errors.NotFound("the server could not find the requested resource")
        resources = []
        for r in found:
            resources.append({"name": r.plural, "singularName": r.singular,
                              "namespaced": r.namespaced, "kind": r.kind,
                              "verbs": list(r.verbs)})
            resources += [{"name": f"{r.plural}/{s}", "namespaced": r.namespaced,
                           "kind": r.kind, "verbs": ["get"]} for s in r.subresources]
        return _ok({"kind": "APIResourceList", "apiVersion": "v1",
                    "groupVersion": f"{group}/{version}" if group else version,
                    "resources": resources})

    def _get(self, res: Resource, ns: str | None, name: str) -> dict:
        obj = self.objects.get((res.group_resource, ns or "", name))
        if obj is None:
            raise errors.NotFound.of(res.plural, res.group, name)
        return obj

    def _create(self, res: Resource, ns: str | None, body: dict) -> dict:
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{self.rv + 1:05d}"
        if (res.group_resource, ns or "", meta["name"]) in self.objects:
            raise errors.AlreadyExists.of(res.plural, res.group, meta["name"])
        if ns:
            meta["namespace"] = ns
        meta["uid"] = f"uid-{meta['name']}"
        return self._write(res, body, "ADDED")

    def _update(self, res: Resource, ns: str | None, name: str, body: dict) -> dict:
        current = self._get(res, ns, name)
        want = body.get("metadata", {}).get("resourceVersion")
        if want and want != current["metadata"]["resourceVersion"]:
            raise errors.Conflict.modified(res.plural, res.group, name)
        return self._write(res, body, "MODIFIED")

    def _write(self, res: Resource, obj: dict, kind: str, *, store: bool = True) -> dict:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        meta = obj["metadata"]
        if store:
            self.objects[(res.group_resource, meta.get("namespace", ""), meta["name"])] = obj
        event = copy.deepcopy(obj)
        self.history.append((self.rv, res.group_resource, kind, event))
        if not self.held:
            for w in self.watches:
                if w.resource == res and w.namespace in (None, meta.get("namespace")) \
                        and _labels_match(event, w.selector):
                    w.push({"type": kind, "object": event})
        return obj

    def _select(self, res: Resource, ns: str | None, req: Request) -> list[dict]:
        sel = req.query.get("labelSelector", "")
        return [o for (gr, o_ns, _), o in sorted(self.objects.items(), key=lambda kv: kv[0])
                if gr == res.group_resource and (ns is None or o_ns == ns)
                and _labels_match(o, sel)]

    def _list(self, res: Resource, ns: str | None, req: Request) -> Response:
        items = self._select(res, ns, req)
        start, list_rv = 0, self.rv
        token = req.query.get("continue")
        if token:
            start_s, rv_s = token.split("|")
            if int(rv_s) < self.compacted:
                raise errors.Expired("The provided continue parameter is too old")
            start, list_rv = int(start_s), int(rv_s)
        limit = int(req.query.get("limit", "0")) or len(items)
        page = items[start:start + limit]
        meta: dict = {"resourceVersion": str(list_rv)}
        if start + limit < len(items):
            meta["continue"] = f"{start + limit}|{list_rv}"
        return _ok({"kind": res.list_kind, "apiVersion": res.api_version, "metadata": meta,
                    "items": [_untyped(o) for o in page]})

    def _watch(self, res: Resource, ns: str | None, req: Request) -> Response:
        stream = _Stream(self, res, ns, req.query.get("labelSelector", ""),
                         req.query.get("allowWatchBookmarks") == "true")
        rv = req.query.get("resourceVersion")
        if rv and rv != "0" and int(rv) < self.compacted:
            stream.push({"type": "ERROR", "object": errors.Expired(
                f"too old resource version: {rv} ({self.compacted})").status()})
            stream.push(None)
            return Response(200, stream=stream)
        if not rv or rv == "0":
            for o in self._select(res, ns, req):
                stream.push({"type": "ADDED", "object": copy.deepcopy(o)})
        else:
            for ev_rv, gr, kind, obj in self.history:
                if ev_rv > int(rv) and gr == res.group_resource \
                        and ns in (None, obj["metadata"].get("namespace")):
                    stream.push({"type": kind, "object": copy.deepcopy(obj)})
        self.watches.append(stream)
        return Response(200, stream=stream)


class _Stream:
    """One open watch: queued event lines until `None` ends it; `aclose()` unregisters."""

    def __init__(self, api: FakeApi, resource: Resource, namespace: str | None,
                 selector: str, bookmarks: bool) -> None:
        self.api, self.resource, self.namespace = api, resource, namespace
        self.selector, self.bookmarks = selector, bookmarks
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed = False

    def push(self, event: dict | None) -> None:
        self.queue.put_nowait(None if event is None else orjson.dumps(event) + b"\n")

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> bytes:
        line = None if self.closed else await self.queue.get()
        if line is None:
            await self.aclose()
            raise StopAsyncIteration
        return line

    async def aclose(self) -> None:
        self.closed = True
        if self in self.api.watches:
            self.api.watches.remove(self)


def _parts(path: str) -> tuple[str, list[str] | None]:
    segs = [s for s in path.split("/") if s]
    if segs[:1] == ["api"]:
        return segs[1], segs[2:] or None
    return f"{segs[1]}/{segs[2]}", segs[3:] or None


def _is_watch(req: Request) -> bool:
    return req.query.get("watch") in ("true", "1")


def _labels_match(obj: dict, selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    pairs = [p.split("=", 1) for p in selector.split(",") if p]
    return all(labels.get(k) == v for k, v in pairs)


def _merge(target: dict, patch: dict) -> dict:
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            _merge(target[k], v)
        else:
            target[k] = v
    return target


def _untyped(obj: dict) -> dict:
    out = copy.deepcopy(obj)
    out.pop("kind", None)
    out.pop("apiVersion", None)
    return out


def _ok(obj: dict, status: int = 200) -> Response:
    return Response(status, body=orjson.dumps(obj))


def _error(err: errors.ApiError, status: int) -> Response:
    return Response(status, body=err.body())
