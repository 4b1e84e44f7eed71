"""Controller references: who controls an object, and claiming (adopting, releasing) objects.

Upstream's `metav1.GetControllerOf`, `metav1.NewControllerRef` and `ControllerRefManager`. At
most one ownerReference of an object has `controller: true`; that owner is its controller.
A controller claims the objects of its namespace (pods for a ReplicaSet, ReplicaSets for a
Deployment) with `ControllerRefManager.claim`, as upstream's ClaimObject:
- controlled by someone else: not ours, left alone;
- controlled by us and matching our selector: kept;
- controlled by us but no longer matching: released (our ownerReference removed by a
  strategic merge patch `$patch: delete` keyed by uid), unless we are being deleted;
- an orphan matching our selector, not being deleted: adopted (a strategic merge patch adds our
  controller ref with blockOwnerDeletion), unless we are being deleted.
Before the first adoption the controller is re-read from the API server, not the cache
(upstream's RecheckDeletionTimestamp): a controller deleted meanwhile, or replaced by a
namesake with another uid, must not adopt. Both patches carry the object's uid, which the API
server checks, so a same-named replacement is never patched by mistake. NotFound (and, for
release, Invalid) means there is nothing to do; other errors are raised once every object was
tried, so the caller's reconcile backs off.

Only the objects we control and the orphans our selector matches can change a claim's outcome:
`claim_candidates` reads just those from a lister's indexes (controller uid, and labels for a
plain matchLabels selector) instead of every object of the namespace, in the same key order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kubemu.cluster.api.errors import ApiError, Invalid, NotFound
from kubemu.cluster.api.selectors import LabelSelector
from kubemu.cluster.client.lister import Lister, object_key

__all__ = ["controller_of", "new_controller_ref", "is_controlled_by", "ControllerRefManager",
           "AdoptionRefused", "CONTROLLER_INDEX", "controller_index", "claim_candidates"]

CONTROLLER_INDEX = "controller"


def controller_index(obj: dict) -> list[str]:
    """The uid of the object's controller (none for an orphan)."""
    ref = controller_of(obj)
    return [ref["uid"]] if ref is not None and ref.get("uid") else []


def claim_candidates(lister: Lister, namespace: str, owner: dict) -> list[dict]:
    """The objects of `namespace` a claim by `owner` may keep, adopt or release: those it
    controls and, for a plain matchLabels selector, those carrying its labels (every object
    of the namespace for other selectors). The lister needs the CONTROLLER_INDEX and
    LABEL_INDEX indexes."""
    selector = (owner.get("spec") or {}).get("selector") or {}
    labels = selector.get("matchLabels")
    if set(selector) != {"matchLabels"} or not labels or not isinstance(labels, dict):
        return lister.list(namespace)
    uid = (owner.get("metadata") or {}).get("uid") or ""
    found = {object_key(o): o for o in lister.with_labels(namespace, labels)}
    for obj in lister.by_index(CONTROLLER_INDEX, uid):
        if ((obj.get("metadata") or {}).get("namespace") or "") == namespace:
            found.setdefault(object_key(obj), obj)
    return [found[k] for k in sorted(found)]


class AdoptionRefused(Exception):
    """The controller may not adopt: it is gone, replaced, or being deleted."""


def controller_of(obj: dict) -> dict | None:
    """The ownerReference with `controller: true`, if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def new_controller_ref(owner: dict, *, api_version: str | None = None,
                       kind: str | None = None) -> dict:
    """A controller ownerReference naming `owner` (blockOwnerDeletion set, as upstream)."""
    md = owner.get("metadata") or {}
    return {"apiVersion": api_version or owner.get("apiVersion", ""),
            "kind": kind or owner.get("kind", ""), "name": md.get("name", ""),
            "uid": md.get("uid", ""), "controller": True, "blockOwnerDeletion": True}


def is_controlled_by(obj: dict, owner: dict) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == (owner.get("metadata") or {}).get("uid")


class ControllerRefManager:
    """Claims objects of one kind for `controller` (a dict with apiVersion and kind)."""

    def __init__(self, client: Any, controller: dict, selector: LabelSelector, *,
                 api_version: str | None = None, kind: str | None = None) -> None:
        self.client = client
        self.controller = controller
        self.selector = selector
        self.api_version = api_version or controller.get("apiVersion", "")
        self.kind = kind or controller.get("kind", "")
        md = controller.get("metadata") or {}
        self._uid = md.get("uid")
        self._namespace = md.get("namespace") or ""
        self._deleting = bool(md.get("deletionTimestamp"))
        self._adoptable: bool | None = None  # the fresh-read verdict, once per manager
        self._refusal = ""

    async def claim(self, objs: Iterable[dict], *,
                    match: Callable[[dict], bool] | None = None) -> list[dict]:
        """The objects we control after adopting and releasing as needed; raises the first
        API error once every object has been tried."""
        claimed: list[dict] = []
        errors: list[AdoptionRefused | ApiError] = []
        for obj in objs:
            try:
                if await self.claim_object(obj, match=match):
                    claimed.append(obj)
            except (AdoptionRefused, ApiError) as err:
                errors.append(err)
        if errors:
            raise errors[0]
        return claimed

    async def claim_object(self, obj: dict, *,
                           match: Callable[[dict], bool] | None = None) -> bool:
        """Whether we control `obj` now (adopting or releasing it first as needed)."""
        md = obj.get("metadata") or {}
        matches = self.selector.matches(md.get("labels")) and (match is None or match(obj))
        ref = controller_of(obj)
        if ref is not None:
            if ref.get("uid") != self._uid:
                return False
            if matches:
                return True
            if self._deleting:
                return False
            await self.release(obj)
            return False
        if self._deleting or not matches or md.get("deletionTimestamp"):
            return False
        if self._namespace and (md.get("namespace") or "") != self._namespace:
            return False
        try:
            await self.adopt(obj)
        except NotFound:
            return False
        return True

    async def adopt(self, obj: dict) -> dict:
        """Make us the object's controller (after the fresh-read check)."""
        await self._check_can_adopt()
        md = obj.get("metadata") or {}
        patch = {"metadata": {"ownerReferences": [new_controller_ref(
            self.controller, api_version=self.api_version, kind=self.kind)],
            "uid": md.get("uid")}}
        return await self.client.patch(obj.get("apiVersion", "v1"), obj.get("kind", ""),
                                       md.get("name", ""), patch,
                                       namespace=md.get("namespace"), patch_type="strategic")

    async def release(self, obj: dict) -> None:
        """Remove our ownerReference from the object."""
        md = obj.get("metadata") or {}
        patch = {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": self._uid}],
                              "uid": md.get("uid")}}
        try:
            await self.client.patch(obj.get("apiVersion", "v1"), obj.get("kind", ""),
                                    md.get("name", ""), patch, namespace=md.get("namespace"),
                                    patch_type="strategic")
        except (NotFound, Invalid):
            pass  # gone, replaced, or no longer ours

    async def _check_can_adopt(self) -> None:
        if self._adoptable is None:
            md = self.controller.get("metadata") or {}
            try:
                fresh = await self.client.get(self.api_version, self.kind, md.get("name", ""),
                                              namespace=md.get("namespace"))
            except NotFound:
                fresh = None
            fmd = (fresh or {}).get("metadata") or {}
            if fresh is None or fmd.get("uid") != self._uid:
                self._adoptable = False
                self._refusal = (f"original {self.kind} {self._namespace}/{md.get('name')} is "
                                 f"gone: got uid {fmd.get('uid')}, wanted {self._uid}")
            elif fmd.get("deletionTimestamp"):
                self._adoptable = False
                self._refusal = (f"{self._namespace}/{md.get('name')} has just been deleted "
                                 f"at {fmd['deletionTimestamp']}")
            else:
                self._adoptable = True
        if not self._adoptable:
            raise AdoptionRefused(self._refusal)
