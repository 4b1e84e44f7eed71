"""Discovery documents: how kubectl and client libraries learn what the server serves.

Everything is derived from the `Registry`, so CRDs appear and vanish with it. Two forms, both
shaped like kube-apiserver 1.32's JSON:
- legacy: `APIVersions` (/api), `APIGroupList` (/apis), `APIGroup` (/apis/<g>) and
  `APIResourceList` (/api/v1, /apis/<g>/<v>), listing subresources as "pods/status" entries
  with their own kind and verbs (Scale in autoscaling/v1, Eviction in policy/v1, Binding);
- aggregated v2 (`APIGroupDiscoveryList`, one round trip for every group), answered when the
  Accept header asks for it; v2beta1 has the same shape under its own apiVersion.
Resources and subresources are sorted by name, groups follow the registry's discovery order
with the preferred version first. `storageVersionHash` is upstream's: base64 of the first 8
bytes of sha256("group/version/kind"). `version_info` is the /version document.
"""

from __future__ import annotations

import base64
import hashlib
import platform as _platform
import sys

from kubemu.cluster.api.registry import Registry, Resource

__all__ = ["api_versions", "api_group_list", "api_group", "api_resource_list",
           "aggregated_discovery", "aggregated_version", "wants_aggregated",
           "aggregated_content_type", "storage_version_hash", "version_info",
           "AGGREGATED_CONTENT_TYPE", "AGGREGATED_CONTENT_TYPE_V2BETA1", "KUBERNETES_VERSION"]

AGGREGATED_CONTENT_TYPE = \
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_CONTENT_TYPE_V2BETA1 = \
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
KUBERNETES_VERSION = "v1.32.0-kubemu"


def api_versions(server_address: str) -> dict:
    """/api: the core group's versions and the address clients should use."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def api_group_list(registry: Registry) -> dict:
    """/apis: every named group with its versions and preferred version."""
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(g, vs) for g, vs in registry.groups() if g]}


def api_group(registry: Registry, group: str) -> dict | None:
    """/apis/<group>, or None when the group is not served."""
    for g, versions in registry.groups():
        if g and g == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(g, versions)}
    return None


def api_resource_list(registry: Registry, group: str, version: str) -> dict | None:
    """/api/v1 or /apis/<group>/<version>, or None when that group version is not served."""
    resources = registry.resources(group, version)
    if not resources:
        return None
    entries: list[dict] = []
    for r in sorted(resources, key=lambda r: r.plural):
        entry = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                 "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        entry["storageVersionHash"] = storage_version_hash(r.group, r.version, r.kind)
        entries.append(entry)
        for name, (g, v, kind), verbs in _subresources(r):
            sub = {"name": f"{r.plural}/{name}", "singularName": "", "namespaced": r.namespaced}
            if (g, v) != (r.group, r.version):
                sub.update(group=g, version=v)
            sub.update(kind=kind, verbs=list(verbs))
            entries.append(sub)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": entries}


def aggregated_discovery(registry: Registry, *, core: bool, version: str = "v2") -> dict:
    """The APIGroupDiscoveryList for /api (`core=True`) or /apis (every named group)."""
    items = []
    for group, versions in registry.groups():
        if bool(group) == core:
            continue
        items.append({
            "metadata": {"name": group} if group else {},
            "versions": [{"version": v,
                          "resources": [_resource_discovery(r) for r in sorted(
                              registry.resources(group, v), key=lambda r: r.plural)],
                          "freshness": "Current"} for v in versions]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {}, "items": items}


def aggregated_version(accept_header: str) -> str | None:
    """"v2" or "v2beta1" when the Accept header lists aggregated discovery, else None.

    Media ranges are taken in order of their q value (ties keep the client's order); the first
    aggregated APIGroupDiscoveryList form listed wins.
    """
    ranges = []
    for position, media_range in enumerate((accept_header or "").split(",")):
        parts = [p.strip() for p in media_range.split(";")]
        params = {}
        for p in parts[1:]:
            key, _, value = p.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        if q > 0:
            ranges.append((-q, position, parts[0].lower(), params))
    for _, _, media_type, params in sorted(ranges, key=lambda r: (r[0], r[1])):
        if (media_type == "application/json" and params.get("g") == "apidiscovery.k8s.io"
                and params.get("as") == "APIGroupDiscoveryList"
                and params.get("v") in ("v2", "v2beta1")):
            return params["v"]
    return None


def wants_aggregated(accept_header: str) -> bool:
    """Whether to answer /api or /apis with aggregated discovery (see `aggregated_version`)."""
    return aggregated_version(accept_header) is not None


def aggregated_content_type(version: str = "v2") -> str:
    """The exact Content-Type of an aggregated answer; client-go checks g, v and as."""
    return AGGREGATED_CONTENT_TYPE_V2BETA1 if version == "v2beta1" else AGGREGATED_CONTENT_TYPE


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """upstream's discovery.StorageVersionHash."""
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def version_info(*, platform: str | None = None) -> dict:
    """/version, as `kubectl version` reads it."""
    return {"major": "1", "minor": "32", "gitVersion": KUBERNETES_VERSION,
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean", "buildDate": "2024-12-11T00:00:00Z",
            "goVersion": "n/a", "compiler": "n/a", "platform": platform or _host_platform()}


# Subresources: name -> ((group or None for the parent's, version or None, kind or None), verbs)
_SUBRESOURCES: dict[str, tuple[tuple[str | None, str | None, str | None], tuple[str, ...]]] = {
    "status": ((None, None, None), ("get", "patch", "update")),
    "scale": (("autoscaling", "v1", "Scale"), ("get", "patch", "update")),
    "binding": (("", "v1", "Binding"), ("create",)),
    "eviction": (("policy", "v1", "Eviction"), ("create",)),
    "finalize": ((None, None, None), ("update",)),
}


def _subresources(r: Resource) -> list[tuple[str, tuple[str, str, str], tuple[str, ...]]]:
    """[(name, (group, version, kind) of its response, verbs)] sorted by name."""
    result = []
    for name in sorted(r.subresources):
        (g, v, kind), verbs = _SUBRESOURCES.get(name, ((None, None, None), ("get",)))
        result.append((name, (r.group if g is None else g, v or r.version, kind or r.kind),
                       verbs))
    return result


def _group(group: str, versions: list[str]) -> dict:
    listed = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": listed, "preferredVersion": dict(listed[0])}


def _resource_discovery(r: Resource) -> dict:
    entry: dict = {"resource": r.plural,
                   "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                   "scope": "Namespaced" if r.namespaced else "Cluster",
                   "singularResource": r.singular, "verbs": list(r.verbs)}
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    subs = [{"subresource": name, "responseKind": {"group": g, "version": v, "kind": kind},
             "verbs": list(verbs)} for name, (g, v, kind), verbs in _subresources(r)]
    if subs:
        entry["subresources"] = subs
    return entry


def _host_platform() -> str:
    machine = _platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{sys.platform}/{arch}"
