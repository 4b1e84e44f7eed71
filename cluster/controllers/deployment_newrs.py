"""The new ReplicaSet of a Deployment: found, created, and kept in step with its revision.

Upstream's getAllReplicaSetsAndSyncRevision / getNewReplicaSet:
- the new RS is the oldest claimed RS whose template equals the Deployment's ignoring the
  pod-template-hash label; it takes revision max(old) + 1 unless it already has a higher one
  (a rollback to an old RS gives it the next revision and moves its old number to
  revision-history), the Deployment's annotations, and the Deployment's minReadySeconds; the
  Deployment then carries the new RS's revision annotation;
- a missing new RS is created as `<deployment>-<hash>` with the hash in its labels, selector
  and template labels, a controller reference, and as many replicas as the strategy allows
  right away. AlreadyExists means either our own RS not yet in the cache (taken as is) or a
  hash collision with another template: status.collisionCount is bumped (a different hash
  next time) and the error raised so the sync is retried. Other create errors set the
  Progressing condition to ReplicaSetCreateError and raise;
- the Deployment's status (and revision annotation) is written through the status
  subresource, which keeps metadata changes as upstream's Deployment status strategy does.
A Progressing condition set here (NewReplicaSetCreated, FoundNewReplicaSet) is reported to
`touch`, which starts its progress deadline on the controller's clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kubemu.cluster.api.errors import AlreadyExists, ApiError
from kubemu.cluster.api.objects import deep_copy
from kubemu.cluster.controllers import deployment_rollout as rollout
from kubemu.cluster.controllers import deployment_status as dstatus
from kubemu.cluster.controllers import deployment_util as util
from kubemu.cluster.controllers.events import NORMAL, WARNING, EventRecorder
from kubemu.cluster.controllers.ownership import controller_of, new_controller_ref

__all__ = ["NewReplicaSets", "write_status"]

log = logging.getLogger("kubemu.controllers.deployment")


async def write_status(client: Any, d: dict) -> None:
    """Write d's status (and annotations) and adopt the server's answer in place."""
    written = await client.update(d, subresource="status")
    d.clear()
    d.update(written)


class NewReplicaSets:
    def __init__(self, client: Any, recorder: EventRecorder, rs_lister: Any, *,
                 now: Callable[[], str], touch: Callable[[dict], None]) -> None:
        self.client = client
        self.recorder = recorder
        self.rs_lister = rs_lister
        self._now = now
        self._touch = touch

    async def split(self, d: dict, rss: list[dict]) -> tuple[dict | None, list[dict]]:
        """(new RS or None, old RSs); the new RS's annotations and the Deployment's
        revision are brought up to date."""
        found = rollout.find_new_rs(d, rss)
        old = [rs for rs in rss if rs is not found]
        if found is None:
            return None, old
        return await self._sync(d, found, util.max_revision(old) + 1), old

    async def create(self, d: dict, old: list[dict]) -> dict:
        """Create the new RS for d's template (see the module docstring)."""
        spec, md = d["spec"], d["metadata"]
        new_revision = util.max_revision(old) + 1
        status = d.setdefault("status", {})
        template = deep_copy(spec.get("template") or {})
        pod_hash = util.compute_hash(template, status.get("collisionCount"))
        template.setdefault("metadata", {})["labels"] = {
            **(template["metadata"].get("labels") or {}), util.POD_TEMPLATE_HASH: pod_hash}
        selector = deep_copy(spec["selector"])
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}),
                                   util.POD_TEMPLATE_HASH: pod_hash}
        name = f"{md['name']}-{pod_hash}"
        rs: dict = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
            "name": name, "namespace": md.get("namespace"),
            "labels": dict(template["metadata"]["labels"]),
            "ownerReferences": [new_controller_ref(d, api_version="apps/v1",
                                                   kind="Deployment")]},
            "spec": {"replicas": 0, "selector": selector, "template": template}}
        _set_min_ready(rs, spec.get("minReadySeconds") or 0)
        rs["spec"]["replicas"] = rollout.new_rs_new_replicas(d, [*old, rs], rs)
        util.set_new_rs_annotations(d, rs, new_revision, exists=False)
        try:
            created = await self.client.create(rs, namespace=md.get("namespace"))
            fresh = True
        except AlreadyExists:
            created = await self._existing(d, name)
            fresh = False
        except ApiError as err:
            await self._report_create_failure(d, f'Failed to create new replica set "{name}": '
                                                 f'{err}')
            raise
        replicas = util.replicas(created)
        if fresh and replicas > 0:
            self.recorder.record(d, NORMAL, "ScalingReplicaSet",
                                 f"Scaled up replica set {name} from 0 to {replicas}")
        needs_update = util.set_deployment_revision(d, str(new_revision))
        if fresh and dstatus.has_progress_deadline(d):
            dstatus.set_condition(status, dstatus.new_condition(
                dstatus.PROGRESSING, "True", dstatus.NEW_RS_REASON,
                f'Created new replica set "{name}"', self._now()))
            self._touch(d)
            needs_update = True
        if needs_update:
            await write_status(self.client, d)
        return created

    async def _sync(self, d: dict, found: dict, new_revision: int) -> dict:
        rs = deep_copy(found)
        changed = util.set_new_rs_annotations(d, rs, new_revision, exists=True)
        min_ready = (d.get("spec") or {}).get("minReadySeconds") or 0
        if changed or ((rs.get("spec") or {}).get("minReadySeconds") or 0) != min_ready:
            _set_min_ready(rs, min_ready)
            return await self.client.update(rs)
        needs_update = util.set_deployment_revision(
            d, rs["metadata"]["annotations"].get(util.REVISION, ""))
        if dstatus.has_progress_deadline(d) and dstatus.get_condition(
                d.get("status"), dstatus.PROGRESSING) is None:
            dstatus.set_condition(d.setdefault("status", {}), dstatus.new_condition(
                dstatus.PROGRESSING, "True", dstatus.FOUND_NEW_RS_REASON,
                f'Found new replica set "{_name(rs)}"', self._now()))
            self._touch(d)
            needs_update = True
        if needs_update:
            await write_status(self.client, d)
        return rs

    async def _existing(self, d: dict, name: str) -> dict:
        """The RS already named like our new one: ours when it has our template; otherwise a
        hash collision: bump collisionCount and raise so the next sync picks another name."""
        md = d["metadata"]
        existing = self.rs_lister.get(name, md.get("namespace"))
        if existing is None:
            existing = await self.client.get("apps/v1", "ReplicaSet", name,
                                             namespace=md.get("namespace"))
        ref = controller_of(existing)
        if (ref is not None and ref.get("uid") == md.get("uid") and util.equal_ignore_hash(
                (d.get("spec") or {}).get("template"),
                (existing.get("spec") or {}).get("template"))):
            return existing
        status = d.setdefault("status", {})
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        await write_status(self.client, d)
        log.info("deployment %s/%s: hash collision on %s, collisionCount now %d",
                 md.get("namespace"), md["name"], name, status["collisionCount"])
        raise AlreadyExists(f'replicasets.apps "{name}" already exists with another template')

    async def _report_create_failure(self, d: dict, message: str) -> None:
        if dstatus.has_progress_deadline(d):
            dstatus.set_condition(d.setdefault("status", {}), dstatus.new_condition(
                dstatus.PROGRESSING, "False", dstatus.FAILED_RS_CREATE_REASON, message,
                self._now()))
            try:
                await write_status(self.client, d)
            except ApiError:
                pass  # the failure worth reporting is the create's
        self.recorder.record(d, WARNING, dstatus.FAILED_RS_CREATE_REASON, message)


def _name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name") or ""


def _set_min_ready(rs: dict, seconds: int) -> None:
    if seconds:
        rs["spec"]["minReadySeconds"] = seconds
    else:
        rs["spec"].pop("minReadySeconds", None)
