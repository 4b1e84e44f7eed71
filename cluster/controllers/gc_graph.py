"""Garbage collector graph and decisions: who owns whom, and what to do with a dependent.

Upstream's GraphBuilder keeps a graph of every object with owner links; here `OwnerIndex` keeps
the two maps the collector needs, fed by informer events: object uid -> `ObjectRef`, and owner
uid -> the refs of its dependents (an owner need not be known: a dependent whose owner was
never seen is indexed under the owner's uid all the same). Invariant: after every `upsert` and
`remove`, `dependents(uid)` holds exactly the indexed objects naming `uid` in an
ownerReference.

`decide` is upstream's attemptToDeleteItem choice, sans I/O, given the state of each owner
(`SOLID` exists, `DANGLING` absent or a different uid, `WAITING` exists but is being deleted
in the foreground): some solid owner -> drop only the refs to dangling and waiting owners
(nothing if there are none); no solid owner but one waiting -> delete, in the foreground when
the object has dependents of its own (so they go first) or else in the background; every owner
dangling -> delete, honouring an orphan/foreground finalizer the object already carries,
background otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["ObjectRef", "OwnerIndex", "OwnerState", "Action", "decide", "owner_uids",
           "is_deleting_dependents", "blocks_owner", "ORPHAN", "FOREGROUND", "group_of"]

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"


@dataclass(frozen=True, order=True)
class ObjectRef:
    """One object by type and name (the collector's work-queue key)."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: dict, *, api_version: str | None = None,
           kind: str | None = None) -> ObjectRef:
        md = obj.get("metadata") or {}
        return cls(api_version or obj.get("apiVersion") or "", kind or obj.get("kind") or "",
                   md.get("namespace") or "", md.get("name") or "")

    @property
    def group(self) -> str:
        return group_of(self.api_version)

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


class OwnerState(Enum):
    SOLID = "solid"
    DANGLING = "dangling"
    WAITING = "waitingForDependentsDeletion"


@dataclass(frozen=True)
class Action:
    """What to do with a dependent: delete it with `policy`, or drop the refs to
    `remove_owners` (owner uids)."""

    delete_policy: str | None = None
    remove_owners: frozenset[str] = frozenset()


class OwnerIndex:
    def __init__(self) -> None:
        self._refs: dict[str, ObjectRef] = {}  # uid -> ref
        self._owners: dict[ObjectRef, frozenset[str]] = {}  # ref -> owner uids it names
        self._dependents: dict[str, set[ObjectRef]] = {}  # owner uid -> dependents

    def upsert(self, ref: ObjectRef, obj: dict) -> None:
        uid = (obj.get("metadata") or {}).get("uid")
        if uid:
            self._refs[uid] = ref
        self._unlink(ref)
        owners = frozenset(owner_uids(obj))
        if owners:
            self._owners[ref] = owners
            for owner in owners:
                self._dependents.setdefault(owner, set()).add(ref)

    def remove(self, ref: ObjectRef, obj: dict) -> None:
        uid = (obj.get("metadata") or {}).get("uid")
        if uid and self._refs.get(uid) == ref:
            del self._refs[uid]
        self._unlink(ref)

    def ref_of(self, uid: str) -> ObjectRef | None:
        return self._refs.get(uid)

    def dependents(self, owner_uid: str) -> list[ObjectRef]:
        return sorted(self._dependents.get(owner_uid, ()))

    def has_dependents(self, owner_uid: str) -> bool:
        return bool(self._dependents.get(owner_uid))

    def _unlink(self, ref: ObjectRef) -> None:
        for owner in self._owners.pop(ref, ()):
            deps = self._dependents.get(owner)
            if deps is not None:
                deps.discard(ref)
                if not deps:
                    del self._dependents[owner]


def decide(obj: dict, states: dict[str, OwnerState], *, has_dependents: bool) -> Action | None:
    """The action for dependent `obj` given the state of each owner uid (None: leave it)."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    solid = [r for r in refs if states.get(r.get("uid")) is OwnerState.SOLID]
    dangling = [r for r in refs if states.get(r.get("uid")) is OwnerState.DANGLING]
    waiting = [r for r in refs if states.get(r.get("uid")) is OwnerState.WAITING]
    if not refs or len(solid) + len(dangling) + len(waiting) < len(refs):
        return None  # no owners, or some owner's state is unknown
    if solid:
        gone = frozenset(r.get("uid") for r in dangling + waiting)
        return Action(remove_owners=gone) if gone else None
    if waiting:
        return Action(delete_policy="Foreground" if has_dependents else "Background")
    finalizers = (obj.get("metadata") or {}).get("finalizers") or []
    if ORPHAN in finalizers:
        return Action(delete_policy="Orphan")
    if FOREGROUND in finalizers:
        return Action(delete_policy="Foreground")
    return Action(delete_policy="Background")


def owner_uids(obj: dict) -> list[str]:
    return [r["uid"] for r in (obj.get("metadata") or {}).get("ownerReferences") or ()
            if r.get("uid")]


def is_deleting_dependents(obj: dict) -> bool:
    """Being deleted in the foreground: deletionTimestamp and the foregroundDeletion
    finalizer."""
    md = obj.get("metadata") or {}
    return bool(md.get("deletionTimestamp")) and FOREGROUND in (md.get("finalizers") or ())


def blocks_owner(obj: dict, owner_uid: str) -> bool:
    """`obj` names `owner_uid` with blockOwnerDeletion=true."""
    return any(r.get("uid") == owner_uid and r.get("blockOwnerDeletion")
               for r in (obj.get("metadata") or {}).get("ownerReferences") or ())


def group_of(api_version: str) -> str:
    group, sep, _ = api_version.rpartition("/")
    return group if sep else ""
