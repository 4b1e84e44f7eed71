"""StatefulPodControl: the StatefulSet controller's writes of pods and their PVCs, with Events.

Upstream's StatefulPodControl. Creating a pod first creates its missing PersistentVolumeClaims
(`<claim>-<set>-<ordinal>`, owner references per the retention policy) and then the pod;
binding the claims to volumes is out of scope. Events are upstream's, on the StatefulSet:
"SuccessfulCreate" "create Pod web-0 in StatefulSet web successful", "create Claim
www-web-0 Pod web-0 in StatefulSet web success", "SuccessfulDelete" "delete Pod web-2 in
StatefulSet web successful", and FailedCreate/FailedDelete/FailedUpdate warnings ending in
"failed error: <message>". A pod already gone counts as deleted (no Event). Claims are read
from the PVC informer's cache; a create that finds the claim existing is not an error.
"""

from __future__ import annotations

from typing import Any

from kubemu.cluster.api.errors import AlreadyExists, ApiError, Conflict, NotFound
from kubemu.cluster.controllers.events import NORMAL, WARNING
from kubemu.cluster.controllers.statefulset_utils import (
    claim_owner_refs,
    claims_for,
    identity_labels,
    ordinal_of,
)

__all__ = ["StatefulPodControl"]


class StatefulPodControl:
    def __init__(self, client: Any, recorder: Any | None, *, claim_lister: Any) -> None:
        self.client = client
        self.recorder = recorder
        self.claims = claim_lister

    async def create_pod(self, sts: dict, pod: dict) -> dict:
        """Create the pod's missing claims, then the pod."""
        await self.create_missing_claims(sts, pod)
        name = pod["metadata"]["name"]
        try:
            created = await self.client.create(pod, namespace=pod["metadata"]["namespace"])
        except AlreadyExists:
            raise  # the cache is behind: the sync is retried once it caught up
        except ApiError as err:
            self._pod_event(sts, "Create", name, err)
            raise
        self._pod_event(sts, "Create", name, None)
        return created

    async def delete_pod(self, sts: dict, pod: dict) -> None:
        md = pod.get("metadata") or {}
        try:
            await self.client.delete("v1", "Pod", md.get("name", ""),
                                     namespace=md.get("namespace"),
                                     preconditions={"uid": md["uid"]} if md.get("uid") else None)
        except (NotFound, Conflict):
            return  # gone already, or a newer pod holds the name
        except ApiError as err:
            self._pod_event(sts, "Delete", md.get("name", ""), err)
            raise
        self._pod_event(sts, "Delete", md.get("name", ""), None)

    async def update_identity(self, sts: dict, pod: dict) -> None:
        """Restore the pod's identity labels (upstream's UpdateStatefulPod; hostname,
        subdomain and volumes are immutable in a pod, so only labels can be repaired)."""
        md = pod.get("metadata") or {}
        patch = {"metadata": {"labels": identity_labels(sts, ordinal_of(pod)),
                              "uid": md.get("uid")}}
        try:
            await self.client.patch("v1", "Pod", md.get("name", ""), patch,
                                    namespace=md.get("namespace"), patch_type="merge")
        except NotFound:
            return
        except ApiError as err:
            self._pod_event(sts, "Update", md.get("name", ""), err)
            raise
        self._pod_event(sts, "Update", md.get("name", ""), None)

    async def create_missing_claims(self, sts: dict, pod: dict) -> None:
        namespace = (sts.get("metadata") or {}).get("namespace") or None
        pod_name = (pod.get("metadata") or {}).get("name", "")
        errors: list[ApiError] = []
        for claim in claims_for(sts, ordinal_of(pod)):
            name = claim["metadata"]["name"]
            if self.claims.get(name, namespace) is not None:
                continue
            refs = claim_owner_refs(claim, sts, pod)
            if refs:
                claim["metadata"]["ownerReferences"] = refs
            try:
                await self.client.create(claim, namespace=namespace)
            except AlreadyExists:
                continue
            except ApiError as err:
                self._claim_event(sts, "Create", name, pod_name, err)
                errors.append(err)
                continue
            self._claim_event(sts, "Create", name, pod_name, None)
        if errors:
            raise errors[0]

    def claim_is_stale(self, sts: dict, pod: dict) -> bool:
        """A claim of the pod is still being deleted (upstream's PodClaimIsStale): creating
        the pod now would mount a dying claim, so the sync waits."""
        namespace = (sts.get("metadata") or {}).get("namespace") or None
        for claim in claims_for(sts, ordinal_of(pod)):
            cached = self.claims.get(claim["metadata"]["name"], namespace)
            if cached is not None and (cached.get("metadata") or {}).get("deletionTimestamp"):
                return True
        return False

    def claims_match_retention(self, sts: dict, pod: dict) -> bool:
        namespace = (sts.get("metadata") or {}).get("namespace") or None
        for claim in claims_for(sts, ordinal_of(pod)):
            cached = self.claims.get(claim["metadata"]["name"], namespace)
            if cached is None:
                continue
            if not _same_refs(cached, claim_owner_refs(cached, sts, pod)):
                return False
        return True

    async def fix_claims_retention(self, sts: dict, pod: dict) -> None:
        """Rewrite the ownerReferences of the pod's claims to match the retention policy."""
        namespace = (sts.get("metadata") or {}).get("namespace") or None
        for claim in claims_for(sts, ordinal_of(pod)):
            cached = self.claims.get(claim["metadata"]["name"], namespace)
            if cached is None:
                continue
            refs = claim_owner_refs(cached, sts, pod)
            if _same_refs(cached, refs):
                continue
            md = cached.get("metadata") or {}
            patch = {"metadata": {"ownerReferences": refs or None,
                                  "resourceVersion": md.get("resourceVersion")}}
            try:
                await self.client.patch("v1", "PersistentVolumeClaim", md.get("name", ""),
                                        patch, namespace=namespace, patch_type="merge")
            except NotFound:
                continue
            except ApiError as err:
                self._claim_event(sts, "Update", md.get("name", ""),
                                  (pod.get("metadata") or {}).get("name", ""), err)
                raise

    def _pod_event(self, sts: dict, verb: str, name: str, err: ApiError | None) -> None:
        set_name = (sts.get("metadata") or {}).get("name", "")
        if err is None:
            self._record(sts, NORMAL, f"Successful{verb}",
                         f"{verb.lower()} Pod {name} in StatefulSet {set_name} successful")
        else:
            self._record(sts, WARNING, f"Failed{verb}",
                         f"{verb.lower()} Pod {name} in StatefulSet {set_name} failed error: "
                         f"{err.message}")

    def _claim_event(self, sts: dict, verb: str, claim: str, pod: str,
                     err: ApiError | None) -> None:
        set_name = (sts.get("metadata") or {}).get("name", "")
        text = f"{verb.lower()} Claim {claim} Pod {pod} in StatefulSet {set_name}"
        if err is None:
            self._record(sts, NORMAL, f"Successful{verb}", f"{text} success")
        else:
            self._record(sts, WARNING, f"Failed{verb}", f"{text} failed error: {err.message}")

    def _record(self, obj: dict, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.record(obj, type_, reason, message)


def _same_refs(claim: dict, refs: list[dict]) -> bool:
    have = (claim.get("metadata") or {}).get("ownerReferences") or []
    key = lambda r: (r.get("uid"), r.get("kind"), bool(r.get("controller")))
    return sorted(map(key, have)) == sorted(map(key, refs))
