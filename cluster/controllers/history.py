"""ControllerRevision history: the snapshots StatefulSets and DaemonSets roll between.

Upstream's `pkg/controller/history`. A ControllerRevision (apps/v1) holds `data` -- for a
StatefulSet or DaemonSet the strategic merge patch `{"spec": {"template": {..., "$patch":
"replace"}}}` -- and a `revision` number, and is controlled by its owner. Its name is
`<owner>-<hash>`, the hash being fnv-32 (not 32a, as upstream's `fnv.New32`) of the data's
canonical JSON (sorted keys, compact: what Go's json.Marshal of a map writes) followed by the
owner's collisionCount in decimal when set, safe-encoded; the hash is also its
`controller.kubernetes.io/hash` label, beside the owner's template labels.

Invariants: revision numbers grow (`next_revision` is one above the highest); two revisions
are equal when their hash labels and data are (`equal_revision`); creating a revision whose
name is taken by an unequal one bumps the collision count and retries with a new name
(`create_revision`), so a hash collision never reuses another template's revision. The
history helpers here are pure apart from the `create/update/delete_revision` writes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import orjson
from kubemu.cluster.api.errors import AlreadyExists, NotFound
from kubemu.cluster.api.objects import parse_rfc3339
from kubemu.cluster.controllers.deployment_util import safe_encode
from kubemu.cluster.controllers.ownership import new_controller_ref

__all__ = [
    "API_VERSION",
    "CONTROLLER_REVISION_HASH_LABEL",
    "KIND",
    "apply_template_patch",
    "create_revision",
    "delete_revision",
    "equal_revision",
    "find_equal_revisions",
    "new_revision",
    "next_revision",
    "revision_hash",
    "revision_name",
    "revisions_to_truncate",
    "sorted_revisions",
    "template_patch",
    "update_revision_number",
]

CONTROLLER_REVISION_HASH_LABEL = "controller.kubernetes.io/hash"
API_VERSION, KIND = "apps/v1", "ControllerRevision"
_MAX_PREFIX = 223  # upstream's ControllerRevisionName keeps names within 253 characters


def revision_hash(data: Any, collision_count: int | None = None) -> str:
    """Upstream's HashControllerRevision: safe-encoded fnv-32 of the data (bytes as they are,
    anything else as canonical JSON) and the collision count."""
    raw = data if isinstance(data, bytes) else _canonical(data)
    h = 0x811C9DC5
    for byte in raw + (str(collision_count).encode() if collision_count is not None else b""):
        h = ((h * 0x01000193) & 0xFFFFFFFF) ^ byte
    return safe_encode(str(h))


def revision_name(prefix: str, hash_: str) -> str:
    return f"{prefix[:_MAX_PREFIX]}-{hash_}"


def new_revision(owner: dict, data: Any, *, revision: int, collision_count: int | None = None,
                 labels: dict[str, str] | None = None, api_version: str | None = None,
                 kind: str | None = None) -> dict:
    """A ControllerRevision of `owner` (not yet created) holding `data`; `labels` are the
    owner's template labels; `api_version`/`kind` name the owner when its dict lacks them."""
    md = owner.get("metadata") or {}
    hash_ = revision_hash(data, collision_count)
    return {"apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": revision_name(md.get("name", ""), hash_),
                         "namespace": md.get("namespace", ""),
                         "labels": {**(labels or {}), CONTROLLER_REVISION_HASH_LABEL: hash_},
                         "ownerReferences": [new_controller_ref(
                             owner, api_version=api_version, kind=kind)]},
            "data": copy.deepcopy(data), "revision": int(revision)}


def sorted_revisions(revisions: Iterable[dict]) -> list[dict]:
    """Oldest first: by revision number, then creationTimestamp, then name."""
    return sorted(revisions, key=_order)


def next_revision(revisions: Iterable[dict]) -> int:
    """One above the highest revision number (1 for an empty history)."""
    return max((int(r.get("revision") or 0) for r in revisions), default=0) + 1


def equal_revision(a: dict | None, b: dict | None) -> bool:
    """Upstream's EqualRevision: same hash label and same data."""
    if a is None or b is None:
        return a is b
    la = ((a.get("metadata") or {}).get("labels") or {}).get(CONTROLLER_REVISION_HASH_LABEL)
    lb = ((b.get("metadata") or {}).get("labels") or {}).get(CONTROLLER_REVISION_HASH_LABEL)
    if la is None or la != lb:
        return False
    return _canonical(a.get("data")) == _canonical(b.get("data"))


def find_equal_revisions(revisions: Iterable[dict], needle: dict) -> list[dict]:
    return [r for r in revisions if equal_revision(r, needle)]


def template_patch(owner: dict) -> dict:
    """The revision data of a StatefulSet or DaemonSet: its template as a replacing patch."""
    template = copy.deepcopy(((owner.get("spec") or {}).get("template")) or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def apply_template_patch(owner: dict, revision: dict) -> dict:
    """A copy of `owner` whose spec.template is the one `revision` recorded (upstream's
    ApplyRevision for these patches)."""
    out = copy.deepcopy(owner)
    template = copy.deepcopy((((revision.get("data") or {}).get("spec") or {})
                              .get("template")) or {})
    template.pop("$patch", None)
    out.setdefault("spec", {})["template"] = template
    return out


async def create_revision(client: Any, owner: dict, revision: dict, *,
                          collision_count: int = 0,
                          get_existing: Any = None) -> tuple[dict, int]:
    """Create `revision` (built by `new_revision`), probing names on hash collisions.

    Returns (the revision now stored, the collision count used). A name taken by an equal
    revision returns that one; by an unequal one, the count grows and the name is rehashed.
    `get_existing(name)` may answer from a cache; the API server is read otherwise."""
    count = collision_count
    md = revision["metadata"]
    while True:
        attempt = copy.deepcopy(revision)
        hash_ = revision_hash(revision.get("data"), count)
        owner_name = (owner.get("metadata") or {}).get("name", "")
        attempt["metadata"]["name"] = revision_name(owner_name, hash_)
        attempt["metadata"]["labels"] = {**(md.get("labels") or {}),
                                         CONTROLLER_REVISION_HASH_LABEL: hash_}
        try:
            created = await client.create(attempt, namespace=md.get("namespace") or None)
            return created, count
        except AlreadyExists:
            existing = get_existing(attempt["metadata"]["name"]) if get_existing else None
            if existing is None:
                try:
                    existing = await client.get(API_VERSION, KIND, attempt["metadata"]["name"],
                                                namespace=md.get("namespace") or None)
                except NotFound:
                    continue  # deleted meanwhile: try the same name again
            if equal_revision(existing, attempt):
                return existing, count
            count += 1


async def update_revision_number(client: Any, revision: dict, number: int) -> dict:
    """Set an existing revision's number (a rollback to an old template renumbers it)."""
    if int(revision.get("revision") or 0) == number:
        return revision
    md = revision.get("metadata") or {}
    return await client.patch(API_VERSION, KIND, md.get("name", ""), {"revision": number},
                              namespace=md.get("namespace") or None, patch_type="merge")


async def delete_revision(client: Any, revision: dict) -> None:
    md = revision.get("metadata") or {}
    try:
        await client.delete(API_VERSION, KIND, md.get("name", ""),
                            namespace=md.get("namespace") or None)
    except NotFound:
        pass


def revisions_to_truncate(revisions: Iterable[dict], live: Iterable[str],
                          limit: int) -> list[dict]:
    """The oldest revisions beyond `limit` among those whose names are not `live` (live:
    the current and update revisions and any a pod still runs), as upstream's
    truncateHistory."""
    keep = set(live)
    history = [r for r in sorted_revisions(revisions)
               if (r.get("metadata") or {}).get("name") not in keep]
    excess = len(history) - max(0, limit)
    return history[:excess] if excess > 0 else []


# -- helpers ---------------------------------------------------------------------------------

def _canonical(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def _order(revision: dict) -> tuple[int, float, str]:
    md = revision.get("metadata") or {}
    stamp = md.get("creationTimestamp")
    try:
        created = parse_rfc3339(stamp) if stamp else 0.0
    except ValueError:
        created = 0.0
    return int(revision.get("revision") or 0), created, md.get("name", "")
