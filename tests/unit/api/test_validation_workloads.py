"""apps/v1 and batch/v1 validation: one bad case per rule, immutability, status, cron syntax."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubemu.cluster.api.defaults import apply_defaults, job_selector_defaults
from kubemu.cluster.api.registry import builtin_registry
from kubemu.cluster.api.validation import validate_create, validate_status_update, validate_update
from kubemu.cluster.api.validation.cron import schedule_error

REGISTRY = builtin_registry()
UID = "6b9c1c6e-0000-4000-8000-000000000001"


def workload(kind: str, edit=None) -> tuple:
    group = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    pod_spec = {"containers": [{"name": "app", "image": "nginx:1.27"}]}
    if kind in ("Job", "CronJob"):
        pod_spec["restartPolicy"] = "Never"
    tmpl = {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec}
    if kind == "CronJob":
        spec: dict[str, Any] = {"schedule": "*/5 * * * *",
                                "jobTemplate": {"spec": {"template": tmpl}}}
    elif kind == "Job":
        spec = {"template": tmpl}
    else:
        spec = {"selector": {"matchLabels": {"app": "web"}}, "template": tmpl}
    obj = {"apiVersion": group, "kind": kind,
           "metadata": {"name": "web", "namespace": "default"}, "spec": spec}
    r = REGISTRY.by_kind(group, kind)
    if edit:
        edit(obj["spec"])
    apply_defaults(r, obj)
    if kind == "Job":
        job_selector_defaults(obj, UID)
    return r, obj


def fields(kind: str, edit) -> list[tuple[str, str]]:
    r, obj = workload(kind, edit)
    return [(e.type, e.field) for e in validate_create(r, obj)]


def tspec(spec: dict) -> dict:
    return spec["template"]["spec"]


@pytest.mark.parametrize("kind, edit, expected", [
    pytest.param("Deployment", lambda s: s.pop("selector"), [("Required", "spec.selector")],
                 id="deployment-selector-required"),
    pytest.param("Deployment", lambda s: s.update(selector={}),
                 [("Invalid", "spec.selector")], id="deployment-selector-not-empty"),
    pytest.param("Deployment", lambda s: s.update(selector={"matchLabels": {"app": "api"}}),
                 [("Invalid", "spec.template.metadata.labels")],
                 id="deployment-selector-matches-template"),
    pytest.param("Deployment", lambda s: s.update(selector={"matchExpressions": [
        {"key": "app", "operator": "In"}]}),
        [("Required", "spec.selector.matchExpressions[0].values"),
         ("Invalid", "spec.selector")], id="selector-expression-values"),
    pytest.param("Deployment", lambda s: s.update(replicas=-1),
                 [("Invalid", "spec.replicas")], id="deployment-replicas-non-negative"),
    pytest.param("Deployment", lambda s: tspec(s).update(restartPolicy="OnFailure"),
                 [("NotSupported", "spec.template.spec.restartPolicy")],
                 id="deployment-template-restart-always"),
    pytest.param("Deployment", lambda s: tspec(s).update(activeDeadlineSeconds=5),
                 [("Forbidden", "spec.template.spec.activeDeadlineSeconds")],
                 id="deployment-no-active-deadline"),
    pytest.param("Deployment", lambda s: tspec(s)["containers"][0].update(image=""),
                 [("Required", "spec.template.spec.containers[0].image")],
                 id="deployment-template-pod-spec-validated"),
    pytest.param("Deployment", lambda s: s["template"]["metadata"].update(
        labels={"app": "web", "bad": "-x"}), [("Invalid", "spec.template.labels")],
        id="template-labels-path-without-metadata"),
    pytest.param("Deployment", lambda s: s.update(strategy={"type": "RollingUpdate",
                                                           "rollingUpdate": {
                                                               "maxUnavailable": 0,
                                                               "maxSurge": "0%"}}),
                 [("Invalid", "spec.strategy.rollingUpdate.maxUnavailable")],
                 id="max-unavailable-and-surge-not-both-zero"),
    pytest.param("Deployment", lambda s: s.update(strategy={"type": "RollingUpdate",
                                                           "rollingUpdate": {
                                                               "maxUnavailable": "150%"}}),
                 [("Invalid", "spec.strategy.rollingUpdate.maxUnavailable")],
                 id="max-unavailable-at-most-100-percent"),
    pytest.param("Deployment", lambda s: s.update(strategy={"type": "RollingUpdate",
                                                           "rollingUpdate": {
                                                               "maxSurge": "x%"}}),
                 [("Invalid", "spec.strategy.rollingUpdate.maxSurge")], id="percent-syntax"),
    pytest.param("Deployment", lambda s: s.update(strategy={"type": "Recreate",
                                                           "rollingUpdate": {}}),
                 [("Forbidden", "spec.strategy.rollingUpdate")],
                 id="recreate-without-rolling-update"),
    pytest.param("Deployment", lambda s: s.update(strategy={"type": "BlueGreen"}),
                 [("NotSupported", "spec.strategy")], id="strategy-type"),
    pytest.param("Deployment", lambda s: s.update(minReadySeconds=600),
                 [("Invalid", "spec.progressDeadlineSeconds")],
                 id="progress-deadline-above-min-ready"),
    pytest.param("ReplicaSet", lambda s: s.update(replicas=-2), [("Invalid", "spec.replicas")],
                 id="replicaset-replicas"),
    pytest.param("StatefulSet", lambda s: s.update(podManagementPolicy="Random"),
                 [("Invalid", "spec.podManagementPolicy")], id="sts-pod-management-policy"),
    pytest.param("StatefulSet", lambda s: s.update(updateStrategy={"type": "OnDelete",
                                                                  "rollingUpdate": {}}),
                 [("Invalid", "spec.updateStrategy.rollingUpdate")],
                 id="sts-on-delete-without-rolling-update"),
    pytest.param("StatefulSet", lambda s: s.update(updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"partition": -1}}),
        [("Invalid", "spec.updateStrategy.rollingUpdate.partition")],
        id="sts-partition"),
    pytest.param("StatefulSet", lambda s: s.update(persistentVolumeClaimRetentionPolicy={
        "whenDeleted": "Keep"}),
        [("NotSupported", "spec.persistentVolumeClaimRetentionPolicy.whenDeleted")],
        id="sts-retention-policy"),
    pytest.param("StatefulSet", lambda s: tspec(s)["containers"][0].update(
        volumeMounts=[{"name": "nope", "mountPath": "/d"}]),
        [("NotFound", "spec.template.spec.containers[0].volumeMounts[0].name")],
        id="sts-mount-must-name-volume-or-claim"),
    pytest.param("DaemonSet", lambda s: s.update(selector={"matchLabels": {"app": "x"}}),
                 [("Invalid", "spec.template.metadata.labels")], id="ds-selector-matches"),
    pytest.param("DaemonSet", lambda s: s.update(updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}),
        [("Invalid", "spec.updateStrategy.rollingUpdate.maxSurge")],
        id="ds-surge-or-unavailable"),
    pytest.param("DaemonSet", lambda s: s.update(updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}),
        [("Required", "spec.updateStrategy.rollingUpdate.maxUnavailable")],
        id="ds-not-both-zero"),
    pytest.param("Job", lambda s: tspec(s).update(restartPolicy="Always"),
                 [("NotSupported", "spec.template.spec.restartPolicy")],
                 id="job-restart-never-or-on-failure"),
    pytest.param("Job", lambda s: s.update(completions=-1), [("Invalid", "spec.completions")],
                 id="job-completions"),
    pytest.param("Job", lambda s: s.update(parallelism=-1), [("Invalid", "spec.parallelism")],
                 id="job-parallelism"),
    pytest.param("Job", lambda s: s.update(backoffLimit=-1), [("Invalid", "spec.backoffLimit")],
                 id="job-backoff-limit"),
    pytest.param("Job", lambda s: s.update(completionMode="Sometimes"),
                 [("NotSupported", "spec.completionMode")], id="job-completion-mode"),
    pytest.param("Job", lambda s: s.update(completionMode="Indexed", parallelism=2),
                 [("Required", "spec.completions")], id="indexed-job-needs-completions"),
    pytest.param("Job", lambda s: s.update(manualSelector=True,
                                           selector={"matchLabels": {"app": "other"}}),
                 [("Invalid", "spec.template.metadata.labels")], id="job-selector-matches"),
    pytest.param("Job", lambda s: s.update(manualSelector=True),
                 [("Required", "spec.selector")], id="manual-selector-required"),
    pytest.param("CronJob", lambda s: s.update(schedule=""), [("Required", "spec.schedule")],
                 id="cron-schedule-required"),
    pytest.param("CronJob", lambda s: s.update(schedule="* * * *"),
                 [("Invalid", "spec.schedule")], id="cron-schedule-syntax"),
    pytest.param("CronJob", lambda s: s.update(schedule="TZ=UTC * * * * *"),
                 [("Invalid", "spec.schedule")], id="cron-no-tz-in-schedule"),
    pytest.param("CronJob", lambda s: s.update(timeZone="Mars/Olympus"),
                 [("Invalid", "spec.timeZone")], id="cron-time-zone"),
    pytest.param("CronJob", lambda s: s.update(concurrencyPolicy="Sometimes"),
                 [("NotSupported", "spec.concurrencyPolicy")], id="cron-concurrency-policy"),
    pytest.param("CronJob", lambda s: s["jobTemplate"]["spec"].update(
        selector={"matchLabels": {"app": "web"}}),
        [("Invalid", "spec.jobTemplate.spec.selector")], id="cron-job-template-no-selector"),
    pytest.param("CronJob", lambda s: s["jobTemplate"]["spec"]["template"]["spec"].update(
        restartPolicy="Always"),
        [("NotSupported", "spec.jobTemplate.spec.template.spec.restartPolicy")],
        id="cron-job-template-restart-policy"),
    pytest.param("CronJob", lambda s: s.update(successfulJobsHistoryLimit=-1),
                 [("Invalid", "spec.successfulJobsHistoryLimit")], id="cron-history-limit"),
])
def test_bad_workload_reports_upstream_field(kind: str, edit, expected) -> None:
    assert fields(kind, edit) == expected


def test_selector_mismatch_message() -> None:
    r, obj = workload("Deployment", lambda s: s.update(selector={"matchLabels": {"app": "x"}}))
    (err,) = validate_create(r, obj)
    assert str(err) == ('spec.template.metadata.labels: Invalid value: {"app":"web"}: '
                        '`selector` does not match template `labels`')


def test_cron_job_name_at_most_52_characters() -> None:
    r, obj = workload("CronJob")
    obj["metadata"]["name"] = "c" * 53
    assert [str(e) for e in validate_create(r, obj)] == [
        f'metadata.name: Invalid value: "{"c" * 53}": must be no more than 52 characters']


def test_new_job_may_leave_the_selector_to_be_generated() -> None:
    r = REGISTRY.by_kind("batch/v1", "Job")
    obj = workload("Job")[1]
    del obj["spec"]["selector"]
    assert validate_create(r, obj) == []
    job_selector_defaults(obj, UID)
    assert validate_create(r, obj) == []
    assert validate_update(r, copy.deepcopy(obj), obj) == []


def test_job_name_must_fit_the_generated_job_name_label() -> None:
    r = REGISTRY.by_kind("batch/v1", "Job")
    obj = workload("Job")[1]
    del obj["spec"]["selector"]
    obj["metadata"]["name"] = "j" * 64
    assert [str(e) for e in validate_create(r, obj)] == [
        f'spec.template.labels: Invalid value: "{"j" * 64}": must be no more than 63 characters']


def test_job_selector_may_not_be_removed() -> None:
    r, old = workload("Job")
    new = copy.deepcopy(old)
    del new["spec"]["selector"]
    assert [(e.type, e.field) for e in validate_update(r, new, old)] == [
        ("Invalid", "spec.selector")]


def update_errors(kind: str, edit, *, status: bool = False) -> list[tuple[str, str]]:
    r, old = workload(kind)
    new = copy.deepcopy(old)
    edit(new)
    check = validate_status_update if status else validate_update
    return [(e.type, e.field) for e in check(r, new, old)]


@pytest.mark.parametrize("kind, edit, expected", [
    pytest.param("Deployment", lambda d: (d["spec"]["selector"]["matchLabels"].update(v="1"),
                                          d["spec"]["template"]["metadata"]["labels"].update(
                                              v="1")),
                 [("Invalid", "spec.selector")], id="deployment-selector-immutable"),
    pytest.param("ReplicaSet", lambda d: d["spec"].update(selector={"matchLabels": {
        "app": "web", "x": "y"}}), [("Invalid", "spec.template.metadata.labels"),
                                   ("Invalid", "spec.selector")],
        id="replicaset-selector-immutable"),
    pytest.param("DaemonSet", lambda d: d["spec"]["selector"].update(matchExpressions=[
        {"key": "app", "operator": "Exists"}]), [("Invalid", "spec.selector")],
        id="daemonset-selector-immutable"),
    pytest.param("StatefulSet", lambda d: d["spec"].update(serviceName="other"),
                 [("Forbidden", "spec")], id="statefulset-service-name-frozen"),
    pytest.param("StatefulSet", lambda d: d["spec"].update(podManagementPolicy="Parallel"),
                 [("Forbidden", "spec")], id="statefulset-pod-management-frozen"),
    pytest.param("StatefulSet", lambda d: d["spec"].update(replicas=7, minReadySeconds=3),
                 [], id="statefulset-replicas-mutable"),
    pytest.param("Job", lambda j: j["spec"]["template"]["spec"]["containers"][0].update(
        image="busybox"), [("Invalid", "spec.template")], id="job-template-immutable"),
    pytest.param("Job", lambda j: j["spec"].update(completions=3),
                 [("Invalid", "spec.completions")], id="job-completions-immutable"),
    pytest.param("Job", lambda j: j["spec"].update(completionMode="Indexed"),
                 [("Invalid", "spec.completionMode")], id="job-completion-mode-immutable"),
    pytest.param("Job", lambda j: j["spec"].update(parallelism=4, activeDeadlineSeconds=60),
                 [], id="job-parallelism-mutable"),
    pytest.param("CronJob", lambda c: c["spec"].update(schedule="@hourly", suspend=True), [],
                 id="cronjob-schedule-mutable"),
])
def test_workload_update_rules(kind: str, edit, expected) -> None:
    assert update_errors(kind, edit) == expected


def test_statefulset_frozen_message() -> None:
    r, old = workload("StatefulSet")
    new = copy.deepcopy(old)
    new["spec"]["serviceName"] = "x"
    assert [e.detail for e in validate_update(r, new, old)] == [
        "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
        "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
        "'minReadySeconds' are forbidden"]


@pytest.mark.parametrize("kind, status, expected", [
    pytest.param("Deployment", {"replicas": 2, "updatedReplicas": -1},
                 [("Invalid", "status.updatedReplicas")],
                 id="deployment-negative"),
    pytest.param("Deployment", {"replicas": 1, "readyReplicas": 2, "availableReplicas": 1},
                 [("Invalid", "status.readyReplicas")], id="deployment-ready-above-replicas"),
    pytest.param("ReplicaSet", {"replicas": 2, "readyReplicas": 1, "availableReplicas": 2},
                 [("Invalid", "status.availableReplicas")], id="rs-available-above-ready"),
    pytest.param("DaemonSet", {"numberReady": -1}, [("Invalid", "status.numberReady")],
                 id="daemonset-negative"),
    pytest.param("Job", {"active": -1}, [("Invalid", "status.active")], id="job-negative"),
    pytest.param("StatefulSet", {"replicas": 3, "readyReplicas": 3, "currentReplicas": 3,
                                 "updatedReplicas": 3, "availableReplicas": 3}, [],
                 id="statefulset-valid"),
])
def test_status_update_counters(kind: str, status: dict, expected) -> None:
    assert update_errors(kind, lambda o: o.update(status=status), status=True) == expected


@pytest.mark.parametrize("schedule, error", [
    pytest.param("*/15 0-6,22 1 JAN-mar mon-FRI", None, id="names-ranges-steps-lists"),
    pytest.param("0 0 ? * 0", None, id="question-mark"),
    pytest.param("@daily", None, id="descriptor"),
    pytest.param("@every 1h30m", None, id="every"),
    pytest.param("* * * *", "expected exactly 5 fields, found 4: [* * * *]", id="four-fields"),
    pytest.param("60 * * * *", "end of range (60) above maximum (59): 60", id="minute-max"),
    pytest.param("* * 0 * *", "beginning of range (0) below minimum (1): 0", id="dom-min"),
    pytest.param("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1",
                 id="reversed-range"),
    pytest.param("*/0 * * * *", "step of range should be a positive number: */0",
                 id="zero-step"),
    pytest.param("1-2-3 * * * *", "too many hyphens: 1-2-3", id="hyphens"),
    pytest.param("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": '
                 "invalid syntax", id="not-a-number"),
    pytest.param("* * * * 7", "end of range (7) above maximum (6): 7", id="sunday-is-zero"),
    pytest.param("@fortnightly", "unrecognized descriptor: @fortnightly", id="bad-descriptor"),
])
def test_schedule_syntax_matches_robfig_cron(schedule: str, error) -> None:
    assert schedule_error(schedule) == error


def test_controller_revision_needs_data_and_keeps_it() -> None:
    r = REGISTRY.by_kind("apps/v1", "ControllerRevision")
    obj = {"apiVersion": "apps/v1", "kind": "ControllerRevision",
           "metadata": {"name": "web-5d8f", "namespace": "default"}, "revision": 1}
    assert [(e.type, e.field) for e in validate_create(r, obj)] == [("Required", "data")]
    obj["data"] = {"spec": {}}
    new = copy.deepcopy(obj)
    new["data"] = {"spec": {"x": 1}}
    assert [(e.type, e.field) for e in validate_update(r, new, obj)] == [("Invalid", "data")]
