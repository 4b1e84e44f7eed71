"""The resource registry: which kinds the API serves, under which group, version and plural.

A `Resource` is upstream's APIResource plus what the handlers need (subresources, whether
status is separate from spec, the storage prefix). The built-in table mirrors kube-apiserver
1.32 (group/version, plural, short names, categories); `Registry.add_custom` serves the kind
of an established CustomResourceDefinition and `remove_custom` withdraws it, so discovery,
OpenAPI and the handlers all follow CRDs through this one object. Objects live in the store at
`/registry/<group or "core">/<plural>/[<namespace>/]<name>`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Resource", "Registry", "BUILTIN", "ALL_VERBS", "builtin_registry",
           "resource_from_crd"]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale", "binding", "eviction"
    verbs: tuple[str, ...] = ALL_VERBS
    custom: bool = False  # served from a CustomResourceDefinition
    printer_columns: tuple[dict, ...] = field(default=(), compare=False)  # CRD extra columns
    schema: dict | None = field(default=None, compare=False)  # CRD openAPIV3Schema

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def group_resource(self) -> str:
        """`pods`, `deployments.apps`: the qualified name used in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def status_separate(self) -> bool:
        """Whether the main resource ignores status and /status ignores everything else."""
        return "status" in self.subresources

    def prefix(self, namespace: str = "") -> str:
        """The store prefix of this resource's objects (in one namespace if given)."""
        base = f"/registry/{self.group or 'core'}/{self.plural}/"
        return f"{base}{namespace}/" if namespace and self.namespaced else base

    def key(self, namespace: str, name: str) -> str:
        return f"{self.prefix(namespace)}{name}"


def _r(group: str, version: str, kind: str, plural: str, *, namespaced: bool = True,
       short: Iterable[str] = (), categories: Iterable[str] = (),
       sub: Iterable[str] = (), verbs: Iterable[str] = ALL_VERBS) -> Resource:
    return Resource(group=group, version=version, kind=kind, plural=plural,
                    singular=kind.lower(), namespaced=namespaced, short_names=tuple(short),
                    categories=tuple(categories), subresources=tuple(sub), verbs=tuple(verbs))


_ALL = ("all",)
_NO_DC = tuple(v for v in ALL_VERBS if v != "deletecollection")

BUILTIN: tuple[Resource, ...] = (
    # core/v1
    _r("", "v1", "Namespace", "namespaces", namespaced=False, short=("ns",),
       sub=("status", "finalize"),
       verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _r("", "v1", "Node", "nodes", namespaced=False, short=("no",), sub=("status",)),
    _r("", "v1", "Pod", "pods", short=("po",), categories=_ALL,
       sub=("status", "binding", "eviction")),
    _r("", "v1", "Service", "services", short=("svc",), categories=_ALL, sub=("status",),
       verbs=_NO_DC),
    _r("", "v1", "Endpoints", "endpoints", short=("ep",)),
    _r("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _r("", "v1", "Secret", "secrets"),
    _r("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",)),
    _r("", "v1", "Event", "events", short=("ev",)),
    _r("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short=("pv",),
       sub=("status",)),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",),
       sub=("status",)),
    # apps/v1
    _r("apps", "v1", "Deployment", "deployments", short=("deploy",), categories=_ALL,
       sub=("status", "scale")),
    _r("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), categories=_ALL,
       sub=("status", "scale")),
    _r("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), categories=_ALL,
       sub=("status", "scale")),
    _r("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), categories=_ALL,
       sub=("status",)),
    _r("apps", "v1", "ControllerRevision", "controllerrevisions"),
    # batch/v1
    _r("batch", "v1", "Job", "jobs", categories=_ALL, sub=("status",)),
    _r("batch", "v1", "CronJob", "cronjobs", short=("cj",), categories=_ALL, sub=("status",)),
    # discovery, coordination, networking, policy, scheduling
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _r("coordination.k8s.io", "v1", "Lease", "leases"),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), sub=("status",)),
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",),
       sub=("status",)),
    _r("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", namespaced=False,
       short=("pc",)),
    # rbac (stored now, enforced later)
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
       namespaced=False),
    # apiextensions
    _r("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
       namespaced=False, short=("crd", "crds"), sub=("status",)),
)

# Group order in discovery, as kube-apiserver lists them (custom groups follow).
GROUP_ORDER = ("", "apps", "batch", "discovery.k8s.io", "coordination.k8s.io",
               "networking.k8s.io", "policy", "scheduling.k8s.io",
               "rbac.authorization.k8s.io", "apiextensions.k8s.io")


class Registry:
    """Every served resource, found by (group, version, plural) or by kind."""

    def __init__(self, resources: Iterable[Resource] = BUILTIN) -> None:
        self._by_path: dict[tuple[str, str, str], Resource] = {}
        for r in resources:
            self._add(r)

    def _add(self, r: Resource) -> None:
        self._by_path[(r.group, r.version, r.plural)] = r

    def lookup(self, group: str, version: str, plural: str) -> Resource | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> Resource | None:
        group, _, version = api_version.rpartition("/")
        for r in self._by_path.values():
            if r.group == group and r.version == version and r.kind == kind:
                return r
        return None

    def resources(self, group: str | None = None, version: str | None = None) -> list[Resource]:
        return [r for r in self._by_path.values()
                if (group is None or r.group == group)
                and (version is None or r.version == version)]

    def groups(self) -> list[tuple[str, list[str]]]:
        """[(group, [versions, preferred first])] in discovery order."""
        versions: dict[str, list[str]] = {}
        for r in self._by_path.values():
            vs = versions.setdefault(r.group, [])
            if r.version not in vs:
                vs.append(r.version)
        known = [g for g in GROUP_ORDER if g in versions]
        custom = sorted(g for g in versions if g not in GROUP_ORDER)
        return [(g, versions[g]) for g in known + custom]

    def add_custom(self, resources: Iterable[Resource]) -> None:
        for r in resources:
            self._add(r)

    def remove_custom(self, group: str, plural: str) -> None:
        for key in [k for k, r in self._by_path.items()
                    if r.custom and r.group == group and r.plural == plural]:
            del self._by_path[key]

    def custom_resources(self) -> list[Resource]:
        return [r for r in self._by_path.values() if r.custom]


def builtin_registry() -> Registry:
    return Registry(BUILTIN)


def resource_from_crd(crd: dict) -> list[Resource]:
    """The served versions of a CustomResourceDefinition object, as Resources."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    result = []
    for v in spec.get("versions") or []:
        if not v.get("served", True):
            continue
        sub = []
        subresources = v.get("subresources") or {}
        if "status" in subresources:
            sub.append("status")
        if "scale" in subresources:
            sub.append("scale")
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        result.append(Resource(
            group=spec.get("group", ""), version=v.get("name", ""), kind=names.get("kind", ""),
            plural=names.get("plural", ""),
            singular=names.get("singular") or names.get("kind", "").lower(),
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()),
            categories=tuple(names.get("categories") or ()), subresources=tuple(sub),
            custom=True, printer_columns=tuple(v.get("additionalPrinterColumns") or ()),
            schema=schema))
    return result
