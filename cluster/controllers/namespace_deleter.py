"""Namespaced resources deleter: what the namespace controller does to a Terminating namespace.

Upstream's `namespacedResourcesDeleter`, over the API only. `discover` reads the discovery
documents (`/api/v1`, `/apis` and each group's preferred version) and keeps every namespaced
resource that supports `delete` (subresources skipped); a group whose document fails is a
discovery failure, and the rest are still used. `delete_content` then, per resource: deletes
the collection (DeleteOptions propagationPolicy=Background) when `deletecollection` is
supported, else each listed item; lists again and counts what remains, and which finalizers
hold it. Pods carry an estimate: the longest grace period of the remaining non-terminal pods
less the time since the controller first saw the namespace Terminating (measured on the
controller's clock, never against stored timestamps). Items that remain with no estimate and
no finalizer are an error ("unexpected items still remain").

`conditions` turns the outcome into upstream's five namespace conditions (failure: status
True with its reason and message; success: status False with the ok reason and message), and
`merge_conditions` applies them as upstream's updateConditions (lastTransitionTime changes
only with the status).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubemu.cluster.api.errors import ApiError, NotFound

__all__ = ["NamespacedResource", "ContentOutcome", "discover", "delete_content", "conditions",
           "merge_conditions", "CONDITION_TYPES", "FINALIZER_ESTIMATE_SECONDS"]

FINALIZER_ESTIMATE_SECONDS = 15.0  # upstream's wait for content held by finalizers

CONDITION_TYPES = ("NamespaceDeletionDiscoveryFailure",
                   "NamespaceDeletionGroupVersionParsingFailure",
                   "NamespaceDeletionContentFailure", "NamespaceContentRemaining",
                   "NamespaceFinalizersRemaining")
_OK = {
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered",
                                          "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": (
        "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    "NamespaceDeletionContentFailure": (
        "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": ("ContentHasNoFinalizers",
                                     "All content-preserving finalizers finished"),
}


@dataclass(frozen=True, order=True)
class NamespacedResource:
    group: str
    version: str
    plural: str
    kind: str
    verbs: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """Upstream's GroupResource.String() form used in messages: `pods.`, `jobs.batch`."""
        return f"{self.plural}.{self.group}"

    @property
    def gvr(self) -> str:
        """Upstream's GroupVersionResource %v form: `/v1, Resource=pods`."""
        return f"{self.group}/{self.version}, Resource={self.plural}"


@dataclass
class ContentOutcome:
    remaining: dict[str, int] = field(default_factory=dict)  # group resource -> items left
    finalizers: dict[str, int] = field(default_factory=dict)  # finalizer -> items it holds
    estimate: float = 0.0  # seconds until the remaining content should be gone
    errors: list[str] = field(default_factory=list)  # content deletion failures
    discovery_error: str | None = None

    @property
    def done(self) -> bool:
        """Nothing remains and nothing failed: the namespace may be finalized."""
        return not (self.remaining or self.errors or self.discovery_error)


async def discover(client: Any) -> tuple[list[NamespacedResource], dict[str, str]]:
    """Namespaced resources supporting delete, and the failing group versions' errors."""
    failures: dict[str, str] = {}
    documents: list[tuple[str, dict]] = []
    try:
        documents.append(("v1", await client.raw("GET", "/api/v1")))
    except ApiError as err:
        failures["v1"] = str(err)
    try:
        groups = (await client.raw("GET", "/apis")).get("groups") or []
    except ApiError as err:
        failures["apis"] = str(err)
        groups = []
    for group in groups:
        gv = (group.get("preferredVersion") or {}).get("groupVersion")
        if not gv:
            continue
        try:
            documents.append((gv, await client.raw("GET", f"/apis/{gv}")))
        except ApiError as err:
            failures[gv] = str(err)
    found = []
    for gv, doc in documents:
        group, _, version = gv.rpartition("/")
        for entry in doc.get("resources") or ():
            verbs = frozenset(entry.get("verbs") or ())
            if "/" in entry.get("name", "") or not entry.get("namespaced") \
                    or "delete" not in verbs:
                continue
            found.append(NamespacedResource(group, version, entry["name"], entry["kind"],
                                            verbs))
    return sorted(found), failures


async def delete_content(client: Any, namespace: str, *, elapsed: float) -> ContentOutcome:
    """Delete everything in `namespace` once; what remains. `elapsed`: seconds since the
    namespace was first seen Terminating."""
    resources, failures = await discover(client)
    outcome = ContentOutcome()
    if failures:
        listed = ", ".join(f"{gv}: {msg}" for gv, msg in sorted(failures.items()))
        outcome.discovery_error = (
            f"Discovery failed for some groups, {len(failures)} failing: unable to retrieve "
            f"the complete list of server APIs: {listed}")
    for resource in resources:
        try:
            await _delete_resource(client, resource, namespace, elapsed, outcome)
        except ApiError as err:
            outcome.errors.append(str(err))
    return outcome


def conditions(outcome: ContentOutcome) -> dict[str, tuple[str, str, str]]:
    """Each condition type -> (status, reason, message) for this outcome."""
    result = {t: ("False", *_OK[t]) for t in CONDITION_TYPES}
    if outcome.discovery_error:
        result["NamespaceDeletionDiscoveryFailure"] = ("True", "DiscoveryFailed",
                                                       outcome.discovery_error)
    if outcome.errors:
        msgs = sorted(outcome.errors)
        result["NamespaceDeletionContentFailure"] = (
            "True", "ContentDeletionFailed",
            f"Failed to delete all resource types, {len(msgs)} remaining: {', '.join(msgs)}")
    if outcome.remaining:
        items = sorted(f"{gr} has {n} resource instances"
                       for gr, n in outcome.remaining.items() if n)
        result["NamespaceContentRemaining"] = (
            "True", "SomeResourcesRemain", f"Some resources are remaining: {', '.join(items)}")
    if outcome.finalizers:
        items = sorted(f"{f} in {n} resource instances"
                       for f, n in outcome.finalizers.items() if n)
        result["NamespaceFinalizersRemaining"] = (
            "True", "SomeFinalizersRemain",
            f"Some content in the namespace has finalizers remaining: {', '.join(items)}")
    return result


def merge_conditions(status: dict, wanted: dict[str, tuple[str, str, str]],
                     now: str) -> bool:
    """Apply `wanted` to status.conditions in upstream's order; True when anything changed."""
    current = status.setdefault("conditions", [])
    changed = False
    for ctype in CONDITION_TYPES:
        cstatus, reason, message = wanted[ctype]
        old = next((c for c in current if c.get("type") == ctype), None)
        if old is None:
            current.append({"type": ctype, "status": cstatus, "lastTransitionTime": now,
                            "reason": reason, "message": message})
            changed = True
        elif (old.get("status"), old.get("reason"), old.get("message")) != \
                (cstatus, reason, message):
            if old.get("status") != cstatus:
                old["lastTransitionTime"] = now
            old.update(status=cstatus, reason=reason, message=message)
            changed = True
    return changed


async def _delete_resource(client: Any, resource: NamespacedResource, namespace: str,
                           elapsed: float, outcome: ContentOutcome) -> None:
    av, kind = resource.api_version, resource.kind
    if "deletecollection" in resource.verbs:
        await client.delete_collection(av, kind, namespace=namespace,
                                       propagation_policy="Background")
    elif "list" in resource.verbs:
        for item in (await client.list(av, kind, namespace=namespace)).get("items") or ():
            try:
                await client.delete(av, kind, item["metadata"]["name"], namespace=namespace,
                                    propagation_policy="Background")
            except NotFound:
                pass
    if "list" not in resource.verbs:
        return
    items = (await client.list(av, kind, namespace=namespace)).get("items") or []
    if not items:
        return
    held: dict[str, int] = {}
    for item in items:
        for finalizer in (item.get("metadata") or {}).get("finalizers") or ():
            held[finalizer] = held.get(finalizer, 0) + 1
    for finalizer, n in held.items():
        outcome.finalizers[finalizer] = outcome.finalizers.get(finalizer, 0) + n
    outcome.remaining[resource.group_resource] = len(items)
    estimate = _pod_estimate(items, elapsed) if (resource.group, kind) == ("", "Pod") else 0.0
    if estimate <= 0 and held:
        estimate = FINALIZER_ESTIMATE_SECONDS
    if estimate <= 0:
        outcome.errors.append(f"unexpected items still remain in namespace: {namespace} "
                              f"for gvr: {resource.gvr}")
    outcome.estimate = max(outcome.estimate, estimate)


def _pod_estimate(pods: list[dict], elapsed: float) -> float:
    longest = 0.0
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        if grace is not None:
            longest = max(longest, float(grace))
    return longest - elapsed if elapsed < longest else 0.0
