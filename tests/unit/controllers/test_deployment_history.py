"""DeploymentController history: rollback, revisionHistoryLimit, hash collisions and the
progress deadline, with the real ReplicaSetController in virtual time (helpers in deploykit)."""

from __future__ import annotations

import asyncio

import pytest
from kubemu.cluster.controllers.deployment_util import compute_hash

from tests import vtime
from tests.kube import api, eventually
from tests.unit.controllers.deploykit import (
    NS, REVISION, by_image, conditions, controllers, deployment, get, replica_sets, rolled_out,
    set_image, undo, wait_rolled_out)


def test_rollback_reuses_the_old_replica_set_with_the_next_revision() -> None:
    async def main() -> None:
        async with api() as kube, controllers(kube):
            await kube.client.create(deployment(replicas=2))
            await wait_rolled_out(kube)
            await set_image(kube, "nginx:2")
            await wait_rolled_out(kube)
            await undo(kube, 1)
            d = await wait_rolled_out(kube)
            rss = await replica_sets(kube)
            assert len(rss) == 2
            images = by_image(rss)
            first = images["nginx:1"]["metadata"]["annotations"]
            assert (first[REVISION], first["deployment.kubernetes.io/revision-history"]) == (
                "3", "1")
            assert images["nginx:1"]["spec"]["replicas"] == 2
            assert images["nginx:2"]["spec"]["replicas"] == 0
            assert d["metadata"]["annotations"][REVISION] == "3"

    vtime.run(main)


def test_revision_history_limit_prunes_the_oldest_replica_sets() -> None:
    async def main() -> None:
        async with api() as kube, controllers(kube):
            await kube.client.create(deployment(replicas=1, revisionHistoryLimit=1))
            await wait_rolled_out(kube)
            for version in (2, 3, 4):
                await set_image(kube, f"nginx:{version}")
                await wait_rolled_out(kube)

            async def pruned() -> list[dict]:
                rss = await replica_sets(kube)
                return rss if len(rss) == 2 else []

            rss = await eventually(pruned, what="one old replica set left")
            assert sorted(by_image(rss)) == ["nginx:3", "nginx:4"]
            assert sorted(rs["metadata"]["annotations"][REVISION] for rs in rss) == ["3", "4"]

    vtime.run(main)


def test_never_ready_rollout_exceeds_its_progress_deadline() -> None:
    async def main() -> None:
        async with api() as kube, controllers(kube, never_ready={"nginx:bad"}):
            strategy = {"type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
            await kube.client.create(deployment(replicas=2, strategy=strategy,
                                                progressDeadlineSeconds=60))
            await wait_rolled_out(kube)
            started = asyncio.get_running_loop().time()
            await set_image(kube, "nginx:bad")

            async def timed_out() -> dict | None:
                d = await get(kube)
                cond = conditions(d).get("Progressing") or {}
                return d if cond.get("reason") == "ProgressDeadlineExceeded" else None

            d = await eventually(timed_out, timeout=300, what="progress deadline exceeded")
            took = asyncio.get_running_loop().time() - started
            assert 60 <= took <= 65
            cond = conditions(d)["Progressing"]
            bad = by_image(await replica_sets(kube))["nginx:bad"]
            assert (cond["status"], cond["message"]) == (
                "False", f'ReplicaSet "{bad["metadata"]["name"]}" has timed out progressing.')
            assert conditions(d)["Available"]["status"] == "True"  # the old pods still serve
            with pytest.raises(AssertionError, match="exceeded its progress deadline"):
                rolled_out(d)

    vtime.run(main)


def test_hash_collision_bumps_collision_count_and_picks_another_name() -> None:
    async def main() -> None:
        async with api() as kube, controllers(kube):
            d = await kube.client.create(deployment(replicas=1, paused=True))
            taken = f"web-{compute_hash(d['spec']['template'])}"
            other = {"app": "other"}
            await kube.client.create({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": taken, "namespace": NS, "labels": other},
                "spec": {"replicas": 0, "selector": {"matchLabels": other},
                         "template": {"metadata": {"labels": other}, "spec": {
                             "containers": [{"name": "c", "image": "busybox"}]}}}})
            await kube.client.patch("apps/v1", "Deployment", "web",
                                    {"spec": {"paused": False}}, namespace=NS)
            d = await wait_rolled_out(kube)
            assert d["status"]["collisionCount"] == 1
            ours = [rs for rs in await replica_sets(kube) if rs["metadata"]["name"] != taken]
            assert [rs["metadata"]["name"] for rs in ours] == [
                f"web-{compute_hash(d['spec']['template'], 1)}"]

    vtime.run(main)
