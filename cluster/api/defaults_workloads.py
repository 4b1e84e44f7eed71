"""Defaults of the workload kinds (apps/v1 and batch/v1) and the Job selector generation.

Each kind gets upstream's SetDefaults_<Kind> values and its pod template the PodSpec defaults.
A CronJob's jobTemplate gets only pod-template defaults (upstream defaults no JobSpec fields
there; the Job the controller creates is defaulted when it is posted). StatefulSet
volumeClaimTemplates are shown as full PVCs (apiVersion, kind, volumeMode, phase Pending) as
kube-apiserver prints them.

`job_selector_defaults(job, uid)` is upstream's generateSelector, called by the handler at
create once the uid is known: unless `manualSelector` is true, the template gets the job-name
and controller-uid labels (new `batch.kubernetes.io/` and legacy names) and the selector
matches `batch.kubernetes.io/controller-uid`. A Job without labels (or whose labels were
defaulted from its template's) ends with its template's labels, generated ones included, as
upstream shows it: its defaulting shares the label map and runs again on every storage read.
"""

from __future__ import annotations

from kubemu.cluster.api.defaults_pod import default_pod_template

__all__ = ["default_deployment", "default_replica_set", "default_stateful_set",
           "default_daemon_set", "default_job", "default_cron_job", "job_selector_defaults"]

_UID_LABELS = ("batch.kubernetes.io/controller-uid", "controller-uid")
_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")


def default_deployment(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = spec.get("strategy") or {}
    spec["strategy"] = strategy
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        strategy["rollingUpdate"] = rolling
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = "25%"
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = "25%"
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    default_pod_template(spec.setdefault("template", {}))


def default_replica_set(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    default_pod_template(spec.setdefault("template", {}))


def default_stateful_set(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if not spec.get("podManagementPolicy"):
        spec["podManagementPolicy"] = "OrderedReady"
    strategy = spec.get("updateStrategy") or {}
    spec["updateStrategy"] = strategy
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        strategy.setdefault("rollingUpdate", {})
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and rolling is not None:
        if rolling.get("partition") is None:
            rolling["partition"] = 0
    retention = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    spec["persistentVolumeClaimRetentionPolicy"] = retention
    for f in ("whenDeleted", "whenScaled"):
        if not retention.get(f):
            retention[f] = "Retain"
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    default_pod_template(spec.setdefault("template", {}))
    for claim in spec.get("volumeClaimTemplates") or []:
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        claim_spec = claim.setdefault("spec", {})
        if claim_spec.get("volumeMode") is None:
            claim_spec["volumeMode"] = "Filesystem"
        status = claim.setdefault("status", {})
        if not status.get("phase"):
            status["phase"] = "Pending"


def default_daemon_set(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    strategy = spec.get("updateStrategy") or {}
    spec["updateStrategy"] = strategy
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        strategy["rollingUpdate"] = rolling
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = 1
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = 0
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    default_pod_template(spec.setdefault("template", {}))


def default_job(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    template = spec.setdefault("template", {})
    template_labels = (template.get("metadata") or {}).get("labels")
    meta = obj.setdefault("metadata", {})
    if template_labels and not meta.get("labels"):
        meta["labels"] = dict(template_labels)
    if spec.get("completionMode") is None:
        spec["completionMode"] = "NonIndexed"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    for rule in (spec.get("podFailurePolicy") or {}).get("rules") or []:
        for pattern in rule.get("onPodConditions") or []:
            pattern.setdefault("status", "True")
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = ("Failed" if spec.get("podFailurePolicy") is not None
                                        else "TerminatingOrFailed")
    default_pod_template(template)


def default_cron_job(obj: dict) -> None:
    spec = obj.setdefault("spec", {})
    if not spec.get("concurrencyPolicy"):
        spec["concurrencyPolicy"] = "Allow"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("successfulJobsHistoryLimit") is None:
        spec["successfulJobsHistoryLimit"] = 3
    if spec.get("failedJobsHistoryLimit") is None:
        spec["failedJobsHistoryLimit"] = 1
    job_spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
    default_pod_template(job_spec.setdefault("template", {}))


def job_selector_defaults(job: dict, uid: str) -> None:
    """Generate a Job's selector and pod labels from its uid (no-op with manualSelector)."""
    spec = job.setdefault("spec", {})
    if spec.get("manualSelector") is True:
        return
    meta = job.setdefault("metadata", {})
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    labels = template_meta.get("labels") or {}
    template_meta["labels"] = labels
    job_labels = meta.get("labels")
    shared = bool(labels) and job_labels == labels
    added: dict[str, str] = {}
    for name in _NAME_LABELS:
        if name not in labels:
            added[name] = meta.get("name") or ""
    for name in _UID_LABELS:
        if name not in labels:
            added[name] = uid
    labels.update(added)
    if not job_labels:
        meta["labels"] = dict(labels)  # upstream re-defaults on every read from storage
    elif shared and job_labels is not labels:
        job_labels.update(added)
    selector = spec.get("selector") or {}
    spec["selector"] = selector
    match = selector.get("matchLabels") or {}
    selector["matchLabels"] = match
    match.setdefault(_UID_LABELS[0], uid)
