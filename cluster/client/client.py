"""ApiClient: kubemu's one async Kubernetes API client (client-go's dynamic client, asyncio).

Objects are plain dicts; a resource is named by (apiVersion, kind) as in a manifest, and the
client maps it to a REST path through a `Registry` (built-ins by default). A kind the registry
does not know (a custom resource) is resolved once through discovery
(`GET /apis/<group>/<version>`, an APIResourceList) and cached; misses are not cached, so a
CRD established later resolves on the next call. Any non-2xx answer raises the `ApiError`
subclass of its `Status` body; a watch's ERROR event raises the same way (410 Expired after a
compaction). The transport is swappable (transport.py): HTTP for actors and users,
in-process for tests. Single-object verbs on a namespaced kind default to namespace
"default" as kubectl does; list, watch and delete_collection without one span all namespaces.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import Any

import orjson

from kubemu.cluster.api.errors import ApiError, NotFound, error_from_status
from kubemu.cluster.api.registry import Registry, Resource, builtin_registry
from kubemu.cluster.api.request import JSON, Request, Response
from kubemu.cluster.client.transport import Transport

__all__ = ["ApiClient", "PATCH_CONTENT_TYPES", "DEFAULT_NAMESPACE"]

DEFAULT_NAMESPACE = "default"

PATCH_CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}

# Kinds that are only ever POSTed to a subresource of another kind: (apiVersion, kind) of the
# body -> (apiVersion, kind) of the object whose subresource receives it.
_SUBRESOURCE_PARENTS = {
    ("v1", "Binding"): ("v1", "Pod"),
    ("policy/v1", "Eviction"): ("v1", "Pod"),
}


class ApiClient:
    """Async CRUD, list and watch over a `Transport`; raises `ApiError` on failure."""

    def __init__(self, transport: Transport, *, registry: Registry | None = None,
                 user_agent: str = "kubemu-client") -> None:
        self.transport = transport
        self.registry = registry if registry is not None else builtin_registry()
        self._user_agent = user_agent
        self._discovered: dict[tuple[str, str], Resource] = {}

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- resources ---------------------------------------------------------------------------

    async def resource(self, api_version: str, kind: str) -> Resource:
        """The Resource serving (api_version, kind): registry first, then discovery."""
        found = self.registry.by_kind(api_version, kind)
        if found is None:
            found = self._discovered.get((api_version, kind))
        if found is None:
            found = await self._discover(api_version, kind)
        return found

    def path(self, resource: Resource, *, namespace: str | None = None,
             name: str | None = None, subresource: str | None = None) -> str:
        """The REST path of a collection, an object or one of its subresources."""
        base = (f"/apis/{resource.group}/{resource.version}" if resource.group
                else f"/api/{resource.version}")
        if resource.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{resource.plural}"
        if name is not None:
            if not name:
                raise ValueError(f"an empty name cannot address a {resource.kind}")
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        elif subresource:
            raise ValueError("a subresource needs an object name")
        return base

    # -- verbs -------------------------------------------------------------------------------

    async def create(self, obj: dict, *, namespace: str | None = None, dry_run: bool = False,
                     field_manager: str | None = None, field_validation: str | None = None,
                     subresource: str | None = None, name: str | None = None) -> dict:
        """POST `obj` to its collection, or (with `subresource`) to
        `<parent>/<name>/<subresource>`, e.g. a Binding to `pods/<name>/binding`."""
        meta = obj.get("metadata") or {}
        api_version, kind = _type_of(obj)
        if subresource:
            parent = _SUBRESOURCE_PARENTS.get((api_version, kind)) or (api_version, kind)
            resource = await self.resource(*parent)
            target = name or meta.get("name")
            if not target:
                raise ValueError(f"creating {subresource} needs the parent object's name")
        else:
            if name is not None:
                raise ValueError("name only applies to subresource creates")
            resource = await self.resource(api_version, kind)
            target = None
        ns = self._namespace(resource, namespace or meta.get("namespace"))
        query = _options(dry_run=dry_run, field_manager=field_manager,
                         field_validation=field_validation)
        path = self.path(resource, namespace=ns, name=target, subresource=subresource)
        return await self._call("POST", path, query=query, body=obj)

    async def get(self, api_version: str, kind: str, name: str, *,
                  namespace: str | None = None, subresource: str | None = None) -> dict:
        resource = await self.resource(api_version, kind)
        path = self.path(resource, namespace=self._namespace(resource, namespace), name=name,
                         subresource=subresource)
        return await self._call("GET", path)

    async def list(self, api_version: str, kind: str, *, namespace: str | None = None,
                   label_selector: str | None = None, field_selector: str | None = None,
                   limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None,
                   resource_version_match: str | None = None) -> dict:
        """One page of a list (`metadata.continue` names the next page, if any)."""
        resource = await self.resource(api_version, kind)
        query = _params(labelSelector=label_selector, fieldSelector=field_selector,
                        limit=limit, resourceVersion=resource_version,
                        resourceVersionMatch=resource_version_match)
        if continue_:
            query["continue"] = continue_
        return await self._call("GET", self.path(resource, namespace=namespace), query=query)

    async def list_all(self, api_version: str, kind: str, *, namespace: str | None = None,
                       label_selector: str | None = None, field_selector: str | None = None,
                       limit: int = 500, resource_version: str | None = None,
                       resource_version_match: str | None = None) -> AsyncIterator[dict]:
        """Every item of a list, page by page, following continue tokens."""
        token: str | None = None
        while True:
            page = await self.list(api_version, kind, namespace=namespace,
                                   label_selector=label_selector, field_selector=field_selector,
                                   limit=limit, continue_=token,
                                   resource_version=None if token else resource_version,
                                   resource_version_match=None if token
                                   else resource_version_match)
            for item in page.get("items") or ():
                yield item
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    async def update(self, obj: dict, *, subresource: str | None = None,
                     dry_run: bool = False, field_manager: str | None = None,
                     field_validation: str | None = None) -> dict:
        """PUT `obj` (its metadata.resourceVersion, if set, is the precondition)."""
        meta = obj.get("metadata") or {}
        resource = await self.resource(*_type_of(obj))
        path = self.path(resource, namespace=self._namespace(resource, meta.get("namespace")),
                         name=meta.get("name", ""), subresource=subresource)
        query = _options(dry_run=dry_run, field_manager=field_manager,
                         field_validation=field_validation)
        return await self._call("PUT", path, query=query, body=obj)

    async def patch(self, api_version: str, kind: str, name: str,
                    patch: dict | builtins.list | str | bytes, *,
                    namespace: str | None = None, patch_type: str = "merge",
                    subresource: str | None = None, field_manager: str | None = None,
                    field_validation: str | None = None, force: bool = False,
                    dry_run: bool = False) -> dict:
        """PATCH with a merge, strategic-merge, JSON (RFC 6902) or apply (server-side apply)
        patch; `force` takes apply conflicts over."""
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"unknown patch type {patch_type!r}: "
                             f"one of {', '.join(PATCH_CONTENT_TYPES)}")
        resource = await self.resource(api_version, kind)
        path = self.path(resource, namespace=self._namespace(resource, namespace), name=name,
                         subresource=subresource)
        query = _options(dry_run=dry_run, field_manager=field_manager,
                         field_validation=field_validation)
        if force:
            query["force"] = "true"
        return await self._call("PATCH", path, query=query, body=patch,
                                content_type=PATCH_CONTENT_TYPES[patch_type])

    async def delete(self, api_version: str, kind: str, name: str, *,
                     namespace: str | None = None, propagation_policy: str | None = None,
                     grace_period_seconds: int | None = None,
                     preconditions: dict | None = None, dry_run: bool = False) -> dict:
        """DELETE one object; answers the object (still there while finalizers or a grace
        period hold it) or a Success Status."""
        resource = await self.resource(api_version, kind)
        path = self.path(resource, namespace=self._namespace(resource, namespace), name=name)
        body = _delete_options(propagation_policy=propagation_policy,
                               grace_period_seconds=grace_period_seconds,
                               preconditions=preconditions, dry_run=dry_run)
        return await self._call("DELETE", path, body=body)

    async def delete_collection(self, api_version: str, kind: str, *,
                                namespace: str | None = None,
                                label_selector: str | None = None,
                                field_selector: str | None = None,
                                propagation_policy: str | None = None,
                                grace_period_seconds: int | None = None,
                                dry_run: bool = False) -> dict:
        """DELETE every object of a collection matching the selectors."""
        resource = await self.resource(api_version, kind)
        query = _params(labelSelector=label_selector, fieldSelector=field_selector)
        body = _delete_options(propagation_policy=propagation_policy,
                               grace_period_seconds=grace_period_seconds, dry_run=dry_run)
        return await self._call("DELETE", self.path(resource, namespace=namespace),
                                query=query, body=body)

    async def watch(self, api_version: str, kind: str, *, namespace: str | None = None,
                    resource_version: str | None = None, label_selector: str | None = None,
                    field_selector: str | None = None, timeout_seconds: int | None = None,
                    allow_bookmarks: bool = True) -> AsyncIterator[dict]:
        """Events `{"type": ADDED|MODIFIED|DELETED|BOOKMARK, "object": {...}}` after
        `resource_version`; an ERROR event raises its ApiError. Closing the iterator
        (`aclose()`, or leaving `async for`) closes the stream."""
        resource = await self.resource(api_version, kind)
        query = _params(watch="true", resourceVersion=resource_version,
                        labelSelector=label_selector, fieldSelector=field_selector,
                        timeoutSeconds=timeout_seconds)
        if allow_bookmarks:
            query["allowWatchBookmarks"] = "true"
        resp = await self._send("GET", self.path(resource, namespace=namespace), query=query)
        stream = resp.stream if resp.stream is not None else _once(resp.body)
        lines = _lines(stream)
        try:
            async for line in lines:
                event = orjson.loads(line)
                if event.get("type") == "ERROR":
                    raise error_from_status(event.get("object") or {}, code=500)
                yield event
        finally:
            await lines.aclose()
            await _close(stream)

    async def raw(self, method: str, path: str, *, query: dict[str, str] | None = None,
                  body: Any = None, content_type: str = JSON) -> dict:
        """Any other request (discovery, /version): the decoded JSON answer."""
        return await self._call(method, path, query=query, body=body,
                                content_type=content_type)

    # -- internals ---------------------------------------------------------------------------

    def _namespace(self, resource: Resource, namespace: str | None) -> str | None:
        if not resource.namespaced:
            return None
        return namespace or DEFAULT_NAMESPACE

    async def _call(self, method: str, path: str, *, query: dict[str, str] | None = None,
                    body: Any = None, content_type: str = JSON) -> dict:
        resp = await self._send(method, path, query=query, body=body,
                                content_type=content_type)
        return orjson.loads(resp.body) if resp.body else {}

    async def _send(self, method: str, path: str, *, query: dict[str, str] | None = None,
                    body: Any = None, content_type: str = JSON) -> Response:
        headers = {"accept": JSON, "user-agent": self._user_agent}
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else (
                body.encode() if isinstance(body, str) else orjson.dumps(body))
            headers["content-type"] = content_type
        resp = await self.transport.request(Request(method=method, path=path,
                                                     query=dict(query or {}), headers=headers,
                                                     body=data))
        if not 200 <= resp.status < 300:
            if resp.stream is not None:
                await _close(resp.stream)
            raise _error(resp)
        return resp

    async def _discover(self, api_version: str, kind: str) -> Resource:
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            listing = await self._call("GET", path)
        except NotFound:
            listing = {}
        for entry in listing.get("resources") or ():
            if entry.get("kind") == kind and "/" not in entry.get("name", ""):
                found = _resource_from_discovery(group, version, entry, listing)
                self._discovered[(api_version, kind)] = found
                return found
        raise NotFound(f'no matches for kind "{kind}" in version "{api_version}"',
                       details={"kind": kind, "group": group})


def _resource_from_discovery(group: str, version: str, entry: dict, listing: dict) -> Resource:
    plural = entry["name"]
    subresources = tuple(
        e["name"].split("/", 1)[1] for e in listing.get("resources") or ()
        if e.get("name", "").startswith(plural + "/"))
    return Resource(group=group, version=version, kind=entry["kind"], plural=plural,
                    singular=entry.get("singularName") or entry["kind"].lower(),
                    namespaced=bool(entry.get("namespaced")),
                    short_names=tuple(entry.get("shortNames") or ()),
                    categories=tuple(entry.get("categories") or ()),
                    subresources=subresources, verbs=tuple(entry.get("verbs") or ()),
                    custom=True)


def _type_of(obj: dict) -> tuple[str, str]:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not api_version or not kind:
        raise ValueError("the object needs apiVersion and kind")
    return api_version, kind


def _params(**values: Any) -> dict[str, str]:
    return {k: _text(v) for k, v in values.items() if v is not None and v != ""}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _options(*, dry_run: bool, field_manager: str | None,
             field_validation: str | None) -> dict[str, str]:
    query = _params(fieldManager=field_manager, fieldValidation=field_validation)
    if dry_run:
        query["dryRun"] = "All"
    return query


def _delete_options(*, propagation_policy: str | None = None,
                    grace_period_seconds: int | None = None,
                    preconditions: dict | None = None, dry_run: bool = False) -> dict | None:
    opts: dict[str, Any] = {}
    if propagation_policy is not None:
        opts["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        opts["gracePeriodSeconds"] = grace_period_seconds
    if preconditions:
        opts["preconditions"] = preconditions
    if dry_run:
        opts["dryRun"] = ["All"]
    if not opts:
        return None
    return {"kind": "DeleteOptions", "apiVersion": "v1", **opts}


def _error(resp: Response) -> ApiError:
    """The ApiError of a non-2xx answer; a body that is not a Status still maps by code."""
    status: Any = None
    try:
        status = orjson.loads(resp.body) if resp.body else None
    except orjson.JSONDecodeError:
        status = None
    if not isinstance(status, dict) or status.get("kind") != "Status":
        text = resp.body.decode(errors="replace").strip()[:500]
        status = {"code": resp.status, "message": text or f"the server answered {resp.status}"}
    return error_from_status(status, code=resp.status)


async def _lines(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Whole non-empty lines, whatever the chunking of `stream`."""
    pending = b""
    async for chunk in stream:
        pending += chunk
        while True:
            cut = pending.find(b"\n")
            if cut < 0:
                break
            line, pending = pending[:cut], pending[cut + 1:]
            if line.strip():
                yield line
    if pending.strip():
        yield pending


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


async def _close(stream: AsyncIterator[bytes]) -> None:
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        await closer()
