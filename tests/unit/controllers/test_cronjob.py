"""CronJobController against the real in-process API server, in virtual time (the loop's
clock jumps to the next schedule). Tests finish Jobs by writing their status as the Job
controller would."""

from __future__ import annotations

import asyncio

import pytest
from kubemu.cluster.api.objects import rfc3339
from kubemu.cluster.controllers.cronjob import CronJobController
from tests import vtime
from tests.kube import EPOCH, api, eventually
from tests.unit.controllers.jobkit import NS, events, running


def cronjob(name: str = "tick", schedule: str = "* * * * *", **spec: object) -> dict:
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"schedule": schedule, "jobTemplate": {
                "metadata": {"labels": {"app": name}},
                "spec": {"template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "busybox"}]}}}}, **spec}}


async def jobs(kube) -> list[dict]:
    items = (await kube.client.list("batch/v1", "Job", namespace=NS))["items"]
    return sorted(items, key=lambda j: j["metadata"]["name"])


async def finish_job(kube, job: dict, type_: str = "Complete") -> None:
    now = rfc3339(kube.timing.wall())
    fresh = await kube.client.get("batch/v1", "Job", job["metadata"]["name"], namespace=NS)
    status = fresh.setdefault("status", {})
    status["startTime"] = status.get("startTime") or now
    interim = "SuccessCriteriaMet" if type_ == "Complete" else "FailureTarget"
    status["conditions"] = [
        {"type": t, "status": "True", "lastTransitionTime": now, "lastProbeTime": now,
         "reason": "Test", "message": "by test"} for t in (interim, type_)]
    if type_ == "Complete":
        status["completionTime"] = now
        status["succeeded"] = 1
    else:
        status["failed"] = 1
    await kube.client.update(fresh, subresource="status")


async def get_cj(kube, name: str = "tick") -> dict:
    return await kube.client.get("batch/v1", "CronJob", name, namespace=NS)


async def at_least(kube, n: int) -> list[dict]:
    items = await jobs(kube)
    return items if len(items) >= n else []


def test_every_minute_makes_a_job_each_minute_named_by_scheduled_minute() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, CronJobController):
            await kube.client.create(cronjob())
            await asyncio.sleep(185)  # schedules at +60, +120, +180
            items = await jobs(kube)
            minute = int(EPOCH // 60)
            assert [j["metadata"]["name"] for j in items] == [
                f"tick-{minute + 1}", f"tick-{minute + 2}", f"tick-{minute + 3}"]
            first = items[0]
            assert first["metadata"]["annotations"][
                "batch.kubernetes.io/cronjob-scheduled-timestamp"] == rfc3339(EPOCH + 60)
            assert first["metadata"]["labels"]["app"] == "tick"
            assert first["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
            status = (await get_cj(kube))["status"]
            assert status["lastScheduleTime"] == rfc3339(EPOCH + 180)
            assert [r["name"] for r in status["active"]] == [j["metadata"]["name"]
                                                             for j in items]
            assert len(await events(kube, "SuccessfulCreate")) == 3
    vtime.run(main)


def test_history_limits_keep_the_newest_finished_jobs() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, CronJobController):
            await kube.client.create(cronjob(successfulJobsHistoryLimit=2,
                                             failedJobsHistoryLimit=1))
            for i in range(6):
                items = await eventually(lambda: at_least(kube, 1), timeout=120, what="job")
                newest = [j for j in items if not j.get("status", {}).get("conditions")]
                for job in newest:
                    await finish_job(kube, job, "Failed" if i % 3 == 2 else "Complete")
                await asyncio.sleep(60)
            await asyncio.sleep(1)
            items = await jobs(kube)
            done = [j for j in items if j.get("status", {}).get("conditions")]
            kinds = [j["status"]["conditions"][-1]["type"] for j in done]
            assert kinds.count("Complete") == 2 and kinds.count("Failed") == 1
            assert (await get_cj(kube))["status"].get("lastSuccessfulTime")
            assert await events(kube, "SawCompletedJob")
            assert len(await events(kube, "SuccessfulDelete")) >= 3
    vtime.run(main)


@pytest.mark.parametrize(("policy", "expected_jobs", "expected_active"), [
    pytest.param("Forbid", 1, 1, id="forbid-skips-while-one-runs"),
    pytest.param("Replace", 1, 1, id="replace-deletes-the-running-job"),
    pytest.param("Allow", 3, 3, id="allow-runs-them-concurrently"),
])
def test_concurrency_policy(policy: str, expected_jobs: int, expected_active: int) -> None:
    async def main() -> None:
        async with api() as kube, running(kube, CronJobController):
            await kube.client.create(cronjob(concurrencyPolicy=policy))
            await asyncio.sleep(185)
            items = [j for j in await jobs(kube) if not j["metadata"].get("deletionTimestamp")]
            assert len(items) == expected_jobs
            status = (await get_cj(kube))["status"]
            assert len(status["active"]) == expected_active
            minute = int(EPOCH // 60)
            if policy == "Forbid":
                assert items[0]["metadata"]["name"] == f"tick-{minute + 1}"
                assert await events(kube, "JobAlreadyActive")
            if policy == "Replace":
                assert items[0]["metadata"]["name"] == f"tick-{minute + 3}"
                assert len(await events(kube, "SuccessfulDelete")) == 2
    vtime.run(main)


def test_suspended_cronjob_starts_nothing_until_resumed() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, CronJobController):
            await kube.client.create(cronjob(suspend=True, startingDeadlineSeconds=30))
            await asyncio.sleep(155)
            assert await jobs(kube) == []
            await kube.client.patch("batch/v1", "CronJob", "tick",
                                    {"spec": {"suspend": False}}, namespace=NS)
            # the missed runs are older than startingDeadlineSeconds: the next one starts
            await asyncio.sleep(5)
            assert await jobs(kube) == []
            items = await eventually(lambda: at_least(kube, 1), timeout=70, what="a job")
            assert items[0]["metadata"]["name"] == f"tick-{int(EPOCH // 60) + 3}"
    vtime.run(main)


def test_time_zone_schedule_fires_in_that_zone() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, CronJobController):
            # EPOCH is 2027-01-15T08:00:00Z, 09:00 in Berlin: "1 9 * * *" is one minute away
            await kube.client.create(cronjob(schedule="1 9 * * *",
                                             timeZone="Europe/Berlin"))
            items = await eventually(lambda: at_least(kube, 1), timeout=120, what="a job")
            assert items[0]["metadata"]["annotations"][
                "batch.kubernetes.io/cronjob-scheduled-timestamp"] == "2027-01-15T09:01:00+01:00"
    vtime.run(main)
