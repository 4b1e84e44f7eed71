"""DeploymentController with the real ReplicaSetController, in virtual time: creation,
rolling and recreate rollouts, pause and resume, adoption (helpers in deploykit)."""

from __future__ import annotations

import asyncio

import pytest

from tests import vtime
from tests.kube import api, eventually
from tests.unit.controllers.deploykit import (
    NS, REVISION, Watermarks, by_image, conditions, controllers, deployment, get, record,
    replica_sets, set_image, wait_rolled_out)


def test_new_deployment_gets_a_hashed_replica_set_with_revision_one_and_status() -> None:
    async def main() -> None:
        async with api() as kube, controllers(kube):
            await kube.client.create(deployment(replicas=3))
            d = await wait_rolled_out(kube)
            [rs] = await replica_sets(kube)
            md = rs["metadata"]
            pod_hash = md["labels"]["pod-template-hash"]
            assert md["name"] == f"web-{pod_hash}"
            assert md["labels"] == {"app": "web", "pod-template-hash": pod_hash}
            assert rs["spec"]["selector"]["matchLabels"] == md["labels"]
            assert rs["spec"]["template"]["metadata"]["labels"] == md["labels"]
            assert md["annotations"] == {
                "team": "a", REVISION: "1", "deployment.kubernetes.io/desired-replicas": "3",
                "deployment.kubernetes.io/max-replicas": "4"}
            assert md["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
            assert d["metadata"]["annotations"][REVISION] == "1"
            assert {k: v for k, v in d["status"].items() if k != "conditions"} == {
                "observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
                "readyReplicas": 3, "availableReplicas": 3}
            conds = conditions(d)
            assert conds["Available"]["reason"] == "MinimumReplicasAvailable"
            message = f'ReplicaSet "{md["name"]}" has successfully progressed.'
            assert (conds["Progressing"]["reason"], conds["Progressing"]["message"]) == (
                "NewReplicaSetAvailable", message)
            events = (await kube.client.list("v1", "Event", namespace=NS))["items"]
            assert f"Scaled up replica set {md['name']} from 0 to 3" in {
                e["message"] for e in events if e["reason"] == "ScalingReplicaSet"}

    vtime.run(main)


@pytest.mark.parametrize("replicas,surge,unavailable,most,fewest", [
    pytest.param(4, 1, 1, 5, 3, id="surge-1-unavailable-1"),
    pytest.param(3, 0, 1, 3, 2, id="no-surge"),
    pytest.param(3, 1, 0, 4, 3, id="no-unavailability"),
    pytest.param(10, "25%", "25%", 13, 8, id="percentages"),
])
def test_rolling_update_stays_within_max_surge_and_max_unavailable(
        replicas: int, surge: object, unavailable: object, most: int, fewest: int) -> None:
    async def main() -> None:
        async with api() as kube, controllers(kube, ready_after=3.0) as factory:
            strategy = {"type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}
            await kube.client.create(deployment(replicas=replicas, strategy=strategy))
            await wait_rolled_out(kube)
            marks = Watermarks()
            stop = record(factory, marks, "nginx:1")
            await set_image(kube, "nginx:2")
            d = await wait_rolled_out(kube)
            stop()
            assert marks.most_pods <= most and marks.most_desired <= most
            assert marks.fewest_ready >= fewest
            assert marks.new_before_old_gone  # it really rolled, old and new side by side
            images = by_image(await replica_sets(kube))
            assert images["nginx:2"]["spec"]["replicas"] == replicas
            assert images["nginx:1"]["spec"]["replicas"] == 0
            assert images["nginx:2"]["metadata"]["annotations"][REVISION] == "2"
            assert d["metadata"]["annotations"][REVISION] == "2"

    vtime.run(main)


def test_recreate_scales_old_to_zero_before_the_new_replica_set_starts() -> None:
    async def main() -> None:
        async with api() as kube, controllers(kube) as factory:
            await kube.client.create(deployment(replicas=3, strategy={"type": "Recreate"}))
            await wait_rolled_out(kube)
            marks = Watermarks()
            stop = record(factory, marks, "nginx:1")
            await set_image(kube, "nginx:2")
            await wait_rolled_out(kube)
            stop()
            assert not marks.new_before_old_gone
            assert marks.most_pods == 3 and marks.fewest_ready == 0
            images = by_image(await replica_sets(kube))
            assert (images["nginx:1"]["spec"]["replicas"],
                    images["nginx:2"]["spec"]["replicas"]) == (0, 3)

    vtime.run(main)


def test_paused_deployment_only_scales_and_resuming_continues_the_rollout() -> None:
    async def main() -> None:
        async with api() as kube, controllers(kube):
            await kube.client.create(deployment(replicas=2))
            await wait_rolled_out(kube)
            await kube.client.patch("apps/v1", "Deployment", "web", {"spec": {"paused": True}},
                                    namespace=NS)
            await set_image(kube, "nginx:2")
            await kube.client.patch("apps/v1", "Deployment", "web", {"spec": {"replicas": 4}},
                                    namespace=NS)

            async def scaled_while_paused() -> dict | None:
                d = await get(kube)
                return d if d["status"].get("availableReplicas") == 4 else None

            d = await eventually(scaled_while_paused, what="old replica set scaled to 4")
            assert conditions(d)["Progressing"]["reason"] == "DeploymentPaused"
            await asyncio.sleep(60)
            rss = await replica_sets(kube)
            assert len(rss) == 1 and rss[0]["spec"]["replicas"] == 4
            await kube.client.patch("apps/v1", "Deployment", "web",
                                    {"spec": {"paused": False}}, namespace=NS)
            d = await wait_rolled_out(kube)
            images = by_image(await replica_sets(kube))
            assert images["nginx:2"]["spec"]["replicas"] == 4
            assert conditions(d)["Progressing"]["reason"] == "NewReplicaSetAvailable"

    vtime.run(main)


def test_orphan_replica_set_with_the_template_is_adopted_instead_of_creating_one() -> None:
    async def main() -> None:
        async with api() as kube, controllers(kube):
            template = deployment()["spec"]["template"]
            labels = {"app": "web", "pod-template-hash": "manual"}
            await kube.client.create({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": "web-manual", "namespace": NS, "labels": labels},
                "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                         "template": {**template, "metadata": {"labels": labels}}}})
            await kube.client.create(deployment(replicas=3))
            d = await wait_rolled_out(kube)
            [rs] = await replica_sets(kube)
            assert rs["metadata"]["name"] == "web-manual"
            assert rs["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
            assert rs["spec"]["replicas"] == 3
            assert rs["metadata"]["annotations"][REVISION] == "1"

    vtime.run(main)
