"""DaemonSet ControllerRevisions: the template history `kubectl rollout history|undo` reads
(upstream pkg/controller/daemon/update.go constructHistory, snapshot, dedupCurHistories,
cleanupHistory).

A revision's `data` is the DaemonSet's template as a replacing strategic merge patch
(`{"spec": {"template": {..., "$patch": "replace"}}}`, history.template_patch); its name is
`<ds>-<hash>`, the hash (history.revision_hash of the template and status.collisionCount) also
its `controller-revision-hash` label beside the template's labels, and daemon pods carry the
same label. Each sync:
- labels any claimed revision lacking the hash label with its name (as upstream);
- the revision whose data equals the current template is current; none: a new one is created
  numbered one above the others; several: the highest-numbered is kept, pods labelled with the
  others' hashes are relabelled, the others deleted; a current revision numbered below an old
  one (a rollback) is renumbered to the top;
- a name taken by a revision of another template (a hash collision) bumps
  status.collisionCount and fails the sync, which retries with the new hash; a stale
  collisionCount just retries.
`cleanup` deletes the oldest old revisions beyond spec.revisionHistoryLimit that no live pod
still runs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import orjson
from kubemu.cluster.api.errors import AlreadyExists, NotFound
from kubemu.cluster.controllers.daemonset_util import CONTROLLER_REVISION_HASH
from kubemu.cluster.controllers.history import (
    API_VERSION,
    KIND,
    delete_revision,
    next_revision,
    revision_hash,
    revision_name,
    sorted_revisions,
    template_patch,
    update_revision_number,
)
from kubemu.cluster.controllers.ownership import new_controller_ref

__all__ = ["StaleCollisionCount", "cleanup_history", "construct_history", "matches_template"]

_DS_API_VERSION, _DS_KIND = "apps/v1", "DaemonSet"


class StaleCollisionCount(Exception):
    """The DaemonSet read from the cache had an outdated status.collisionCount."""


def matches_template(ds: dict, revision: dict) -> bool:
    """Upstream Match: the revision's data is the DaemonSet's current template patch."""
    return _canonical(revision.get("data")) == _canonical(template_patch(ds))


async def construct_history(client: Any, ds: dict, revisions: list[dict],
                            pods: list[dict]) -> tuple[dict, list[dict]]:
    """(the current revision, the old ones), creating or fixing revisions as needed.
    `revisions` are the ones the DaemonSet controls; `pods` its claimed pods (relabelled
    when duplicate current revisions are merged)."""
    current: list[dict] = []
    old: list[dict] = []
    for revision in revisions:
        md = revision.get("metadata") or {}
        if CONTROLLER_REVISION_HASH not in (md.get("labels") or {}):
            revision = await client.patch(API_VERSION, KIND, md.get("name", ""), {
                "metadata": {"labels": {CONTROLLER_REVISION_HASH: md.get("name", "")}}},
                namespace=md.get("namespace") or None, patch_type="merge")
        (current if matches_template(ds, revision) else old).append(revision)
    number = next_revision(old)
    if not current:
        return await _snapshot(client, ds, number), old
    cur = await _dedup(client, current, pods)
    if int(cur.get("revision") or 0) < number:
        cur = await update_revision_number(client, cur, number)
    return cur, old


async def cleanup_history(client: Any, ds: dict, old: list[dict],
                          live_hashes: Iterable[str]) -> None:
    limit = (ds.get("spec") or {}).get("revisionHistoryLimit")
    to_kill = len(old) - (10 if limit is None else int(limit))
    live = set(live_hashes)
    for revision in sorted_revisions(old):
        if to_kill <= 0:
            break
        if ((revision.get("metadata") or {}).get("labels") or {}).get(
                CONTROLLER_REVISION_HASH) in live:
            continue
        await delete_revision(client, revision)
        to_kill -= 1


# -- helpers ---------------------------------------------------------------------------------

async def _snapshot(client: Any, ds: dict, number: int) -> dict:
    md = ds.get("metadata") or {}
    namespace = md.get("namespace") or None
    collision_count = (ds.get("status") or {}).get("collisionCount")
    template = (ds.get("spec") or {}).get("template") or {}
    hash_ = revision_hash(template, collision_count)
    name = revision_name(md.get("name", ""), hash_)
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels[CONTROLLER_REVISION_HASH] = hash_
    revision_md: dict[str, Any] = {
        "name": name, "namespace": md.get("namespace", ""), "labels": labels,
        "ownerReferences": [new_controller_ref(ds, api_version=_DS_API_VERSION, kind=_DS_KIND)]}
    if md.get("annotations"):
        revision_md["annotations"] = dict(md["annotations"])
    body = {"apiVersion": API_VERSION, "kind": KIND, "metadata": revision_md,
            "data": template_patch(ds), "revision": number}
    try:
        return await client.create(body, namespace=namespace)
    except AlreadyExists:
        try:
            existing = await client.get(API_VERSION, KIND, name, namespace=namespace)
        except NotFound:
            raise StaleCollisionCount(f"revision {name} vanished; retrying") from None
        if matches_template(ds, existing):
            return existing
        fresh = await client.get(_DS_API_VERSION, _DS_KIND, md.get("name", ""),
                                 namespace=namespace)
        fresh_count = (fresh.get("status") or {}).get("collisionCount")
        if fresh_count != collision_count:
            raise StaleCollisionCount(
                f"found a stale collision count ({collision_count}, expected {fresh_count}) "
                f"of DaemonSet {md.get('name')!r} while processing; will retry until it is "
                "updated") from None
        await client.patch(_DS_API_VERSION, _DS_KIND, md.get("name", ""),
                           {"status": {"collisionCount": (fresh_count or 0) + 1}},
                           namespace=namespace, patch_type="merge", subresource="status")
        raise


async def _dedup(client: Any, current: list[dict], pods: list[dict]) -> dict:
    """Keep the highest-numbered current revision; move pods of the others onto its hash."""
    if len(current) == 1:
        return current[0]
    keep = sorted_revisions(current)[-1]
    keep_hash = ((keep.get("metadata") or {}).get("labels") or {}).get(CONTROLLER_REVISION_HASH)
    for revision in current:
        if revision is keep:
            continue
        dup_hash = ((revision.get("metadata") or {}).get("labels") or {}).get(
            CONTROLLER_REVISION_HASH)
        for pod in pods:
            pmd = pod.get("metadata") or {}
            if (pmd.get("labels") or {}).get(CONTROLLER_REVISION_HASH) == dup_hash:
                try:
                    await client.patch("v1", "Pod", pmd.get("name", ""), {"metadata": {
                        "labels": {CONTROLLER_REVISION_HASH: keep_hash}}},
                        namespace=pmd.get("namespace") or None, patch_type="merge")
                except NotFound:
                    pass
        await delete_revision(client, revision)
    return copy.deepcopy(keep)


def _canonical(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
