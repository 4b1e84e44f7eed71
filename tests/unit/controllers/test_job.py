"""JobController against the real in-process API server, in virtual time; the tests play the
kubelet by writing pod phases."""

from __future__ import annotations

import asyncio

from kubemu.cluster.controllers.job import JobController
from kubemu.cluster.controllers.job_util import JOB_TRACKING_FINALIZER
from tests import vtime
from tests.kube import api, eventually
from tests.unit.controllers.jobkit import (
    NS, condition, events, finish, get_job, job, pods_of, running)


def test_completions_five_parallelism_two_never_exceeds_two_active_and_completes() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, JobController):
            await kube.client.create(job(completions=5, parallelism=2))
            most = 0
            done = 0
            while done < 5:
                active = await eventually(lambda: pods_of(kube, "pi", active_only=True),
                                          what="active pods")
                most = max(most, len(active))
                assert len(active) <= 2
                await finish(kube, active[0], "Succeeded")
                done += 1
                await asyncio.sleep(1)
            finished = await eventually(
                lambda: _when(get_job(kube, "pi"), lambda j: condition(j, "Complete")),
                what="Complete")
            status = finished["status"]
            assert most == 2
            assert status["succeeded"] == 5 and "active" not in status
            assert status["uncountedTerminatedPods"] == {}
            assert condition(finished, "SuccessCriteriaMet")
            assert status["completionTime"] and status["startTime"]
            assert len(await events(kube, "SuccessfulCreate")) == 5
            assert [e["message"] for e in await events(kube, "Completed")] == ["Job completed"]
            for pod in await pods_of(kube, "pi"):
                assert JOB_TRACKING_FINALIZER not in (pod["metadata"].get("finalizers") or [])
    vtime.run(main)


def test_pods_carry_job_labels_owner_and_tracking_finalizer() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, JobController):
            created = await kube.client.create(job())
            pod = (await eventually(lambda: pods_of(kube, "pi"), what="pod"))[0]
            labels = pod["metadata"]["labels"]
            uid = created["metadata"]["uid"]
            assert labels["batch.kubernetes.io/job-name"] == "pi" == labels["job-name"]
            assert labels["batch.kubernetes.io/controller-uid"] == uid
            assert labels["controller-uid"] == uid
            assert pod["metadata"]["finalizers"] == [JOB_TRACKING_FINALIZER]
            assert pod["metadata"]["generateName"] == "pi-"
            ref = pod["metadata"]["ownerReferences"][0]
            assert (ref["kind"], ref["uid"], ref["controller"]) == ("Job", uid, True)
            status = (await eventually(lambda: _when(get_job(kube, "pi"),
                                                     lambda j: j["status"].get("active")),
                                       what="active 1"))["status"]
            assert status["ready"] == 0 and status["terminating"] == 0
    vtime.run(main)


def test_failing_job_stops_at_backoff_limit_with_failed_condition_and_event() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, JobController):
            await kube.client.create(job(backoffLimit=2))
            created_at = []
            for _ in range(3):
                active = await eventually(lambda: pods_of(kube, "pi", active_only=True),
                                          timeout=120, what="a pod to fail")
                created_at.append(asyncio.get_running_loop().time())
                await finish(kube, active[0], "Failed")
            failed = await eventually(
                lambda: _when(get_job(kube, "pi"), lambda j: condition(j, "Failed")),
                what="Failed")
            cond = condition(failed, "Failed")
            assert cond["reason"] == "BackoffLimitExceeded"
            assert cond["message"] == "Job has reached the specified backoff limit"
            assert condition(failed, "FailureTarget")
            assert failed["status"]["failed"] == 3 and "completionTime" not in failed["status"]
            # pods are recreated after a 10 s, then a 20 s backoff
            assert created_at[1] - created_at[0] >= 10 and created_at[2] - created_at[1] >= 20
            warnings = await events(kube, "BackoffLimitExceeded")
            assert [e["type"] for e in warnings] == ["Warning"]
            await asyncio.sleep(60)
            assert len(await pods_of(kube, "pi")) == 3  # no more pods after failing
    vtime.run(main)


def test_active_deadline_fails_the_job_and_deletes_its_pods() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, JobController):
            await kube.client.create(job(parallelism=2, completions=4,
                                         activeDeadlineSeconds=30))
            await eventually(lambda: _count(pods_of(kube, "pi", active_only=True), 2),
                             what="two pods")
            start = asyncio.get_running_loop().time()
            failed = await eventually(
                lambda: _when(get_job(kube, "pi"), lambda j: condition(j, "Failed")),
                timeout=60, what="Failed")
            assert asyncio.get_running_loop().time() - start >= 29
            assert condition(failed, "Failed")["reason"] == "DeadlineExceeded"
            assert await pods_of(kube, "pi") == []  # finalizer removed, then deleted
    vtime.run(main)


def test_suspend_deletes_active_pods_and_resume_recreates_them() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, JobController):
            await kube.client.create(job(parallelism=3, completions=3))
            await eventually(lambda: _count(pods_of(kube, "pi"), 3), what="three pods")
            await kube.client.patch("batch/v1", "Job", "pi", {"spec": {"suspend": True}},
                                    namespace=NS)
            suspended = await eventually(
                lambda: _when(get_job(kube, "pi"), lambda j: condition(j, "Suspended")),
                what="Suspended")
            assert condition(suspended, "Suspended")["reason"] == "JobSuspended"
            await eventually(lambda: _count(pods_of(kube, "pi"), 0), what="pods deleted")
            assert (await get_job(kube, "pi"))["status"].get("failed") is None
            await kube.client.patch("batch/v1", "Job", "pi", {"spec": {"suspend": False}},
                                    namespace=NS)
            await eventually(lambda: _count(pods_of(kube, "pi"), 3), what="pods again")
            resumed = await get_job(kube, "pi")
            cond = next(c for c in resumed["status"]["conditions"] if c["type"] == "Suspended")
            assert (cond["status"], cond["reason"]) == ("False", "JobResumed")
            assert [e["reason"] for e in await events(kube, "Resumed")] == ["Resumed"]
    vtime.run(main)


def test_pod_failure_policy_fail_job_on_exit_code_42() -> None:
    async def main() -> None:
        policy = {"rules": [{"action": "FailJob", "onExitCodes": {
            "operator": "In", "values": [42]}}]}
        async with api() as kube, running(kube, JobController):
            await kube.client.create(job(parallelism=2, completions=2, backoffLimit=6,
                                         podFailurePolicy=policy))
            pods = await eventually(lambda: _count(pods_of(kube, "pi"), 2), what="pods")
            await finish(kube, pods[0], "Failed", exit_code=42)
            failed = await eventually(
                lambda: _when(get_job(kube, "pi"), lambda j: condition(j, "Failed")),
                what="Failed")
            cond = condition(failed, "Failed")
            assert cond["reason"] == "PodFailurePolicy"
            assert cond["message"] == (f"Container main for pod {NS}/{pods[0]['metadata']['name']}"
                                       " failed with exit code 42 matching FailJob rule at "
                                       "index 0")
            assert [p["metadata"]["name"] for p in await pods_of(kube, "pi")] == [
                pods[0]["metadata"]["name"]]  # the other was deleted
    vtime.run(main)


def test_pod_failure_policy_ignore_does_not_count_toward_backoff_limit() -> None:
    async def main() -> None:
        policy = {"rules": [{"action": "Ignore", "onExitCodes": {
            "operator": "In", "values": [137]}}]}
        async with api() as kube, running(kube, JobController):
            await kube.client.create(job(backoffLimit=0, podFailurePolicy=policy))
            first = (await eventually(lambda: pods_of(kube, "pi", active_only=True),
                                      what="pod"))[0]
            await finish(kube, first, "Failed", exit_code=137)
            second = await eventually(
                lambda: _when(pods_of(kube, "pi", active_only=True), lambda ps: ps),
                what="a replacement")
            await finish(kube, second[0], "Succeeded")
            done = await eventually(
                lambda: _when(get_job(kube, "pi"), lambda j: condition(j, "Complete")),
                what="Complete")
            assert done["status"].get("failed") is None and done["status"]["succeeded"] == 1
    vtime.run(main)


async def _when(value, test):
    obj = await value
    return obj if test(obj) else None


async def _count(value, n: int):
    items = await value
    return (items or True) if len(items) == n else None


def test_indexed_job_gives_each_pod_its_index_and_tracks_completed_indexes() -> None:
    async def main() -> None:
        async with api() as kube, running(kube, JobController):
            await kube.client.create(job(completions=5, parallelism=3,
                                         completionMode="Indexed"))
            pods = await eventually(lambda: _count(pods_of(kube, "pi"), 3), what="3 pods")
            index_key = "batch.kubernetes.io/job-completion-index"
            by_index = {int(p["metadata"]["annotations"][index_key]): p for p in pods}
            assert sorted(by_index) == [0, 1, 2]
            for i, pod in by_index.items():
                assert pod["metadata"]["labels"][index_key] == str(i)
                assert pod["metadata"]["generateName"] == f"pi-{i}-"
                assert pod["spec"]["hostname"] == f"pi-{i}"
                assert pod["spec"]["containers"][0]["env"] == [{
                    "name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                        "apiVersion": "v1",
                        "fieldPath": f"metadata.annotations['{index_key}']"}}}]
            await finish(kube, by_index[0], "Succeeded")
            await finish(kube, by_index[2], "Succeeded")
            status = (await eventually(lambda: _when(
                get_job(kube, "pi"), lambda j: j["status"].get("completedIndexes") == "0,2"),
                what="completedIndexes 0,2"))["status"]
            assert status["succeeded"] == 2
            active = await eventually(lambda: _count(pods_of(kube, "pi", active_only=True), 3),
                                      what="3 active again")
            assert sorted(int(p["metadata"]["annotations"][index_key]) for p in active) == [
                1, 3, 4]
            for pod in active:
                await finish(kube, pod, "Succeeded")
            done = await eventually(
                lambda: _when(get_job(kube, "pi"), lambda j: condition(j, "Complete")),
                what="Complete")
            assert done["status"]["completedIndexes"] == "0-4"
            assert done["status"]["succeeded"] == 5
    vtime.run(main)


def test_ttl_after_finished_deletes_the_job_ttl_seconds_after_it_completes() -> None:
    from kubemu.cluster.controllers.ttlafterfinished import TTLAfterFinishedController

    async def main() -> None:
        async with api() as kube, running(kube, JobController, TTLAfterFinishedController):
            await kube.client.create(job(ttlSecondsAfterFinished=100))
            pod = (await eventually(lambda: pods_of(kube, "pi"), what="pod"))[0]
            await finish(kube, pod, "Succeeded")
            await eventually(
                lambda: _when(get_job(kube, "pi"), lambda j: condition(j, "Complete")),
                what="Complete")
            done_at = asyncio.get_running_loop().time()
            await asyncio.sleep(90)
            assert (await get_job(kube, "pi"))["metadata"]["name"] == "pi"

            async def gone() -> bool:
                items = (await kube.client.list("batch/v1", "Job", namespace=NS))["items"]
                return not items
            await eventually(gone, timeout=30, what="job deleted")
            assert asyncio.get_running_loop().time() - done_at >= 99
    vtime.run(main)
